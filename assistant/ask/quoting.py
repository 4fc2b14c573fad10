"""The offline answer: the few sentences of the retrieved passages that answer the question.

Nothing is generated, so nothing can be invented: every sentence shown is a verbatim part of a
passage and carries that passage's citation. Passages are read into units (units.py); units are
ranked by their own meaning and their passage's (embedding cosine), by the question's own terms,
and by the kind of answer the question asks for (a duration, a number, a reason); the best one
leads, and a couple of nearly-as-good ones that add a point of their own follow.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from cachetools import LRUCache

from ..core.schema import Chunk, Hit
from ..core.text import MARKERS_AT_END, terms
from .concepts import subject_words
from .cues import LIST_QUESTION, answer_cues
from .units import Unit, children, ends_with_colon, meaning_of, split_units

if TYPE_CHECKING:
    from ..index.embeddings import Embedder

# A question that asks for something to read or watch is answered by a reading list's line
# (Unit.pointer); any other question by the notes' own explanations.
_ASKS_FOR_READING = re.compile(r"\b(?:videos?|tutorials?|articles?|blogs?|posts?|papers?|books?|guides?|read|"
                               r"reading|watch|resources?|references?|links?|talks?|lectures?|series)\b", re.I)


# How much a word of a passage's own heading counts, against one of the sentence itself, when the
# question's words are matched.
HEADING_TERMS = 0.5
# How far a unit outside what the conversation quoted is held back when a follow-up only points
# back ("Why is that useful in practice?"): another passage must be clearly better to take over.
ELSEWHERE = 0.1


@dataclass(frozen=True)
class Selection:
    """The chosen units, the answering one first, grouped by the hit they come from."""

    units: list[Unit]
    best_score: float


class SentencePicker:
    """Ranks the sentences of retrieved passages against a question. Caches sentence vectors."""

    def __init__(self, embedder: Embedder, cache_size: int = 4096):
        self.embedder = embedder
        self._cache: LRUCache[str, tuple[list[Unit], np.ndarray]] = LRUCache(maxsize=cache_size)
        self._cache_lock = threading.Lock()

    def units(self, chunk: Chunk) -> tuple[list[Unit], np.ndarray]:
        """A chunk's units and their vectors (each embedded with what it hangs from)."""
        return self._read(chunk)[:2]

    def holds(self, chunk: Chunk, cues: list[re.Pattern]) -> bool:
        """Whether one of a chunk's units holds the kind of answer `cues` describe (answer_cues):
        read from the cache when the chunk was read already, else split without embedding it (a
        passage further down the search may never be quoted)."""
        with self._cache_lock:
            cached = self._cache.get(_cache_key(chunk))
        return any(_has_cue(unit, cues) for unit in (cached[0] if cached is not None else split_units(chunk)))

    def _read(self, chunk: Chunk) -> tuple[list[Unit], np.ndarray, np.ndarray, dict[int, np.ndarray]]:
        """Units, their vectors, each unit's vector read alone, and the vector of the question an
        FAQ entry's answer follows (by the answer's index)."""
        key = _cache_key(chunk)
        with self._cache_lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        units = split_units(chunk)
        # A unit is embedded with what it hangs from, so "4 MORE months" keeps its subject and a
        # table row its column names. One that leans back ("It needs fast communication") is
        # also read alone, and counts by its better reading: the sentence before can as well
        # pull it away from the question as towards it. So is the answer to an FAQ entry's
        # question, which is read with that question.
        leaning = [u.index for u in units if u.leans_back or u.after_question]
        answers = [u.index for u in units if u.after_question]
        embedded = self.embedder.embed([u.meaning for u in units] + [meaning_of(units[i].display) for i in leaning]
                                       + [units[i].context for i in answers], batch_size=64)
        n, m = len(units), len(units) + len(leaning)
        vectors, alone = embedded[:n], embedded[:n].copy()
        alone[leaning] = embedded[n:m]
        questions = dict(zip(answers, embedded[m:]))
        with self._cache_lock:
            self._cache[key] = (units, vectors, alone, questions)
        return units, vectors, alone, questions

    def pick(self, question: str, hits: list[Hit], *, already_said: set[str] = frozenset(),
             continuing: set[tuple[str, str]] = frozenset(), relative: float = 0.8,
             other_passage: float = 0.9, cue_weight: float = 0.05, diversity: float = 0.1,
             most: int = 3, parts: list[str] = (), new_terms: set[str] = frozenset(),
             stay_above: float | None = None) -> Selection:
        """The answering unit first with what it needs to be read (its lead-in, its items) and,
        when it lacks the kind of answer asked for (a number, a reason), its entry's best unit
        that has one; then units nearly as good (within `relative` of the best; another entry's within
        `other_passage`) that say something the answer has not said yet (`diversity`), then what
        follows it in the note, then what comes before it in its paragraph (an answer that closes
        its paragraph, "Set one even in toy scripts.", comes with its reason), `most` units in all
        unless a list is asked for. When the best unit is one the conversation already showed
        (`already_said`, normalised display texts) and a new one is nearly as good, the new one
        leads: a follow-up starts with what is new. A question asking several (`parts`) gets the
        best unit for each among the entries quoted. Units naming one of `new_terms` (stems a
        follow-up brings to the conversation) get a small lead. When a unit of `continuing` scores
        `stay_above` or more, units elsewhere are held back (ELSEWHERE)."""
        scored = self.score(question, hits, cue_weight, continuing, new_terms, stay_above)
        if not scored:
            return Selection([], 0.0)
        best, top = scored[0]
        if top.is_title and not children(self.units(top.chunk)[0], top):
            # A bare title says nothing; the best sentence with content answers instead.
            top = next((u for _, u in scored if not u.is_title), top)
        said = None
        if _key(top) in already_said:
            # Lead with the passage's next point, and still show the one already said after it.
            new = next((u for sc, u in scored if sc >= best * other_passage and _key(u) not in already_said
                        and _entry(u) == _entry(top) and not u.is_title), None)
            if new is not None:
                said, top = top, new
        units = self.units(top.chunk)[0]
        block = _with_context(top, units, bool(LIST_QUESTION.search(question)), already_said)
        seen = {_key(u) for u in block}
        extra: list[Unit] = [said] if said is not None and _key(said) not in seen else []
        seen |= {_key(u) for u in extra}
        candidates = [(score, unit) for score, unit in scored if score >= best * relative
                      and _key(unit) not in seen and not unit.is_title and not unit.is_label
                      # another passage must be nearly as good to be worth a second citation
                      and (_entry(unit) == _entry(top) or score >= best * other_passage)]
        cues = answer_cues(question)
        if cues and len(block) + len(extra) < most and not any(_has_cue(u, cues) for u in block + extra):
            # "How many ...?" is answered by a number, "why?" by a reason: when the leading unit
            # has none, its entry's best unit that has one is shown beside it.
            typed = next((u for _, u in scored if _entry(u) == _entry(top) and _key(u) not in seen
                          and not u.is_title and _has_cue(u, cues)), None)
            if typed is not None:
                block.append(typed)  # it answers what was asked: right after the lead, not in reading order
                seen.add(_key(typed))
                candidates = [(sc, u) for sc, u in candidates if _key(u) != _key(typed)]
        if len(parts) > 1:
            # "What is X, and how much did it improve Y?": each question asked gets its best
            # sentence among the passages the answer quotes, so neither part goes unanswered.
            quoted = {_entry(u) for u in block + extra}
            for part in parts:
                answer = next((u for _, u in self.score(part, hits, cue_weight, continuing)
                               if _entry(u) in quoted and not u.is_title), None)
                if answer is not None and _key(answer) not in seen:
                    most += 1  # an answer to a question asked besides, not instead of a point
                    extra.append(answer)
                    seen.add(_key(answer))
                    candidates = [(sc, u) for sc, u in candidates if _key(u) != _key(answer)]
        # Maximal marginal relevance: each next unit is the best one that does not repeat what
        # is already shown, so a second sentence adds a second point. (score() gave each text
        # once, so no candidate repeats another.)
        shown = [self._vector(u) for u in block + extra]
        vectors = [self._vector(u) for _, u in candidates]
        while candidates and len(block) + len(extra) < most:
            i = max(range(len(candidates)), key=lambda j: candidates[j][0] - diversity * max(
                (float(vectors[j] @ v) for v in shown), default=0.0))
            unit = candidates.pop(i)[1]
            shown.append(vectors.pop(i))
            extra.append(unit)
            seen.add(_key(unit))
        # Room left: what the note says right after the answer, in reading order.
        for following in units[top.index + 1:]:
            if len(block) + len(extra) >= most or following.is_title or following.after_question \
                    or following.is_label:
                break  # a title, a label ("Note"), or the answer to the next question, starts something else
            if _key(following) not in seen and not following.shown_with_lead:
                extra.append(following)
                seen.add(_key(following))
        # Still room: the sentences before the answer in its paragraph, nearest first.
        i = top.index
        while len(block) + len(extra) < most and i > 0 and not units[i].line_start:
            i -= 1
            if _key(units[i]) not in seen and not units[i].shown_with_lead:
                extra.append(units[i])
                seen.add(_key(units[i]))
        order = {h.chunk.id: i for i, h in enumerate(hits)}
        extra.sort(key=lambda u: (order.get(u.chunk.id, 0), u.index))
        return Selection(block + extra, best)

    def _vector(self, unit: Unit) -> np.ndarray:
        return self.units(unit.chunk)[1][unit.index]

    def score(self, question: str, hits: list[Hit], cue_weight: float = 0.05,
              continuing: set[tuple[str, str]] = frozenset(), new_terms: set[str] = frozenset(),
              stay_above: float | None = None) -> list[tuple[float, Unit]]:
        """Every unit of the passages with its score, best first; units of the entries in
        `continuing` (what a follow-up points back to) or of an entry under one, and units naming
        one of `new_terms`, get a small lead. When one of those continuing units scores
        `stay_above` or more, the answer stays there: units elsewhere are held back."""
        if not hits:
            return []
        q_vec = self.embedder.embed_one(question)
        q_terms = terms(question)
        cues = answer_cues(question)
        wants_reading = bool(_ASKS_FOR_READING.search(question))
        # "How does an IVF index speed up search?" is about IVF: the line "IVF: cluster vectors ..."
        # defines it. (A follow-up naming something new is about that instead.)
        subject = [terms(w) for w in subject_words(question)] if not new_terms else []
        scored: list[tuple[float, Unit]] = []
        inside: list[bool] = []  # whether each scored unit continues what the follow-up points back to
        seen: set[str] = set()
        read = [self._read(hit.chunk) for hit in hits]
        # The FAQ entry the learner asked: its question is the closest to theirs of all the entries
        # found, and search ranks its passage first. Its answer is read with its question (it
        # answers the learner's question too); any other entry's answer is read alone.
        asked = max(((float(vector @ q_vec), (hit.chunk.id, i)) for hit, (*_, questions) in zip(hits, read)
                     for i, vector in questions.items()), default=(0.0, None))[1]
        if asked and asked[0] not in {h.chunk.id for h in hits if _entry(h) == _entry(hits[0])}:
            asked = None
        for hit, (units, vectors, alone, questions) in zip(hits, read):
            if not units:
                continue
            by_itself = alone @ q_vec
            sims = np.maximum(vectors @ q_vec, by_itself)
            read_alone = [i for i in questions if (hit.chunk.id, i) != asked]
            sims[read_alone] = by_itself[read_alone]
            heading = terms(hit.chunk.title)
            for unit, sim in zip(units, sims):
                if unit.shown_with_lead:
                    continue
                keys = {_key(unit), " ".join(unit.quote.split())}
                if keys & seen:  # overlapping chunks of one entry hold the same sentence twice
                    continue
                seen |= keys
                # An FAQ answer's words include its question's: "nDCG" is named only there.
                words = terms(meaning_of(f"{unit.context} {unit.display}" if unit.after_question else unit.display))
                # A sentence leaves the topic its heading names unsaid ("I score those 20 with
                # `cross-encoder/...`" under "Adding a reranker"): the heading's words count half.
                shared = len(q_terms & words) + HEADING_TERMS * len(q_terms & (heading - words))
                overlap = shared / len(q_terms) if q_terms else 0.0
                # The sentence's meaning, and the meaning of its whole passage (which carries
                # the heading: the topic a sentence alone often leaves implicit); shared terms
                # break ties between near paraphrases.
                score = 0.5 * float(sim) + 0.4 * (hit.similarity or 0.0) + 0.1 * overlap
                reading_list = unit.pointer and not wants_reading
                if _has_cue(unit, cues) and not reading_list:
                    # "how long?" wants a duration, "why?" a reason; a reading list's line says
                    # what an article is about ("on the weakness of judge models"), not the answer
                    score += cue_weight
                inside.append(_continues(unit, continuing))
                if inside[-1]:
                    score += cue_weight
                if new_terms & words:
                    score += cue_weight  # "and verbosity bias?": the item that names it
                if subject and _defines(unit, subject):
                    score += cue_weight  # the line a note gives the thing asked about
                if reading_list:
                    score -= 0.1  # a reading list names where to learn more; the answer is elsewhere
                if ends_with_colon(unit) and len(unit.display) < 40:
                    score -= 0.05  # a bare "What stayed the same:" says little by itself
                scored.append((score, unit))
        if stay_above is not None:
            if max((sc for (sc, _), isin in zip(scored, inside) if isin), default=0.0) >= stay_above:
                scored = [(sc if isin else sc - ELSEWHERE, unit) for (sc, unit), isin in zip(scored, inside)]
        scored.sort(key=lambda s: -s[0])
        return scored


