"""What the Ask tab's tutor shows, as pure functions: a quiz in the chat ("Quiz me on this", a topic
from "what to study now"), study mode's check question before the answer, "Explain" from a card,
the recall line under an answer ("what to study now" is next_view.py). No Gradio here: each step takes the
Study service, the learner, the chat's tutor state and the chat history, and returns a `Turn`.

The tutor state is None (an ordinary chat) or a dict:
    {"kind": "quiz" | "check", "ids": [item ids], "pos": int, "verdict": dict | None,
     "right": int, "done": int, "held": Answer | None (study mode: the answer held back),
     "hints": [hint texts shown for the check question]}
While a question is open (no verdict yet) a typed message is the reply to it; otherwise the chat
answers questions as usual, with the quiz's buttons still there.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from ..core.errors import AssistantError
from ..core.schema import Answer
from ..quiz.checking import Verdict, resolve_choice
from ..quiz.hints import MAX_HINTS, make_hint
from ..quiz.items import BLANK, TYPE_LABELS, QuizItem
from ..quiz.reading import plain
from ..quiz.review_terms import RATINGS, format_interval
from ..quiz.service import Session
from ..quiz.study import Memory, Study, answer_sentences, missed
from . import render
from .next_view import short

QUIZ_SIZE = 3
NOTHING_TO_QUIZ = ("Your notes don't answer that question, so there is nothing to quiz you on. "
                   "Ask about something they cover, or pick a topic to study.")


@dataclass
class Turn:
    state: dict | None
    history: list[dict]
    answer: Answer | None = None  # an answer to show in the sources panel (None: leave it)


def is_open(state: dict | None) -> bool:
    """A question is waiting for the learner's reply."""
    return bool(state) and state["pos"] < len(state["ids"]) and not state.get("verdict")


def current(study: Study, state: dict | None) -> QuizItem | None:
    if not state or state["pos"] >= len(state["ids"]):
        return None
    return study.quiz.item(state["ids"][state["pos"]])


# --- messages -------------------------------------------------------------------------------

def _say(history: list[dict], text: str, role: str = "assistant") -> list[dict]:
    return [*history, {"role": role, "content": text}]


def question_message(item: QuizItem, position: int, total: int, intro: str = "") -> str:
    head = f"**Question {position} of {total}** · {TYPE_LABELS[item.type]} · {html.escape(item.topic)}"
    question = html.escape(item.question).replace(BLANK, r"\_\_\_\_\_")
    lines = [intro, head, "", f"### {question}"] if intro else [head, "", f"### {question}"]
    if item.type == "mcq":
        lines += [""] + [f"{n}. {html.escape(o)}" for n, o in enumerate(item.options or [], start=1)]
        lines += ["", "*Pick an option below, or type its number.*"]
    elif item.type == "flashcard":
        lines += ["", "*Type what you remember, or press “Show answer”.*"]
    else:
        lines += ["", "*Type your answer in the box.*"]
    return "\n".join(lines)


def verdict_line(verdict: Verdict) -> str:
    if verdict.correct is True:
        return "✓ **Correct.**"
    if verdict.correct is False:
        given = f" You answered “{html.escape(verdict.given)}”." if verdict.given else ""
        return f"✗ **Not quite.**{given}"
    return "**The answer:**"


def feedback_message(item: QuizItem, verdict: Verdict) -> str:
    lines = [verdict_line(verdict), "", f"**{html.escape(item.answer)}**"]
    note = verdict.feedback if verdict.correct is False else ""
    if note:
        lines += ["", f"*{html.escape(note)}*"]
    quotes = answer_sentences(item, context=0)
    if quotes:
        terms = [html.escape(t, quote=False) for t in missed(item, verdict) or [item.answer]]
        lines += [""] + [f"> {mark_terms(html.escape(plain(q.strip().lstrip('-+ ')), quote=False), terms)}"
                         for q in quotes[:3]]  # the note's words without its markup
    lines += ["", f"<small>{html.escape(item.source)} · rate how well you knew it below; "
                  "“Explain” answers it from this passage.</small>"]
    return "\n".join(lines)


def mark_terms(text: str, terms: list[str]) -> str:
    """Wrap each occurrence of the terms (case-insensitive, whole words) in <mark>."""
    terms = sorted({t for t in terms if t and t.strip()}, key=len, reverse=True)
    if not terms:
        return text
    pattern = "|".join(re.escape(t) for t in terms)
    return re.sub(rf"(?<![\w>])({pattern})(?![\w<])", r"<mark>\1</mark>", text, flags=re.I)


def memory_line(memories: dict[str, Memory], answer: Answer) -> str:
    """'[1] reviewed 12 days ago · recall ~70%' for each cited passage the learner has items on."""
    parts = [f"[{c.n}] {memories[c.chunk.id].label()}" for c in answer.citations
             if c.chunk.id in memories]
    return f"<small>Your memory: {' · '.join(parts)}</small>" if parts else ""


