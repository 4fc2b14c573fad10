"""What the Quiz tab shows, as pure functions: the card, the feedback with its source, the rating
labels, the progress charts' data, and the session steps (`start`, `answer`, `overrule`, `rate`)
that take the quiz, the learner and the session state and return a `View`. No Gradio here, so
tests drive a whole session without a server."""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field

import pandas as pd

from ..core.errors import AssistantError
from ..core.text import sentences
from ..quiz.checking import Verdict
from ..quiz.generate import plain
from ..quiz.items import BLANK, TYPE_LABELS, QuizItem
from ..quiz.review_terms import DEFAULT_LEARNER, LEARN_AHEAD, RATINGS
from ..quiz.service import Quiz, where

MODES = ("Due and new", "Due reviews only")
GREEN, RED = "var(--tutor-ok)", "var(--tutor-bad)"  # theme-aware pairs, defined in render.CSS


@dataclass
class View:
    """What the Practice pane shows."""

    status: str = ""
    card: str = ""
    mode: str = "idle"  # idle | asking | answered | done
    item_type: str = ""
    options: list[str] = field(default_factory=list)
    check_label: str = "Check"
    feedback: str = ""
    ratings: list[str] = field(default_factory=list)  # "Good · 2 d" per rating 1-4
    suggested: int | None = None
    overrule_label: str = ""
    chunk_id: str = ""


def learner_of(request) -> str:
    return (getattr(request, "username", None) or DEFAULT_LEARNER) if request else DEFAULT_LEARNER


# --- pure rendering -------------------------------------------------------------------------

def status_line(position: int, planned: int, counts: dict, notice: str = "") -> str:
    parts = []
    if planned:
        parts.append(f"{position} of {planned}" if position <= planned else "once more")
    parts.append(f"{counts.get('due_today', 0)} due today")
    if counts.get("new_today"):
        parts.append(f"{counts['new_today']} new left today")
    line = " · ".join(parts)
    return f"{line}\n\n{notice}" if notice else line


def render_card(item: QuizItem) -> str:
    question = html.escape(item.question).replace(
        html.escape(BLANK), '<span class="blank" aria-label="blank">&nbsp;</span>')
    kind = f"{TYPE_LABELS[item.type]} · {html.escape(item.source)}"
    return f'<div class="card"><div class="kind">{kind}</div><div class="question">{question}</div></div>'


def render_message(text: str) -> str:
    return f'<div class="card"><div class="empty">{html.escape(text)}</div></div>'


def render_passage(item: QuizItem) -> str:
    """The source passage as short paragraphs; the sentence holding the answer is marked."""
    needles = [plain(n).lower() for n in (item.answer.split("; ") if item.kind == "list" else [item.answer])]
    needles = [n for n in needles if n and len(n) < 120]
    paras = []
    for raw in item.passage.splitlines():
        text = plain(raw.strip().lstrip("-*+ ").strip())
        if not text:
            continue
        parts = sentences(text)
        body = " ".join(
            f"<mark>{html.escape(p)}</mark>" if any(n in p.lower() for n in needles) else html.escape(p)
            for p in parts)
        paras.append(f"<p>{body}</p>")
    return "<blockquote>" + "".join(paras) + "</blockquote>"


def render_feedback(item: QuizItem, verdict: Verdict) -> str:
    if verdict.correct is None:
        head = '<div class="verdict">Answer</div>'
    else:
        word, colour = ("Correct", GREEN) if verdict.correct else ("Incorrect", RED)
        head = f'<div class="verdict" style="color:{colour}">{word}</div>'
    parts = [head, f'<div class="expected"><b>{html.escape(item.answer)}</b></div>']
    if verdict.given and verdict.correct is False:
        parts.append(f'<div class="note">You answered: {html.escape(verdict.given)}</div>')
    for note in (verdict.feedback, item.explanation if item.type != "cloze" else "", verdict.notice):
        if note:
            parts.append(f'<div class="note">{html.escape(note)}</div>')
    parts.append(f'<div class="where">{html.escape(where(item))}</div>')
    parts.append(render_passage(item))
    return '<div class="feedback">' + "".join(parts) + "</div>"


def rating_labels(previews: dict[int, str]) -> list[str]:
    return [f"{RATINGS[r]} · {previews[r]}" for r in sorted(RATINGS)]


def short_topic(topic: str) -> str:
    note, _, section = topic.partition(" › ")
    label = section or note
    return label if len(label) <= 34 else label[:32].rstrip() + "…"