# A line a note opens with a term, as "IVF: cluster vectors ..." or "**HyDE** - embed ...".
_LABEL = re.compile(r"^\**([^:*\u2014\u2013|·]{1,40}?)\**\s*(?::|\u2014|\u2013| - )\s")


def _defines(unit: Unit, subject: list[set[str]]) -> bool:
    """Whether a unit is the line a note gives the question's subject (`subject`: the terms of
    each subject word): its term names the subject's first word and nothing beyond the subject
    ("IVF" for "an IVF index", not "IVF parameter nprobe"). A table row ("Index: IVF · ...")
    opens with its column's name, not a term."""
    m = _LABEL.match(unit.display)
    if not m or " · " in unit.display:
        return False
    label = terms(m.group(1))
    return bool(label) and bool(subject[0]) and subject[0] <= label <= set().union(*subject)


def _cache_key(chunk: Chunk) -> str:
    """A chunk's reading is kept while its text is unchanged."""
    return chunk.id + chunk.content_hash


def _has_cue(unit: Unit, cues: list[re.Pattern]) -> bool:
    """Whether a unit holds the kind of answer its question asks for (cues.answer_cues)."""
    return any(cue.search(unit.display) for cue in cues)


def _entry(item: Unit | Hit) -> tuple[str, str]:
    """The note and heading a unit, or a hit, belongs to."""
    return item.chunk.source, item.chunk.heading