def with_memory(text: str, memories: dict[str, Memory], answer: Answer) -> str:
    line = memory_line(memories, answer)
    return f"{text}\n\n{line}" if line else text


def answer_message(answer: Answer, memories: dict[str, Memory] | None = None,
                   gap: list[str] | None = None) -> str:
    """An answer as the chat shows it: the answer (what a reply missed marked), the check of a
    generated answer and its quoted twin one click away, and what the learner remembers of it."""
    text = render.chat_markdown(answer)
    if gap:
        text = mark_terms(text, [html.escape(g, quote=False) for g in gap])
    if answer.done:
        text += render.quoted_details(answer)
    return with_memory(text, memories or {}, answer)


def memories_of(study: Study, learner: str, answer: Answer | None) -> dict[str, Memory]:
    """What this learner remembers of the answer's passages ({} when none, or unreadable: the
    answer matters more than the line about it)."""
    if answer is None or not answer.citations:
        return {}
    try:
        return study.memory(learner, [c.chunk for c in answer.citations])
    except AssistantError:
        return {}


# --- the steps ------------------------------------------------------------------------------

def _open(study: Study, session, kind: str, history: list[dict], intro: str,
          held: Answer | None = None) -> Turn:
    if not session.items:
        return Turn(None, _say(history, "No questions could be made from these passages."))
    state = {"kind": kind, "ids": [i.id for i in session.items], "pos": 0, "verdict": None,
             "right": 0, "done": 0, "held": held, "hints": []}
    item = session.items[0]
    total = len(session.items)
    text = question_message(item, 1, total, intro) if kind == "quiz" else check_message(item, intro)
    if session.notice:
        text = f"*{session.notice}*\n\n{text}"
    return Turn(state, _say(history, text))


def quiz_me(study: Study, learner: str, answer: Answer | None, history: list[dict]) -> Turn:
    """'Quiz me on this': QUIZ_SIZE items from exactly the passages the answer cited."""
    if answer is None:
        return Turn(None, history)
    if answer.refused or not answer.citations:
        return Turn(None, _say(history, NOTHING_TO_QUIZ))
    session = study.session_for([c.chunk for c in answer.citations], learner, QUIZ_SIZE,
                                focus=answer.text)
    history = _say(history, "Quiz me on this.", "user")
    return _open(study, session, "quiz", history, "")


def quiz_topic(study: Study, learner: str, topic: str, history: list[dict]) -> Turn:
    """A quiz on one topic of "what to study now", in the chat."""
    session = study.topic_session(learner, topic, n=5)
    history = _say(history, f"Quiz me on {short(topic, 80)}.", "user")
    return _open(study, session, "quiz", history, "")


def check_message(item: QuizItem, intro: str = "") -> str:
    body = question_message(item, 1, 1).split("\n", 1)[1].lstrip()  # without the "1 of 1" line
    return (intro or "Before I tell you, a quick check from your notes:") + "\n\n" + body + (
        "\n\n*Stuck? Press “Hint” (up to two), or “Just tell me”.*")


def study_first(study: Study, learner: str, answer: Answer, history: list[dict]) -> Turn:
    """Study mode: hold the answer back and ask one check question from its passages first.
    `history` already ends with the learner's question."""
    if answer.refused or not answer.citations:
        return Turn(None, _say(history, answer_message(answer)), answer)
    item = study.check_question([c.chunk for c in answer.citations], learner, focus=answer.text)
    if item is None:
        return Turn(None, _say(history, answer_message(answer, memories_of(study, learner, answer))),
                    answer)
    return _open(study, Session([item]), "check", history, "", held=answer)


def reply(study: Study, learner: str, state: dict, text: str, history: list[dict]) -> Turn:
    """The learner's reply to the open question: checked; a quiz item waits for a rating, study
    mode's check question goes straight into the schedule and the held answer is shown with
    what the reply missed marked."""
    item = current(study, state)
    if item is None:
        return Turn(None, history)
    history = _say(history, text or "(show me)", "user")
    if item.type == "mcq" and text and resolve_choice(text, item.options or []) is None:
        return Turn(state, _say(history, "*Pick one of the options below, or type its number.*"))
    if state["kind"] == "check":
        verdict, _ = study.answer_check(learner, item, text, hints=sum(map(bool, state.get("hints", []))))
        return release(state, history, verdict, item, memories_of(study, learner, state["held"]))
    verdict = study.quiz.check(item, text)
    state = {**state, "verdict": verdict.__dict__.copy()}
    return Turn(state, _say(history, feedback_message(item, verdict)))