# --- the session as pure functions ----------------------------------------------------------

def _ask(quiz: Quiz, learner: str, state: dict) -> View:
    if state["pos"] >= len(state["ids"]):
        return _finished(quiz, learner, state)
    item = quiz.item(state["ids"][state["pos"]])
    state.update(verdict=None, shown_at=time.time())
    counts = quiz.store.counts(learner, topics=state["topics"])
    return View(
        status=status_line(state["pos"] + 1, state["planned"], counts, state.get("notice", "")),
        card=render_card(item), mode="asking", item_type=item.type,
        options=list(item.options or []),
        check_label="Show answer" if item.type == "flashcard" else "Check",
        chunk_id=item.chunk_id,
    )


def _finished(quiz: Quiz, learner: str, state: dict) -> View:
    counts = quiz.store.counts(learner, topics=state["topics"])
    if not state["ids"]:
        text = ("Nothing to practise right now: no reviews are due"
                + ("" if state["due_only"] else " and today's new questions are done")
                + f". {counts['due_today']} come due later today.")
    else:
        text = (f"Done: {state['right']} of {state['done']} remembered. "
                f"{counts['due_today']} due later today.")
    return View(status=status_line(0, 0, counts, state.get("notice", "")),
                card=render_message(text), mode="done")


def start(quiz: Quiz, learner: str, topics: list[str] | None, mode: str, n: int) -> tuple[dict, View]:
    due_only = mode == MODES[1]
    try:
        session = quiz.session(learner, int(n), topics, due_only=due_only)
    except AssistantError as exc:
        return None, View(status=str(exc), card=render_message(str(exc)), mode="idle")
    return _begin(quiz, learner, session, topics or [], due_only)


def start_topic(quiz: Quiz, learner: str, topic: str, n: int = 10) -> tuple[dict, View]:
    """A session on one topic of "what to study now": its due reviews, then its new questions."""
    from ..quiz.study import Study

    try:
        session = Study(quiz).topic_session(learner, topic, int(n))
    except AssistantError as exc:
        return None, View(status=str(exc), card=render_message(str(exc)), mode="idle")
    return _begin(quiz, learner, session, [topic], False)


def _begin(quiz: Quiz, learner: str, session, topics: list[str], due_only: bool) -> tuple[dict, View]:
    state = {"ids": [i.id for i in session.items], "planned": len(session.items), "pos": 0,
             "topics": topics, "due_only": due_only, "notice": session.notice,
             "requeued": [], "right": 0, "done": 0, "verdict": None, "shown_at": time.time()}
    return state, _ask(quiz, learner, state)


def answer(quiz: Quiz, learner: str, state: dict | None, text: str | None,
           choice: str | None) -> tuple[dict | None, View]:
    if not state or state["pos"] >= len(state["ids"]) or state.get("verdict"):
        return state, _current(quiz, learner, state)
    item = quiz.item(state["ids"][state["pos"]])
    given = choice if item.type == "mcq" else text
    if item.type == "mcq" and not given:
        view = _ask(quiz, learner, state)
        view.status += "\n\nPick one of the options first."
        return state, view
    verdict = quiz.check(item, given or "")
    state["verdict"] = verdict.__dict__.copy()
    return state, _answered(quiz, learner, state, item, verdict)


def _answered(quiz: Quiz, learner: str, state: dict, item: QuizItem, verdict: Verdict) -> View:
    counts = quiz.store.counts(learner, topics=state["topics"])
    overrule = ""
    if verdict.correct is not None:
        overrule = "Count it as wrong" if verdict.correct else "I was right"
    return View(
        status=status_line(state["pos"] + 1, state["planned"], counts, state.get("notice", "")),
        card=render_card(item), mode="answered", item_type=item.type,
        options=list(item.options or []), feedback=render_feedback(item, verdict),
        ratings=rating_labels(quiz.preview(learner, item)),
        suggested=verdict.suggested_rating or 3, overrule_label=overrule, chunk_id=item.chunk_id,
    )


def overrule(quiz: Quiz, learner: str, state: dict | None) -> tuple[dict | None, View]:
    if not state or not state.get("verdict"):
        return state, _current(quiz, learner, state)
    verdict = Verdict(**state["verdict"]).overrule()
    state["verdict"] = verdict.__dict__.copy()
    item = quiz.item(state["ids"][state["pos"]])
    return state, _answered(quiz, learner, state, item, verdict)


