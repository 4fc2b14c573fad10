"""Distractors for multiple choice: candidates of the answer's kind (a number for a number, a
term for a term) gathered from every passage of the notes."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass

from ..core.schema import Chunk
from .checking import normalize
from .reading import (
    NUMBER,
    kind_of,
    lead_role,
    lists,
    number_kind,
    number_text,
    passage_sentences,
    read_lines,
    usable_number,
)


@dataclass(frozen=True)
class Fact:
    text: str
    kind: str
    source: str
    norm: str  # normalize(text), computed once


# Distractors are drawn from at most this many candidates of the right kind (large notes folders).
_POOL_SAMPLE = 300


class Pools:
    """Candidate distractors, by kind, gathered from every passage of the notes."""

    def __init__(self, chunks: list[Chunk]):
        self.terms: dict[str, list[Fact]] = defaultdict(list)  # bold lead-in terms
        self.members: dict[str, list[Fact]] = defaultdict(list)  # list item labels
        self.numbers: dict[str, list[Fact]] = defaultdict(list)  # by unit: money, percent, ...
        for chunk in chunks:
            lines = read_lines(chunk.text)
            for line in lines:
                if line.lead and line.colon and line.body and lead_role(line.lead) == "term":
                    self._add(self.terms, line.lead, "term", chunk.source)
            for _, members in lists(lines):
                for member in members:
                    self._add(self.members, member, kind_of(member), chunk.source)
            for sentence in passage_sentences(lines):
                for m in NUMBER.finditer(sentence):
                    if usable_number(m, sentence):
                        self._add(self.numbers, number_text(m), number_kind(m), chunk.source)

    @staticmethod
    def _add(bucket: dict, text: str, kind: str, source: str) -> None:
        norm = normalize(text)
        if norm and not re.search(r"→|->|=", text):
            bucket[kind].append(Fact(text, kind, source, norm))

    def pick(self, bucket: dict[str, list[Fact]], answer: str, kind: str, source: str,
             avoid_text: str, rng: random.Random, k: int = 3) -> list[str]:
        """Up to k distinct candidates of the answer's kind that `avoid_text` does not contain."""
        pool = bucket.get(kind, [])
        if len(pool) > _POOL_SAMPLE:
            pool = rng.sample(pool, _POOL_SAMPLE)
        avoid = f" {normalize(avoid_text)} "
        target = normalize(answer)
        seen = {target}
        scored: list[tuple[float, str]] = []
        for fact in pool:
            norm = fact.norm
            if norm in seen or f" {norm} " in avoid or f" {target} " in f" {norm} " \
                    or f" {norm} " in f" {target} ":
                continue
            seen.add(norm)
            length_gap = abs(len(fact.text) - len(answer)) / max(len(answer), 1)
            scored.append((length_gap + (0 if fact.source == source else 0.5) + rng.random() * 0.6,
                           fact.text))
        scored.sort()
        return [text for _, text in scored[:k]]