def hint(study: Study, state: dict | None, history: list[dict]) -> Turn:
    """The next hint for the open check question (at most MAX_HINTS; not a review)."""
    item = current(study, state)
    shown = list((state or {}).get("hints", []))
    if item is None or not is_open(state) or state["kind"] != "check" or len(shown) >= MAX_HINTS:
        return Turn(state, history)
    found = make_hint(item, len(shown) + 1, study.quiz.llm(), shown)
    history = _say(history, "Hint, please.", "user")
    if found is None:  # nothing more to give without telling: the button goes
        return Turn({**state, "hints": shown + [""] * (MAX_HINTS - len(shown))},  # "": none left
                    _say(history, "*No more hints without giving it away: try, or “Just tell me”.*"))
    checked = " · checked against your notes" if found.origin == "llm" else ""
    text = f"**Hint {len(shown) + 1} of {MAX_HINTS}**{checked}: {html.escape(found.text)}"
    return Turn({**state, "hints": [*shown, found.text]}, _say(history, text))


def release(state: dict, history: list[dict], verdict: Verdict | None = None,
            item: QuizItem | None = None, memories: dict[str, Memory] | None = None) -> Turn:
    """The held answer, after the check (its gap marked) or at once ("Just tell me")."""
    answer: Answer = state["held"]
    if verdict is None:
        return Turn(None, _say(history, answer_message(answer, memories)), answer)
    gap = missed(item, verdict)
    if verdict.correct and any(state.get("hints", [])):  # answer_check rated it Hard
        head = "✓ **Right, with a hint:** it comes back a little sooner. Here is the full answer:"
    elif verdict.correct:
        head = "✓ **Right.** Here is the full answer:"
    else:
        head = (f"{verdict_line(verdict)} The answer is **{html.escape(item.answer)}**; "
                "what you missed is marked below. This question is now in your reviews.")
    return Turn(None, _say(history, f"{head}\n\n{answer_message(answer, memories, gap)}"), answer)


def rate(study: Study, learner: str, state: dict, rating: int, history: list[dict]) -> Turn:
    """Record the rating like any review; the next question, or the score at the end."""
    item = current(study, state)
    if item is None or not state.get("verdict"):
        return Turn(state, history)
    verdict = Verdict(**state["verdict"])
    if (verdict.correct is True and rating == 1) or (verdict.correct is False and rating >= 3):
        verdict = verdict.overrule()  # rated against the grade: the learner overruled it
    review = study.quiz.record(learner, item, rating, verdict)
    state = {**state, "pos": state["pos"] + 1, "verdict": None, "done": state["done"] + 1,
             "right": state["right"] + (rating > 1)}
    saved = f"*{RATINGS[rating]} · back in {format_interval(review.interval)}.*"
    nxt = current(study, state)
    if nxt is None:
        done = (f"{saved}\n\n**Done: {state['right']} of {state['done']} remembered.** "
                "They are in your reviews now.")
        return Turn(None, _say(history, done))
    return Turn(state, _say(history, f"{saved}\n\n" + question_message(
        nxt, state["pos"] + 1, len(state["ids"]))))


def explain(study: Study, state: dict | None, history: list[dict], learner: str = "") -> Turn:
    """'Explain': the card's question answered from its passage, as an ordinary answer."""
    item = current(study, state)
    if item is None:
        return Turn(state, history)
    return Turn(state, *explain_item(study, item, history, learner))


def explain_item(study: Study, item: QuizItem, history: list[dict],
                 learner: str = "") -> tuple[list[dict], Answer]:
    """The chat with the card's question asked and answered from the card's passage (the Quiz
    tab's "Explain" opens Ask with it; follow-ups read it as the conversation so far)."""
    answer = study.explain(item)
    history = _say(history, f"Explain: {answer.question}", "user")
    memories = memories_of(study, learner, answer) if learner else {}
    return _say(history, answer_message(answer, memories)), answer


def stop(state: dict | None, history: list[dict]) -> Turn:
    if not state:
        return Turn(None, history)
    if state["kind"] == "check":
        return release(state, history)
    done = state["done"]
    return Turn(None, _say(history, f"*Quiz stopped after {done} of {len(state['ids'])}.*"))


def buttons(state: dict | None, study: Study | None = None) -> dict:
    """Which tutor buttons show: {"options": [...], "show_answer": bool, "ratings": bool,
    "explain": bool, "just_tell": bool, "hint": bool, "stop": bool, "suggested": int | None}."""
    out = {"options": [], "show_answer": False, "ratings": False, "explain": False,
           "just_tell": False, "hint": False, "stop": False, "suggested": None}
    if not state:
        return out
    item = current(study, state) if study is not None else None
    if state["kind"] == "check":
        out["just_tell"] = True
        out["hint"] = is_open(state) and len(state.get("hints", [])) < MAX_HINTS
    else:
        out["stop"] = True
    if is_open(state):
        if item is not None and item.type == "mcq":
            out["options"] = list(item.options or [])
        out["show_answer"] = item is not None and item.type == "flashcard"
    elif state.get("verdict"):
        out["ratings"] = out["explain"] = True
        out["suggested"] = Verdict(**state["verdict"]).suggested_rating or 3
    return out