def rate(quiz: Quiz, learner: str, state: dict | None, rating: int) -> tuple[dict | None, View]:
    if not state or not state.get("verdict"):
        return state, _current(quiz, learner, state)
    item = quiz.item(state["ids"][state["pos"]])
    verdict = Verdict(**state["verdict"])
    duration = int((time.time() - state.get("shown_at", time.time())) * 1000)
    review = quiz.record(learner, item, rating, verdict, duration_ms=duration)
    state["done"] += 1
    state["right"] += int(rating) > 1
    others_left = len(state["ids"]) - state["pos"] - 1
    if review.interval < LEARN_AHEAD and item.id not in state["requeued"] and others_left >= 2:
        state["requeued"].append(item.id)
        state["ids"].append(item.id)  # still learning: once more before the session ends
    state["pos"] += 1
    return state, _ask(quiz, learner, state)


def _current(quiz: Quiz, learner: str, state: dict | None) -> View:
    if not state:
        return idle_view(quiz, learner)
    if state["pos"] >= len(state["ids"]):
        return _finished(quiz, learner, state)
    if state.get("verdict"):
        item = quiz.item(state["ids"][state["pos"]])
        return _answered(quiz, learner, state, item, Verdict(**state["verdict"]))
    return _ask(quiz, learner, state)


def idle_view(quiz: Quiz, learner: str) -> View:
    try:
        quiz.prepare()
        counts = quiz.store.counts(learner)
    except AssistantError as exc:
        return View(status=str(exc), card=render_message(str(exc)))
    text = (f"{counts['due_today']} reviews due today and {counts['new_today']} new questions "
            "ready. Pick topics, or leave them empty for all notes, and press Start.")
    return View(status=status_line(0, 0, counts), card=render_message(text))


MAX_BARS = 15


def mastery_rows(rows: list[dict]) -> list[dict]:
    """At most MAX_BARS topics: sections, else whole notes, else top folders (item-weighted)."""
    for level in ("section", "note", "folder"):
        if len(rows) <= MAX_BARS:
            break
        grouped: dict[str, dict] = {}
        for r in rows:
            note = r["topic"].split(" › ")[0]
            key = note if level == "section" else note.split("/")[0] + "/"
            g = grouped.setdefault(key, {"topic": key, "mastery": 0.0, "items": 0, "seen": 0})
            g["mastery"] += r["mastery"] * r["items"]
            g["items"] += r["items"]
            g["seen"] += r["seen"]
        rows = [{**g, "mastery": g["mastery"] / max(1, g["items"])} for g in grouped.values()]
    return rows


def progress(quiz: Quiz, learner: str) -> tuple[str, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Summary line, mastery per topic (%), reviews per day, cards due per day ahead. Topics are
    numbered in reading order ("1. Self-Supervision…"), so the chart lists them as the notes do."""
    try:
        quiz.prepare()
    except AssistantError as exc:
        empty = pd.DataFrame({"topic": [], "mastery": []})
        return str(exc), empty, pd.DataFrame({"day": [], "reviews": []}), pd.DataFrame({"day": [], "due": []})
    counts = quiz.store.counts(learner)
    all_rows = quiz.store.mastery(learner)
    rows = mastery_rows(all_rows)
    shown = rows[:MAX_BARS]
    labels = [short_topic(r["topic"]) for r in shown]
    if len(set(labels)) < len(labels):  # two notes with the same section name
        labels = [f"{short_topic(r['topic'].split(' › ')[0])} › {short_topic(r['topic'])}" for r in shown]
    width = len(str(len(labels)))
    labels = [f"{n:>{width}}. {label}" for n, label in enumerate(labels, start=1)]
    mastery = pd.DataFrame({"topic": labels, "mastery": [round(r["mastery"] * 100) for r in shown]})
    reviews = pd.DataFrame(quiz.store.reviews_per_day(learner))
    forecast = pd.DataFrame(quiz.store.forecast(learner))
    for frame in (reviews, forecast):
        frame["day"] = [pd.Timestamp(d).strftime("%a %d") for d in frame["day"]]
    if not forecast.empty:
        forecast.loc[0, "day"] = "today"
    seen = sum(r["seen"] for r in all_rows)
    total = sum(r["items"] for r in all_rows)
    summary = (f"**{counts['due_today']}** due today · **{counts['new_today']}** new today · "
               f"**{counts['reviewed_today']}** reviewed today · {seen} of {total} questions seen")
    if len(rows) > len(shown):
        summary += f" · mastery shows the first {len(shown)} of {len(rows)} topics"
    return summary, mastery, reviews, forecast
