"""The offline answer: the few sentences of the retrieved passages that best answer the question.

Nothing is generated, so nothing can be invented: every sentence shown is a verbatim part of a
passage and carries that passage's citation. Sentences are ranked by their own meaning and their
passage's (embedding cosine), by the question's own terms, and by the kind of answer the question
asks for (a duration, a number, a reason).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from cachetools import LRUCache

from ..core.schema import Chunk, Hit
from ..core.text import sentences, terms

if TYPE_CHECKING:
    from ..index.embeddings import Embedder

_LIST_MARK = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+")
_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")


@dataclass(frozen=True)
class Unit:
    """A sentence or list item of a chunk: `quote` is verbatim chunk text, `display` is for reading."""

    chunk: Chunk
    index: int
    quote: str
    display: str
    indent: int
    list_item: bool
    parent: int | None  # the line this one hangs under: a lead-in ("Three risk levels:") or a list item
    line_start: bool  # first sentence of its line

    @property
    def is_lead_in(self) -> bool:
        """A line that introduces the items under it: "Three risk levels:" or a bold title line
        ("**Prompt Engineering is now a thing**"), which notes use as a small heading."""
        text = self.display
        bold_title = text.startswith("**") and text.endswith("**") and text.count("**") == 2
        return text.rstrip("*").rstrip().endswith(":") or bold_title


def split_units(chunk: Chunk) -> list[Unit]:
    units: list[Unit] = []
    open_lines: list[int] = []  # unit index of the first sentence of each enclosing line
    for line in chunk.text.split("\n"):
        if not line.strip() or _RULE.match(line):
            continue
        marker = _LIST_MARK.match(line)
        indent = len(line) - len(line.lstrip())
        body = (line[marker.end():] if marker else line).strip()
        if body.startswith(">"):
            body = body.lstrip("> ").strip()
        if not body:
            continue
        while open_lines and not _encloses(units[open_lines[-1]], indent, bool(marker)):
            open_lines.pop()
        parent = open_lines[-1] if open_lines else None
        first = len(units)
        pieces = [p.strip() for p in sentences(body) if p.strip()]
        for i, piece in enumerate(pieces):
            units.append(Unit(chunk, len(units), piece, _readable(piece), indent, bool(marker),
                              parent, line_start=i == 0))
        if len(units) > first:
            open_lines.append(first)
    return units


def children(units: list[Unit], parent: Unit) -> list[Unit]:
    return [u for u in units if u.parent == parent.index]


def _encloses(line: Unit, indent: int, list_item: bool) -> bool:
    """Whether a line at `indent` hangs under an earlier line (its first sentence `line`)."""
    if line.indent < indent:
        return True
    # "**Three factors:**" followed by "1. ..." at the same indent: the items belong to it.
    return line.indent == indent and not line.list_item and list_item and _ends_with_colon(line)


def _ends_with_colon(unit: Unit) -> bool:
    return unit.display.rstrip("*").rstrip().endswith(":")


def _readable(text: str) -> str:
    # Bold is kept (it is the notes' own emphasis); unbalanced markers from a split are dropped.
    if text.count("**") % 2:
        text = text.replace("**", "")
    return text.strip()


_NUMBER = r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|dozen|hundred|thousand|million|billion)\b"
_DURATION = (r"\b(?:ms|milliseconds?|seconds?|minutes?|hours?|days?|nights?|weeks?|weekends?|months?"
             r"|years?|decades?)\b")
_REASON = r"\b(?:because|since|so that|due to|reasons?|why|matters)\b"
# What a question asks for, and what a sentence that answers it contains: the answer types of
# classic question answering (Moldovan et al. 2000), kept to the few that are reliable by pattern.
_ANSWER_TYPES = [
    (re.compile(r"\bhow (?:long|fast|quickly|soon|often)\b|\bhow much (?:time|longer)\b", re.I),
     re.compile(_DURATION, re.I)),
    (re.compile(r"\bhow (?:many|much)\b|\bwhat (?:percentage|share|fraction|number)\b", re.I),
     re.compile(_NUMBER, re.I)),
    (re.compile(r"\bwhy\b|\bwhat (?:for|reason)\b", re.I), re.compile(_REASON, re.I)),
]


def answer_cues(question: str) -> list[re.Pattern]:
    """Patterns a sentence answering `question` is likely to contain (a number, a duration, a reason)."""
    return [answer for asks, answer in _ANSWER_TYPES if asks.search(question)]


@dataclass(frozen=True)
class Selection:
    """The chosen units in reading order, grouped by the hit they come from."""

    units: list[Unit]
    best_score: float


class SentencePicker:
    """Ranks the sentences of retrieved passages against a question. Caches sentence vectors."""

    def __init__(self, embedder: Embedder, cache_size: int = 4096):
        self.embedder = embedder
        self._cache: LRUCache[str, tuple[list[Unit], np.ndarray]] = LRUCache(maxsize=cache_size)
        self._cache_lock = threading.Lock()

    def _units(self, chunk: Chunk) -> tuple[list[Unit], np.ndarray]:
        key = chunk.id + chunk.content_hash
        with self._cache_lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        units = split_units(chunk)
        # A list item is embedded with its lead-in so "4 MORE months" keeps its subject.
        texts = [
            f"{units[u.parent].display} {u.display}" if u.parent is not None else u.display
            for u in units
        ]
        vectors = self.embedder.embed(texts, batch_size=64)
        with self._cache_lock:
            self._cache[key] = (units, vectors)
        return units, vectors

    def pick(self, question: str, hits: list[Hit], max_groups: int = 3,
             relative: float = 0.8, other_passage: float = 0.9, cue_weight: float = 0.05) -> Selection:
        if not hits:
            return Selection([], 0.0)
        q_vec = self.embedder.embed_one(question)
        q_terms = terms(question)
        cues = answer_cues(question)
        scored: list[tuple[float, Unit]] = []
        for hit in hits:
            units, vectors = self._units(hit.chunk)
            if not units:
                continue
            sims = vectors @ q_vec
            for unit, sim in zip(units, sims):
                overlap = len(q_terms & terms(unit.display)) / len(q_terms) if q_terms else 0.0
                # The sentence's meaning, and the meaning of its whole passage (which carries
                # the heading: the topic a sentence alone often leaves implicit); shared terms
                # break ties between near paraphrases. On the three question sets of
                # benchmarks/ask_quality.py together, passage weights 0.2/0.3/0.4/0.5 answer
                # 86/88/90/92 of 113 correctly, but 0.5 makes answers ~25% longer.
                score = 0.5 * float(sim) + 0.4 * (hit.similarity or 0.0) + 0.1 * overlap
                if any(cue.search(unit.display) for cue in cues):
                    score += cue_weight  # "how long?" wants a duration, "why?" a reason
                if _ends_with_colon(unit) and len(unit.display) < 40:
                    score -= 0.05  # a bare "What stayed the same:" says little by itself
                scored.append((score, unit))
        if not scored:
            return Selection([], 0.0)
        scored.sort(key=lambda s: -s[0])
        best = scored[0][0]
        chosen: dict[tuple[str, int], Unit] = {}
        groups = 0
        for score, unit in scored:
            if groups >= max_groups or score < best * relative:
                break
            key = (unit.chunk.id, unit.index)
            if key in chosen:
                continue
            if unit.chunk.id != scored[0][1].chunk.id and score < best * other_passage:
                continue  # another passage must be nearly as good to be worth a second citation
            groups += 1
            for extra in _with_context(unit):
                chosen.setdefault((extra.chunk.id, extra.index), extra)
        order = {h.chunk.id: i for i, h in enumerate(hits)}
        units = sorted(chosen.values(), key=lambda u: (order[u.chunk.id], u.index))
        return Selection(units, best)


def _with_context(unit: Unit) -> list[Unit]:
    """A sentence brings the rest of its bullet; a line with items under it brings them; an item
    under a short lead-in ("Three risk levels:") brings the lead-in and its sibling items."""
    units = split_units(unit.chunk)  # cheap: pure string work
    first = units[unit.index]
    while not first.line_start:  # items hang under the first sentence of their line
        first = units[first.index - 1]
    end = first.index + 1
    while end < len(units) and not units[end].line_start:
        end += 1
    picked = [unit] + [u for u in units[first.index:end] if u.index != unit.index]
    items = children(units, first)[:8]
    if items and (unit.is_lead_in or unit.line_start):
        picked += items
    if unit.parent is not None:
        parent = units[unit.parent]
        siblings = children(units, parent)
        if parent.is_lead_in and len(siblings) <= 6:
            picked += siblings
        if len(unit.display) < 80:
            picked.insert(0, parent)
    return picked
