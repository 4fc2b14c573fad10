"""The offline answer: the few sentences of the retrieved passages that answer the question.

Nothing is generated, so nothing can be invented: every sentence shown is a verbatim part of a
passage and carries that passage's citation. A passage is read as the note is written: lines,
list items under their lead-in, sentences, table rows under their header. What is never an
answer is left out: a question line, a heading-like title, a figure or table caption, a
bibliography line, an image. Sentences are ranked by their own meaning and their passage's
(embedding cosine), by the question's own terms, and by the kind of answer the question asks for
(a duration, a number, a reason); the best one leads, and a couple of nearly-as-good ones follow.
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
from .cues import LIST_QUESTION, answer_cues

if TYPE_CHECKING:
    from ..index.embeddings import Embedder

_LIST_MARK = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+")
_FENCE = re.compile(r"^\s*(```|~~~)")
_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")
_TABLE_ROW = re.compile(r"^\s*\|(.*)\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")
# HTML that notes exported from the web carry; a literal "<BOS/>" in a note about tokens is text.
_TAG = re.compile(r"</?(?:a|abbr|b|big|br|center|code|div|em|figcaption|figure|font|h[1-6]|i|img|kbd|mark|"
                  r"p|pre|s|small|span|strong|sub|sup|u)\b[^<>]*>", re.I)
_CAPTION = re.compile(r"^\s*(?:Table|Figure|Fig\.)\s*\d+(?:[-.]\d+)*[.:]?(?:\s|$)", re.I)
_QA_PREFIX = re.compile(r"^\s*(?:\*\*|__)?(?P<kind>Q|A|Question|Answer)\s*[:.]\s*(?:\*\*|__)?\s*", re.I)
# "Breiman, L. (1996). Bagging predictors. Machine Learning, 24(2), 123-140."
_REFERENCE = re.compile(r"^\s*[A-Z][A-Za-z'\-]+,\s+(?:[A-Z]\.\s*)+.*\(\d{4}[a-z]?\)")
_ONLY_BOLD = re.compile(r"^(\*\*|__)[^*_]+\1\s*[:?.]?$")
# Markdown links and bare addresses: what a sentence means is the link's text, not its address.
_LINK = re.compile(r"!?\[([^\[\]]*)\]\([^()\s]*(?:\s[^()]*)?\)")
_URL = re.compile(r"<?https?://\S+")
# A line that points to reading elsewhere ("[nanoGPT](...) by Andrej Karpathy: A 2h-long video"),
# or any line of a list under "📚 Resources:" / "References" / "Further reading".
_POINTER_LINE = re.compile(r"^\W*\[[^\]]+\]\([^)]*\)\s*(?:by\b|[:–—-])")
_POINTER_LIST = re.compile(r"\b(?:resources|references|further reading|reading list|see also|links|bibliography)\b",
                           re.I)
# A question that asks for something to read or watch is answered by such a line.
_ASKS_FOR_READING = re.compile(r"\b(?:videos?|tutorials?|articles?|blogs?|posts?|papers?|books?|guides?|read|"
                               r"reading|watch|resources?|references?|links?|talks?|lectures?|series)\b", re.I)


@dataclass(frozen=True)
class Unit:
    """A sentence, list item or table row of a chunk: `quote` is verbatim chunk text, `display`
    is for reading (HTML tags and Q/A prefixes dropped, a row shown with its header)."""

    chunk: Chunk
    index: int
    quote: str
    display: str
    indent: int
    list_item: bool
    parent: int | None  # the line this one hangs under: a lead-in ("Three risk levels:") or a list item
    line_start: bool  # first sentence of its line
    context: str = ""  # what it is embedded with: its lead-in, or a row's table header
    line_lead: bool = False  # first sentence of a line that introduces what follows ("...happens:")
    code: bool = False  # a line of a code block, shown only under the sentence that introduces it

    @property
    def is_lead_in(self) -> bool:
        """A line that introduces the items under it: "Three risk levels:" or a bold title line
        ("**Prompt Engineering is now a thing**"), which notes use as a small heading."""
        text = self.display
        return self.line_lead or text.rstrip("*").rstrip().endswith(":") or bool(_ONLY_BOLD.match(text))

    @property
    def is_title(self) -> bool:
        """A lead-in that says nothing by itself ("What stayed the same:", "**References**")."""
        return self.is_lead_in and (len(self.display) < 40 or bool(_ONLY_BOLD.match(self.display)))

    @property
    def meaning(self) -> str:
        """What the unit says, for embedding: with what it hangs from, links as their text."""
        return _meaning(f"{self.context} {self.display}")

    @property
    def pointer(self) -> bool:
        """A line that sends the reader elsewhere (a reading list's entry) rather than explaining."""
        return bool(_POINTER_LINE.match(self.display)) or (
            self.list_item and bool(_POINTER_LIST.search(self.context)) and len(self.context) < 40)

    @property
    def bold_lead(self) -> bool:
        """A sentence opening with bold words ("**Why this matters:** Text is everywhere"): the
        line's own title, which the rest of the line explains."""
        return self.line_start and self.display.startswith("**")


def split_units(chunk: Chunk) -> list[Unit]:
    units: list[Unit] = []
    open_lines: list[int] = []  # unit index of the first sentence of each enclosing line
    header: list[str] | None = None  # the current table's column names
    # The passage's own heading, without a slide's page or a section's number ("5. Batching").
    title = _plain(re.sub(r"^(?:Page \d+: )?(?:\d+(?:\.\d+)*\.?\s+)?", "", chunk.heading.split(" > ")[-1]))
    in_code = False
    introducing: Unit | None = None  # a line ending with ":" right before a code block
    shown_code = 0
    lines = chunk.text.split("\n")
    for n, line in enumerate(lines):
        if _FENCE.match(line):
            in_code = not in_code
            shown_code = 0
            continue
        if in_code:  # code is shown only under the sentence that introduces it ("Use --x:")
            if introducing is not None and line.strip() and shown_code < 3:
                units.append(Unit(chunk, len(units), line.strip(), f"`{line.strip()}`", introducing.indent + 1,
                                  True, introducing.index, True, code=True))
                shown_code += 1
            continue
        if line.strip():
            introducing = None
        row = _TABLE_ROW.match(line)
        if not row:
            header = None
        if not line.strip() or _RULE.match(line) or _TABLE_RULE.match(line):
            continue
        if row:
            cells = [_TAG.sub("", c).strip() for c in row.group(1).split("|")]  # a badge cell is empty
            if header is None and n + 1 < len(lines) and _TABLE_RULE.match(lines[n + 1]):
                header = cells
                continue
            # Rows of a long table's later chunk have no header above them: shown as plain cells.
            header = header or [""] * len(cells)
            display = " · ".join(f"{h}: {c}" if h else c for h, c in zip(header, cells) if c)
            units.append(Unit(chunk, len(units), line.strip(), _readable(display), 0, False, None, True,
                              context=" | ".join(h for h in header if h)))
            continue
        marker = _LIST_MARK.match(line)
        indent = len(line) - len(line.lstrip())
        body = (line[marker.end():] if marker else line).strip()
        if body.startswith(">"):
            body = body.lstrip("> ").strip()
        if body.startswith(":"):  # a definition list's definition ("Term" then ": what it means")
            body = body[1:].strip()
        if not body or _never_an_answer(body) or (_plain(body) == title and not body.rstrip("*").endswith(":")):
            continue  # the passage's own heading (a slide title) is no answer; a lead-in ending in ":" is kept
        while open_lines and not _encloses(units[open_lines[-1]], indent, bool(marker)):
            open_lines.pop()
        parent = open_lines[-1] if open_lines else None
        first = len(units)
        introduces = body.rstrip("*").rstrip().endswith(":") or bool(_ONLY_BOLD.match(body))
        for i, piece in enumerate(p.strip() for p in sentences(body) if p.strip()):
            display = _readable(piece)
            if i > 0:
                display = display.lstrip("-–— ")  # "food." - a language model: a dash, not a list
            if not display or (i > 0 and _CAPTION.match(display)):
                continue
            context = units[parent].display if parent is not None else ""
            units.append(Unit(chunk, len(units), piece, display, indent, bool(marker), parent,
                              line_start=len(units) == first, context=context,
                              line_lead=introduces and len(units) == first))
        if len(units) > first:
            open_lines.append(first)
            if body.rstrip().endswith(":"):
                introducing = units[first]
    return units


def _never_an_answer(line: str) -> bool:
    """A line a reader skips when looking for the answer: a question (the notes' own question
    lines and Q: lines), a caption, a reference, an image, a bare title ending in '?'."""
    plain = _TAG.sub("", line).replace("**", "").replace("__", "").strip()
    qa = _QA_PREFIX.match(line)
    if qa and qa.group("kind").lower().startswith("q"):
        return True
    return (not plain or plain.endswith("?") or bool(_CAPTION.match(plain)) or bool(_REFERENCE.match(plain))
            or line.lstrip().startswith(("<img", "![", "<figure", "<i>Figure", "<em>Figure")))


def _plain(text: str) -> str:
    return " ".join(_TAG.sub("", text).replace("**", "").replace("__", "").strip().rstrip(":").lower().split())


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


def _meaning(text: str) -> str:
    text = _LINK.sub(r"\1", _LINK.sub(r"\1", text))  # twice: "[![badge](img)](url)"
    return " ".join(_URL.sub("", text).split())


def _readable(text: str) -> str:
    # Bold is kept (it is the notes' own emphasis); unbalanced markers from a split, HTML tags
    # and "A:" prefixes are dropped.
    text = _TAG.sub("", text)
    text = _QA_PREFIX.sub("", text) if _QA_PREFIX.match(text) else text
    if text.count("**") % 2:
        text = text.replace("**", "")
    return " ".join(text.split())


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
        key = chunk.id + chunk.content_hash
        with self._cache_lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        units = split_units(chunk)
        # A unit is embedded with what it hangs from, so "4 MORE months" keeps its subject and a
        # table row its column names.
        texts = [u.meaning for u in units]
        vectors = self.embedder.embed(texts, batch_size=64)
        with self._cache_lock:
            self._cache[key] = (units, vectors)
        return units, vectors

    def pick(self, question: str, hits: list[Hit], *, already_said: set[str] = frozenset(),
             continuing: set[tuple[str, str]] = frozenset(), relative: float = 0.8,
             other_passage: float = 0.9, cue_weight: float = 0.05, most: int = 3) -> Selection:
        """The answering unit first with what it needs to be read (its lead-in, its items), then
        units nearly as good (within `relative` of the best; another entry's within
        `other_passage`), then what follows it in the note, `most` units in all unless a list is
        asked for. When the best unit is one the conversation already showed (`already_said`,
        normalised display texts) and a new one is nearly as good, the new one leads: a
        follow-up starts with what is new."""
        scored = self.score(question, hits, cue_weight, continuing)
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
        block = _with_context(top, units, bool(LIST_QUESTION.search(question)))
        seen = {_key(u) for u in block}
        extra: list[Unit] = [said] if said is not None and _key(said) not in seen else []
        seen |= {_key(u) for u in extra}
        for score, unit in scored:
            if len(block) + len(extra) >= most or score < best * relative:
                break
            if _key(unit) in seen or unit.is_title:
                continue
            if _entry(unit) != _entry(top) and score < best * other_passage:
                continue  # another passage must be nearly as good to be worth a second citation
            extra.append(unit)
            seen.add(_key(unit))
        # Room left: what the note says right after the answer, in reading order.
        for following in units[top.index + 1:]:
            if len(block) + len(extra) >= most or following.is_title:
                break
            if _key(following) not in seen and not following.code:
                extra.append(following)
                seen.add(_key(following))
        order = {h.chunk.id: i for i, h in enumerate(hits)}
        extra.sort(key=lambda u: (order.get(u.chunk.id, 0), u.index))
        return Selection(block + extra, best)

    def score(self, question: str, hits: list[Hit], cue_weight: float = 0.05,
              continuing: set[tuple[str, str]] = frozenset()) -> list[tuple[float, Unit]]:
        """Every unit of the passages with its score, best first; units of the entries in
        `continuing` (what a follow-up points back to) get a small lead."""
        if not hits:
            return []
        q_vec = self.embedder.embed_one(question)
        q_terms = terms(question)
        cues = answer_cues(question)
        wants_reading = bool(_ASKS_FOR_READING.search(question))
        scored: list[tuple[float, Unit]] = []
        seen: set[str] = set()
        for hit in hits:
            units, vectors = self.units(hit.chunk)
            if not units:
                continue
            sims = vectors @ q_vec
            for unit, sim in zip(units, sims):
                if unit.code:
                    continue
                keys = {_key(unit), " ".join(unit.quote.split())}
                if keys & seen:  # overlapping chunks of one entry hold the same sentence twice
                    continue
                seen |= keys
                overlap = len(q_terms & terms(_meaning(unit.display))) / len(q_terms) if q_terms else 0.0
                # The sentence's meaning, and the meaning of its whole passage (which carries
                # the heading: the topic a sentence alone often leaves implicit); shared terms
                # break ties between near paraphrases.
                score = 0.5 * float(sim) + 0.4 * (hit.similarity or 0.0) + 0.1 * overlap
                if any(cue.search(unit.display) for cue in cues):
                    score += cue_weight  # "how long?" wants a duration, "why?" a reason
                if _entry(unit) in continuing:
                    score += cue_weight
                if unit.pointer and not wants_reading:
                    score -= 0.1  # a reading list names where to learn more; the answer is elsewhere
                if _ends_with_colon(unit) and len(unit.display) < 40:
                    score -= 0.05  # a bare "What stayed the same:" says little by itself
                scored.append((score, unit))
        scored.sort(key=lambda s: -s[0])
        return scored


def _entry(unit: Unit) -> tuple[str, str]:
    return unit.chunk.source, unit.chunk.heading


def _key(unit: Unit) -> str:
    return " ".join(unit.display.replace("**", "").lower().split())


def said_in(answer_text: str) -> set[str]:
    """The units an earlier answer showed, as `_key` compares them."""
    out = set()
    for line in answer_text.splitlines():
        line = re.sub(r"(\s*\[\d+\])+\s*$", "", line).strip().lstrip("-*").strip()
        if line:
            out.add(" ".join(line.replace("**", "").lower().split()))
    return out


def _with_context(unit: Unit, units: list[Unit], wants_list: bool) -> list[Unit]:
    """The answering unit with what it needs to be read: a list item's lead-in first; a lead-in's
    items; the item's siblings when they are few or the question asks for several things."""
    picked = [unit]
    line_first = unit if unit.line_start else next(u for u in reversed(units[: unit.index]) if u.line_start)
    if line_first is not unit and line_first.bold_lead:
        picked.insert(0, line_first)  # the line's bold title says what the sentence is about
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
