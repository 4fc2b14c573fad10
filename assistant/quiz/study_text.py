"""The words of study: what an item's passage says about it and what a reply missed.

    answer_sentences(item)    # the passage's sentences holding the item's answer (to quote, to mark)
    explain_question(item)    # the card's question as one to ask ("Explain")
    missed(item, verdict)     # what a reply left out, to mark in the answer
    recall_items(chunk)       # the offline card of last resort for a passage without questions
"""

from __future__ import annotations

from ..core.schema import Chunk
from ..core.text import sentence_spans, stem
from .checking import Verdict, normalize
from .items import BLANK, QuizItem, heading_parts, item_id
from .reading import first_prose, first_sentences, plain, words


def missed(item: QuizItem, verdict: Verdict) -> list[str]:
    """What a reply missed, to mark in the answer: the answer itself for a choice or a blank, the
    key words of the reference the reply did not use for a typed answer; [] when it was right."""
    if verdict.correct:
        return []
    if item.type in ("mcq", "cloze"):
        return [item.answer]
    used = {stem(w) for w in words(normalize(verdict.given))}
    keys: list[str] = []
    for w in words(plain(item.answer)):
        if len(w) > 3 and stem(w.lower()) not in used and w.lower() not in {k.lower() for k in keys}:
            keys.append(w)
    return [k for k in keys if normalize(k) not in _COMMON][:6]


_COMMON = {"that", "this", "with", "from", "they", "their", "there", "which", "what", "when",
           "have", "been", "were", "into", "than", "then", "also", "more", "most", "some", "such",
           "your", "about", "only", "other", "these", "those", "will", "would", "could", "should"}


def recall_items(chunk: Chunk) -> list[QuizItem]:
    """The offline question of last resort for a passage nothing else was asked about: what do
    the notes say here? A flashcard answered by the passage's first sentences."""
    answer = first_sentences(plain(_prose(chunk.text)), 280)
    if len(words(answer)) < 4:
        return []
    parts = heading_parts(chunk.heading)
    about = parts[-1] if parts else chunk.source
    opening = " ".join(words(plain(chunk.text))[:6])
    question = f"What do your notes say about “{about}”, in the passage beginning “{opening} …”?"
    return [QuizItem(
        id=item_id(chunk.source, chunk.content_hash, "flashcard", question, answer),
        type="flashcard", question=question, answer=answer, chunk_id=chunk.id,
        source=chunk.source, heading=chunk.heading, passage=chunk.text,
        content_hash=chunk.content_hash, kind="phrase", origin="offline",
        position=chunk.start * 100 + 99)]


def _prose(text: str) -> str:
    """A passage's text lines without code, headings, table rows or list markers: what a learner would
    say back (a table row read aloud is no answer; measured in benchmarks/study.py)."""
    lines = []
    for line in first_prose(text).splitlines():
        line = line.strip()
        if line and not line.startswith(("|", "#")) and not set(line) <= set("|-: "):
            lines.append(line.lstrip("-*+ ").strip())
    return "\n".join(lines)


def explain_question(item: QuizItem) -> str:
    """The card's question as one to ask: a blank is filled with its answer."""
    if item.type == "cloze":
        return item.question.replace(BLANK, item.answer)
    return item.question


def answer_sentences(item: QuizItem, context: int = 1) -> list[str]:
    """The passage's sentences (verbatim, so they can be marked in it) that hold the item's
    answer, each followed by `context` more; [] when none does."""
    passage = item.passage
    spans = [passage[s:e] for s, e in sentence_spans(passage)]
    spans = [s for s in spans if not s.lstrip().startswith("#")]
    answers = item.answer.split("; ") if item.kind == "list" else [item.answer]
    needles = [f" {normalize(a)} " for a in answers if normalize(a)]
    answer_words = set(normalize(item.answer).split())
    question_words = set(normalize(explain_question(item)).split())
    held: list[int] = []
    for n, sentence in enumerate(spans):
        norm = f" {normalize(sentence)} "
        words_in = set(norm.split())
        if any(needle in norm for needle in needles) or (
                item.type in ("flashcard", "short") and len(words_in) > 3
                and len(words_in & answer_words) >= 0.6 * len(words_in)):
            held.append(n)
    if held and item.type in ("cloze", "mcq") and item.kind != "list":
        # one fact: the sentence the question was made from (most words in common)
        held = [max(held, key=lambda n: len(question_words & set(normalize(spans[n]).split())))]
    chosen: list[int] = []
    for n in held:
        chosen += [k for k in range(n, min(len(spans), n + 1 + context)) if k not in chosen]
    return [spans[k].strip() for k in sorted(chosen)[:6]]


def join_quotes(quotes: list[str]) -> str:
    lines = []
    for quote in quotes:
        body = quote.strip()
        if body.startswith(("- ", "* ", "+ ")):
            body = body[2:].strip()
        lines.append(f"{body} [1]")
    return "\n".join(lines)
