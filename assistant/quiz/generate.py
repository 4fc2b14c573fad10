"""Offline question generation from the notes' own structure and facts.

What it reads in a passage, and what it asks:
- bold lead-ins ("**Multimodal breakthrough:** Foundation models can ..."): a flashcard for the
  term, and a multiple-choice "which idea is described here" with other lead-ins as distractors;
- counted lists ("**Three risk levels to evaluate:**" + three items; "8 proven categories: a, b, ..."):
  a flashcard naming them, a multiple choice on membership, and "what goes with X" for `X -> Y` items.
  A list is used only when the number of items found equals the number stated;
- numbers ("needed 4 MORE months", "$50,000+"): a cloze, or a multiple choice when the notes hold
  at least three other numbers of the same kind (a percentage for a percentage, months for months);
- definitions ("Evaluation is the biggest bottleneck ..."): a cloze on the defined term;
- headings that are questions (FAQ-style notes): a flashcard answered by the section's text; a
  section nothing else could be asked about gets "what do your notes say about <heading>?".

Every answer is text of the passage; distractors come from other places in the notes and match the
answer's kind. Generation is deterministic: the same passage always yields the same items.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import defaultdict

from ..core.schema import Chunk
from ..core.text import STOPWORDS
from .checking import normalize
from .distractors import Pools
from .items import BLANK, QuizItem, heading_parts, item_id
from .reading import (
    NUMBER,
    Line,
    arrow_pairs,
    definition,
    first_prose,
    first_sentences,
    kind_of,
    lead_role,
    lists,
    number_kind,
    number_salience,
    number_text,
    passage_sentences,
    plain,
    prose,
    read_lines,
    sentences,
    usable_number,
    without_title,
    words,
)

__all__ = ["OfflineGenerator", "Pools", "dedupe_key", "kind_of", "plain", "sentences"]

MAX_ITEMS_PER_PASSAGE = 6
OPTIONS = 4

_GENERIC_TERMS = {"model", "models", "data", "text", "people", "users", "companies", "apps",
                  "things", "systems", "tools", "results", "work", "time", "way", "ai", "it"}


def _is_trivial(answer: str, short: bool = True) -> bool:
    """A blank nobody can learn from: stop words, formatting, a generic word, a whole paragraph."""
    norm = normalize(answer)
    words = norm.split()
    return (
        not words
        or not re.search(r"[A-Za-z0-9]", answer)
        or all(w in STOPWORDS for w in words)
        or (short and (len(answer) > 90 or norm in _GENERIC_TERMS))
        or (len(answer) < 2 and not answer.isdigit())
    )


def _seed(*parts: str) -> random.Random:
    return random.Random(int(hashlib.sha1("\x00".join(parts).encode()).hexdigest()[:12], 16))


# --- the generator ---------------------------------------------------------------------------

class OfflineGenerator:
    """Generates items for passages; `pools` are built once over all passages of the notes."""

    def __init__(self, chunks: list[Chunk]):
        self.chunks = chunks
        self.pools = Pools(chunks)
        firsts: dict[tuple[str, str], Chunk] = {}
        for c in chunks:
            key = (c.source, c.heading)
            if key not in firsts or c.start < firsts[key].start:
                firsts[key] = c
        self._first_of_section = {c.id for c in firsts.values()}

    def generate(self, chunk: Chunk) -> list[QuizItem]:
        lines = read_lines(chunk.text)
        candidates: list[QuizItem] = []
        candidates += self._heading_question(chunk)
        candidates += self._from_lists(chunk, lines)
        candidates += self._from_leads(chunk, lines)
        sents = passage_sentences(lines)
        used: set[str] = set()  # one cloze per sentence
        candidates += self._from_numbers(chunk, sents, used)
        candidates += self._from_definitions(chunk, sents, used)
        chosen = _choose(_dedupe(candidates), MAX_ITEMS_PER_PASSAGE)
        return chosen or self._heading_summary(chunk)

    def generate_all(self, chunks: list[Chunk] | None = None) -> list[QuizItem]:
        items: list[QuizItem] = []
        seen: set[str] = set()
        for chunk in chunks if chunks is not None else self.chunks:
            for item in self.generate(chunk):
                key = dedupe_key(item)
                if key not in seen:
                    seen.add(key)
                    items.append(item)
        return items

    # -- builders --

    def _item(self, chunk: Chunk, type_: str, question: str, answer: str, *, options=None,
              kind: str | None = None, explanation: str = "", order: int = 0) -> QuizItem:
        question = " ".join(question.split())
        return QuizItem(
            id=item_id(chunk.source, chunk.content_hash, type_, question, answer),
            type=type_, question=question, answer=answer.strip(), chunk_id=chunk.id,
            source=chunk.source, heading=chunk.heading, passage=chunk.text,
            content_hash=chunk.content_hash, options=options, explanation=explanation,
            kind=kind or kind_of(answer), position=chunk.start * 100 + order,
        )

    def _mcq(self, chunk: Chunk, question: str, answer: str, distractors: list[str], kind: str,
             explanation: str = "", order: int = 0) -> QuizItem | None:
        if len(distractors) < 2:
            return None
        options = [answer, *distractors[: OPTIONS - 1]]
        _seed(chunk.content_hash, question).shuffle(options)
        return self._item(chunk, "mcq", question, answer, options=options, kind=kind,
                          explanation=explanation, order=order)

    def _heading_question(self, chunk: Chunk) -> list[QuizItem]:
        parts = heading_parts(chunk.heading)
        if len(parts) < 2 or not parts[-1].endswith("?") or chunk.id not in self._first_of_section:
            return []
        answer = first_sentences(plain(without_title(first_prose(chunk.text), parts[-1])), 300)
        if len(words(answer)) < 3:
            return []
        return [self._item(chunk, "flashcard", parts[-1], answer, kind="phrase", order=0)]

    def _heading_summary(self, chunk: Chunk) -> list[QuizItem]:
        """For a section nothing else could be asked about: what do the notes say under its heading?"""
        parts = heading_parts(chunk.heading)
        if len(parts) < 2 or chunk.id not in self._first_of_section:
            return []
        answer = first_sentences(plain(first_prose(chunk.text)), 280)
        if len(words(answer)) < 6 or lead_role(parts[-1]) == "generic":
            return []
        return [self._item(chunk, "flashcard", f"What do your notes say about “{parts[-1]}”?",
                           answer, kind="phrase", order=1)]

    def _from_lists(self, chunk: Chunk, lines: list[Line]) -> list[QuizItem]:
        items = []
        section = _section_name(chunk)
        for n, (intro, members) in enumerate(lists(lines)):
            where = f" ({section})" if section and section.lower() not in intro.lower() else ""
            intro = re.sub(r"\s+(exists?|are|is)$", "", intro)
            items.append(self._item(
                chunk, "flashcard", f"Your notes list “{intro}”{where}. Name them.",
                "; ".join(members), kind="list", order=10 + n))
            rng = _seed(chunk.content_hash, intro)
            answer = members[rng.randrange(len(members))]
            kind = kind_of(answer)
            distractors = self.pools.pick(self.pools.members, answer, kind, chunk.source,
                                          chunk.text, rng)
            if len(distractors) < OPTIONS - 1:
                distractors += self.pools.pick(self.pools.terms, answer, kind, chunk.source,
                                               f"{chunk.text} {' '.join(distractors)}", rng,
                                               OPTIONS - 1 - len(distractors))
            mcq = self._mcq(chunk, f"Which of these is one of “{intro}”?", answer, distractors,
                            kind, order=11 + n)
            if mcq:
                items.append(mcq)
            pairs = arrow_pairs(lines, intro)
            for k, (left, right) in enumerate(pairs):
                others = [r for _, r in pairs if normalize(r) != normalize(right)]
                mcq = self._mcq(chunk, f"In “{intro}”, what goes with “{left}”?", right, others,
                                kind_of(right), order=12 + n + k)
                if mcq:
                    items.append(mcq)
        return items

    def _from_leads(self, chunk: Chunk, lines: list[Line]) -> list[QuizItem]:
        items = []
        section = _section_name(chunk)
        for n, line in enumerate(lines):
            if not (line.lead and line.colon and line.body and len(words(line.body)) >= 5):
                continue
            role = lead_role(line.lead)
            answer = first_sentences(line.body, 280)
            if role == "question":
                lead = line.lead.rstrip(":")
                q = lead if lead.endswith("?") else f"Explain {lead[0].lower()}{lead[1:]}."
                if (re.search(r"\b(this|it|these)\b", lead, re.I) or len(words(lead)) <= 3) and section:
                    q = f"{section}: {q}"
                items.append(self._item(chunk, "flashcard", q, answer, kind="phrase", order=20 + n))
            elif role == "term":
                items.append(self._item(chunk, "flashcard", f"What do your notes say about “{line.lead}”?",
                                        answer, kind="phrase", order=20 + n))
                described = _mask(sentences(line.body)[0] if sentences(line.body) else line.body, line.lead)
                if described and len(words(described)) >= 6:
                    rng = _seed(chunk.content_hash, line.lead)
                    distractors = self.pools.pick(self.pools.terms, line.lead, "term", chunk.source,
                                                  "", rng)
                    mcq = self._mcq(chunk, f"Which idea do your notes describe like this: “{described}”",
                                    line.lead, distractors, "term", explanation=answer, order=21 + n)
                    if mcq:
                        items.append(mcq)
        return items

    def _from_numbers(self, chunk: Chunk, sents: list[str], used: set[str]) -> list[QuizItem]:
        items = []
        for n, sentence in enumerate(sents):
            if sentence in used or not prose(sentence):
                continue
            matches = [m for m in NUMBER.finditer(sentence) if usable_number(m, sentence)]
            if not matches:
                continue
            best = max(matches, key=lambda m: number_salience(m, sentence))
            if number_salience(best, sentence) < 0:
                continue
            answer = number_text(best)
            question = sentence[: best.start("num")] + BLANK + sentence[best.end("num"):]
            if _content_words(question) < 4:
                continue
            used.add(sentence)
            kind = number_kind(best)
            rng = _seed(chunk.content_hash, sentence)
            distractors = self.pools.pick(self.pools.numbers, answer, kind, chunk.source, sentence, rng)
            if len(distractors) >= OPTIONS - 1:
                items.append(self._mcq(chunk, question, answer, distractors, kind,
                                       explanation=sentence, order=40 + n))
            else:
                items.append(self._item(chunk, "cloze", question, answer, kind=kind,
                                        explanation=sentence, order=40 + n))
        return items

    def _from_definitions(self, chunk: Chunk, sents: list[str], used: set[str]) -> list[QuizItem]:
        items = []
        for n, sentence in enumerate(sents):
            d = definition(sentence)
            if sentence in used or not d or _is_trivial(d[0]) or _content_words(d[1]) < 3 \
                    or not prose(sentence):
                continue
            used.add(sentence)
            term, rest = d
            det = sentence[: sentence.index(term)]
            question = f"{det}{BLANK}{rest}"
            items.append(self._item(chunk, "cloze", question, term, kind=kind_of(term),
                                    explanation=sentence, order=60 + n))
        return items


def _content_words(text: str) -> int:
    return len([w for w in words(text) if w.lower() not in STOPWORDS and w != BLANK])


def _section_name(chunk: Chunk) -> str:
    parts = heading_parts(chunk.heading)
    return parts[-1] if len(parts) > 1 else ""


def _mask(text: str, term: str) -> str:
    out = text
    for word in words(term):
        if word.lower() not in STOPWORDS and len(word) > 3:
            out = re.sub(rf"\b{re.escape(word)}\w*", "…", out, flags=re.I)
    return out.strip()


def dedupe_key(item: QuizItem) -> str:
    return f"{item.type}|{normalize(item.question)}|{normalize(item.answer)}"


def _dedupe(items: list[QuizItem]) -> list[QuizItem]:
    out: list[QuizItem] = []
    seen_q: set[str] = set()
    cloze_answers: set[str] = set()
    answers: dict[str, list[str]] = defaultdict(list)
    for item in items:
        if item is None or _is_trivial(item.answer, short=item.type in ("cloze", "mcq")):
            continue
        q = normalize(item.question)
        a = normalize(item.answer)
        if q in seen_q or (item.type == "cloze" and re.search(rf"\b{re.escape(a)}\b", q)):
            continue
        if item.type in ("cloze", "mcq") and any(_similar(q, other) for other in answers[a]):
            continue
        if item.type == "cloze":
            if a in cloze_answers:
                continue
            cloze_answers.add(a)
        seen_q.add(q)
        answers[a].append(q)
        out.append(item)
    return out


def _similar(a: str, b: str) -> bool:
    wa, wb = set(a.split()), set(b.split())
    return len(wa & wb) / max(1, min(len(wa), len(wb))) >= 0.8


def _choose(items: list[QuizItem], limit: int) -> list[QuizItem]:
    """At most `limit`, alternating types so one passage does not give six clozes."""
    by_type: dict[str, list[QuizItem]] = defaultdict(list)
    for item in items:
        by_type[item.type].append(item)
    chosen: list[QuizItem] = []
    while len(chosen) < limit and any(by_type.values()):
        for type_ in ("mcq", "cloze", "flashcard"):
            if by_type[type_] and len(chosen) < limit:
                chosen.append(by_type[type_].pop(0))
    return sorted(chosen, key=lambda i: i.position)
