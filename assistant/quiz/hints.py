"""Hints for study mode's check question: at most two, and never the answer.

    hint = make_hint(item, 1, llm=quiz.llm(), previous=[])   # Hint(text, "llm" | "passage")
    reveals(text, item)                                      # would this text give the answer away?

With an LLM the model is asked for a hint from the item's passage; its reply is kept only when
every sentence is supported by the passage (the same check as a generated answer's sentences,
core/support.py) and none states the item's answer (normalised as the quiz checker compares
answers). Otherwise, and offline, the hint is made from the passage itself: first the answer's
shape (its first letter and length, a number's digits, a list's size and initials, or a long
answer's opening words), then the sentences around it with the answer blanked out (or a long
answer with its longer words cut to their first letter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.errors import LLMError
from ..core.support import Passage
from ..core.support import support as sentence_support
from ..core.text import sentence_spans, sentences
from .checking import normalize, numbers_in
from .items import BLANK, QuizItem
from .reading import plain, words
from .study_text import answer_sentences

MAX_HINTS = 2
HINT_TOKENS = 60  # one or two short sentences; a small model rambles past that
SHORT_ANSWER = 4  # words: up to this, a hint gives the answer's shape, beyond it its opening

_SYSTEM = ("You are a tutor. The learner is trying to answer a question from their notes. Give one "
           "short hint, using only the passage, that helps them recall the answer. Never state the "
           "answer itself.")


@dataclass(frozen=True)
class Hint:
    text: str
    origin: str  # "llm" (checked against the passage) or "passage" (made from it, offline)


def make_hint(item: QuizItem, n: int, llm=None, previous: list[str] | tuple = ()) -> Hint | None:
    """Hint number `n` (1 or 2) for the item, or None when there is none to give (past
    MAX_HINTS, or nothing in the passage can hint without telling)."""
    if not 1 <= n <= MAX_HINTS:
        return None
    if llm is not None:
        try:
            text = llm_hint(llm, item, previous)
        except LLMError:  # the model is down or slow: the passage still gives a hint
            text = None
        if text:
            return Hint(text, "llm")
    for k in range(n, MAX_HINTS + 1):  # the next passage hint not given yet
        text = passage_hint(item, k)
        if text and text not in previous:
            return Hint(text, "passage")
    return None


def prompt(item: QuizItem, previous: list[str] | tuple = ()) -> list[dict]:
    """The passage and the question, delimited in the user turn (the passage is data: text in it
    reads as notes, not as instructions), then the one instruction, last."""
    before = "".join(f"\nA hint already given (say something new): {p}" for p in previous)
    user = (f"<passage>\n{plain(item.passage)}\n</passage>\n\n"
            f"<question>\n{item.question}\n"  # a blank's question keeps its blank
            f"</question>\n{before}\n"
            "Give a hint that does not state the answer, in one short sentence.")
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


def llm_hint(llm, item: QuizItem, previous: list[str] | tuple = ()) -> str | None:
    """The model's hint if it passes `check_hint`, else None. Raises LLMError on a failed call."""
    reply = llm.complete(prompt(item, previous), max_tokens=HINT_TOKENS, temperature=0.2)
    text = _clean(reply)
    return text if text and text not in previous and check_hint(text, item) else None


def check_hint(text: str, item: QuizItem) -> bool:
    """Every sentence a claim the item's passage supports, and none giving the answer. Seen on
    SmolLM2: "The answer is that the answer is ..." loops pass the support check (no claim of
    their own, nothing to check), and "The answer is ..." goes on with an attempt at the answer,
    not a hint; both are refused."""
    said_words = normalize(text).split()
    looping = len(set(said_words)) < 0.6 * len(said_words)
    if reveals(text, item) or looping or " answer is " in f" {' '.join(said_words)} ":
        return False
    passage = Passage(item.passage, item.heading)
    said = sentences(plain(text)) or [text]
    checks = [sentence_support(s, passage, question=item.question) for s in said]
    return all(c.ok and c.claim for c in checks)


def reveals(text: str, item: QuizItem) -> bool:
    """Whether `text` states the answer: its normalised words appear in the text's (each part of
    a list answer counts; a number answer counts when the text holds the same number)."""
    said = f" {normalize(text)} "
    parts = item.answer.split("; ") if item.kind == "list" else [item.answer]
    for part in parts:
        norm = normalize(part)
        if norm and f" {norm} " in said:
            return True
        nums = numbers_in(part)
        if nums and len(words(part)) <= SHORT_ANSWER and nums <= numbers_in(text):
            return True
    return False


def passage_hint(item: QuizItem, n: int) -> str | None:
    """Offline hint `n` made from the passage; None when it would give the answer away."""
    answer = plain(item.answer).strip()
    short = len(words(answer)) <= SHORT_ANSWER and item.kind != "list"
    if n == 1 and item.kind == "list":  # how many, and where each starts
        parts = [p for p in answer.split("; ") if words(p)]
        text = (f"Your notes name {len(parts)}, beginning with "
                + ", ".join(f"“{words(p)[0][0].upper()}”" for p in parts) + ".")
    elif n == 1:
        text = _shape(answer) if short else _opening(answer)
    else:
        text = _context(item) if short else _masked(answer)
    return text if text and not reveals(text, item) else None


def _shape(answer: str) -> str:
    if numbers_in(answer):
        what = ("an amount of money" if any(c in answer for c in "$€£") else
                "a percentage" if "%" in answer else "a number")
        digits = len(re.sub(r"\D", "", re.split(r"[.]\d", answer)[0]))
        return f"The answer is {what}: a number with {digits} digits."
    first = next((c for c in answer if c.isalnum()), "")
    count = len(words(answer))
    size = f"{count} words" if count > 1 else f"one word of {len(answer)} letters"
    return f"The answer is {size}, beginning with “{first.upper()}”."


def _opening(answer: str) -> str:
    """A long answer's first few words: where to start remembering."""
    head = words(answer)[:3]
    return f"Your notes begin the answer with “{' '.join(head)} …”." if len(head) == 3 else ""


def _context(item: QuizItem) -> str:
    """The sentences around the answer's, the answer blanked: more than the question shows (a
    blank's question is its own sentence already)."""
    quotes = answer_sentences(item, context=0)
    if not quotes:
        return ""
    spans = [plain(item.passage[a:b]).strip().lstrip("-*+ ") for a, b in sentence_spans(item.passage)]
    spans = [s for s in spans if s and not s.startswith("#")]
    held = plain(quotes[0].strip().lstrip("-*+ "))
    at = next((k for k, s in enumerate(spans) if held in s or s in held), None)
    around = spans[max(0, at - 1): at + 2] if at is not None else [held]
    text = " ".join(around)
    blanked = re.sub(re.escape(plain(item.answer).strip()), BLANK, text, flags=re.I)
    if blanked == text:  # the answer is not there verbatim: no safe sentence to show
        return ""
    return f"Your notes say: “{blanked}”"


def _masked(answer: str) -> str:
    """A long answer's short words kept, the others cut to their first letter."""
    out = [w if len(w) <= 3 else w[0] + "_" * (len(w) - 1) for w in words(answer)[:24]]
    return "The answer, with letters hidden: " + " ".join(out) + (" …" if len(words(answer)) > 24 else "")


def _clean(reply: str) -> str:
    """The reply's text without a 'Hint:' label, quotes or markup; at most two sentences."""
    text = re.sub(r"^\s*(\*\*)?hint\s*\d*\s*:?\s*(\*\*)?", "", reply.strip(), flags=re.I)
    text = " ".join(sentences(plain(text))[:2]) or plain(text)
    return text.strip().strip('"“”').strip()