def _continues(unit: Unit, entries: set[tuple[str, str]]) -> bool:
    """Whether a unit belongs to one of `entries` or to an entry under one ("Short-term memory >
    How long does it last?" continues "Short-term memory")."""
    source, heading = _entry(unit)
    return (source, heading) in entries or any(source == s and heading.startswith(f"{h} > ") for s, h in entries)


def _key(unit: Unit) -> str:
    return " ".join(unit.display.replace("**", "").lower().split())


def said_in(answer_text: str) -> set[str]:
    """The units an earlier answer showed, as `_key` compares them."""
    out = set()
    for line in answer_text.splitlines():
        line = MARKERS_AT_END.sub("", line).strip().lstrip("-*").strip()
        if line:
            out.add(" ".join(line.replace("**", "").lower().split()))
    return out


def _with_context(unit: Unit, units: list[Unit], wants_list: bool, already_said: set[str] = frozenset()) -> list[Unit]:
    """The answering unit with what it needs to be read: a list item's lead-in first; the
    sentence an "It ..." points back to, unless the conversation just showed it; a lead-in's
    items; the item's siblings when they are few or the question asks for several things."""
    picked = [unit]
    line_first = unit if unit.line_start else next(u for u in reversed(units[: unit.index]) if u.line_start)
    if line_first is not unit and line_first.bold_lead:
        picked.insert(0, line_first)  # the line's bold title says what the sentence is about
    if unit.leans_back and units[unit.index - 1] not in picked and _key(units[unit.index - 1]) not in already_said:
        picked.insert(picked.index(unit), units[unit.index - 1])  # "It needs ...": what "it" is
    items = children(units, line_first)[:8]
    if items and (line_first.is_lead_in or wants_list):
        picked += [i for i in items if i not in picked]
    if unit.parent is not None:
        parent = units[unit.parent]
        if parent.is_lead_in or len(unit.display) < 80:
            picked.insert(0, parent)
        siblings = [s for s in children(units, parent) if s.index != unit.index]
        # A short group under a title reads as one thought; a long one only when a list is asked for.
        if parent.is_lead_in and (len(siblings) <= 2 or wants_list and len(siblings) < 8):
            picked += siblings
    return picked
