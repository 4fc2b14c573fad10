"""Answers written by an OpenAI-compatible model from numbered passages (the prompt: prompt.py),
and the checks every generated answer goes through.

After generation every sentence is checked against the passage it cites (core/support.py): a
sentence its citation holds keeps it, one another passage holds is cited there, an uncited one a
passage holds gets that marker, and one no passage holds is struck and marked "(not in your
notes)", so a number or a name found in no passage is never shown as fact. The answer gets a
verdict: supported, partly or unsupported. Markers are renumbered 1..n in order of use.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..core.schema import Answer, Citation, Hit, SentenceCheck
from ..core.support import Passage as Evidence
from ..core.support import is_claim, plain, support
from ..core.text import sentence_spans
from .prompt import NOT_COVERED, PROMPT_TOKENS, Shown, build_prompt

if TYPE_CHECKING:
    from .quoting import SentencePicker

NOT_IN_NOTES = "(not in your notes)"
UNSUPPORTED_NOTICE = "The model's answer was not in your notes; showing an answer quoted from them instead."
# A tutor's answer is a few sentences: at ~9 tokens/s on a laptop CPU, 150 tokens is ~17 s, and
# what a small model writes past its third sentence is mostly padding the check strikes.
ANSWER_TOKENS = 150
TEMPERATURE = 0.1
_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
# What small models write instead of "[2]": "[Passage 2]", "[1 and 3]", "[^2]", "【2】".
_MARKER_VARIANT = re.compile(
    r"[\[【]\s*\^?\s*(?:passages?|source|ref)?\s*(\d+(?:\s*(?:,|and|&)\s*(?:passage\s*)?\d+)*)\s*[\]】]", re.IGNORECASE)
_LINE_PREFIX = re.compile(r"^(\s*(?:[-*+]|\d+[.)])\s+|\s*)")
_TRAILING = re.compile(r"([\s.!?;:,]*)$")
# A sentence saying the passages lack something is about the passages, not the subject.
_REFUSAL = re.compile(
    r"(don'?t|do not|does not|doesn'?t|cannot|can'?t|not)\s+(?:\w+\s+){0,3}?"
    r"(cover|mention|say|answer|contain|provide|include|address|specify|state)", re.IGNORECASE)
_ABOUT_SOURCES = re.compile(r"\b(notes?|passages?|context|provided text)\b", re.IGNORECASE)


# --- generation -------------------------------------------------------------------------------


def generate(llm, question: str, query: str, hits: list[Hit], history: list[dict], *,
             picker: SentencePicker | None = None, quoted: Answer | None = None) -> Iterator[Answer]:
    """Stream a model's answer from numbered passages; the last item is checked sentence by
    sentence. `quoted` (the offline answer) rides along, so the learner can read the notes' words."""
    prompt = build_prompt(question, hits, history, picker=picker,
                          budget=int(getattr(llm, "prompt_tokens", PROMPT_TOKENS)))
    extra = {"quoted": quoted.text, "quoted_citations": quoted.citations} if quoted is not None else {}
    text = ""
    for delta in llm.stream(prompt.messages, max_tokens=ANSWER_TOKENS, temperature=TEMPERATURE):
        text += delta
        yield Answer(question, text, "llm", retrieved=tuple(hits), search_query=query, done=False, **extra)
    answer = check_answer(Answer(question, text.strip(), "llm", retrieved=tuple(hits), search_query=query, **extra),
                          prompt.passages, picker=picker)
    if answer.verdict == "unsupported" and quoted is not None and quoted.citations:
        # Nothing the model wrote is in the notes: the notes' own words instead, and why.
        answer = replace(quoted, notice=UNSUPPORTED_NOTICE, verdict="unsupported", checks=answer.checks,
                         quoted=quoted.text, quoted_citations=quoted.citations)
    yield answer


# --- checking ---------------------------------------------------------------------------------


@dataclass(eq=False)
class _Sentence:
    claim: str  # the sentence without its markers
    cited: list[int]  # retrieved numbers (1-based positions in Answer.retrieved)
    status: str = "neutral"
    final: tuple[int, ...] = ()  # retrieved numbers it is cited with after the check
    reason: str = ""
    quotes: dict[int, str] | None = None  # retrieved number -> the passage unit that holds it


def check_answer(answer: Answer, shown: Sequence[Shown] | None = None, *,
                 picker: SentencePicker | None = None) -> Answer:
    """Check a generated answer sentence by sentence against the passages it cites (see the
    module's docstring). `shown` maps the prompt's passage numbers to hits (default: the
    retrieved passages in order); without `picker` no embedding similarity is used."""
    hits = list(answer.retrieved)
    position = {h.chunk.id: i for i, h in enumerate(hits, start=1)}
    if shown is None:
        shown = [Shown(i, h, h.chunk.text) for i, h in enumerate(hits, start=1)]
    to_retrieved = {s.n: position[s.hit.chunk.id] for s in shown if s.hit.chunk.id in position}
    lines = _parse(_normalise_markers(answer.text), to_retrieved)
    seen: set[str] = set()
    once = []
    for prefix, sentences in lines:  # a small model looping: each sentence once
        kept = []
        for sentence in sentences:
            if _said(sentence.claim) not in seen:
                seen.add(_said(sentence.claim))
                kept.append(sentence)
        if kept or not sentences:  # a line that only repeats earlier ones goes
            once.append((prefix, kept))
    lines = once
    every = [s for _, sentences in lines for s in sentences]
    refusals = [s for s in every if _is_refusal(s.claim)]
    _judge([s for s in every if s not in refusals], hits, answer.question, picker,
           shown_first=[to_retrieved[n] for n in sorted(to_retrieved)])
    as_fact = [s for s in every if s.status in ("supported", "recited", "added")]
    if refusals and not as_fact:
        return replace(answer, text=NOT_COVERED, refused=True, citations=(), verdict=None,
                       suggestions=tuple(nearest_topics(hits)), checks=tuple(
                           SentenceCheck(s.claim, "neutral") for s in refusals))

    order: dict[int, int] = {}  # retrieved number -> final marker, in order of use
    out_lines = []
    for prefix, sentences in lines:
        rendered = []
        for s in sentences:
            if s in refusals:
                continue  # "the notes don't say X" beside an answer that says X
            numbers = [order.setdefault(n, len(order) + 1) for n in s.final]
            rendered.append(_render_sentence(s, numbers))
        if rendered or not sentences:
            out_lines.append(prefix + " ".join(rendered))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(out_lines)).strip()

    quotes: dict[int, list[str]] = {}
    for s in as_fact:
        for n, quote in (s.quotes or {}).items():
            if n in s.final and quote not in quotes.setdefault(n, []):
                quotes[n].append(quote)
    citations = tuple(Citation(new, hits[old - 1].chunk, tuple(quotes.get(old, ())))
                      for old, new in order.items())
    claims = [s for s in every if s.status != "neutral" and s not in refusals]
    if not as_fact:
        verdict = "unsupported"
    elif len(as_fact) == len(claims):
        verdict = "supported"
    else:
        verdict = "partly"
    checks = tuple(SentenceCheck(s.claim, s.status, tuple(order[n] for n in s.final), s.reason)
                   for s in every if s not in refusals)
    return replace(answer, text=text, citations=citations, verdict=verdict, checks=checks,
                   unsupported=verdict == "unsupported")


def _normalise_markers(text: str) -> str:
    return _MARKER_VARIANT.sub(lambda m: "[" + ", ".join(re.findall(r"\d+", m.group(1))) + "]", text)


def _parse(text: str, to_retrieved: dict[int, int]) -> list[tuple[str, list[_Sentence]]]:
    """Lines (with their list prefix) of sentences with their markers; a marker standing alone
    ("... slow. [1]") belongs to the sentence before it."""
    lines: list[tuple[str, list[_Sentence]]] = []
    previous: _Sentence | None = None
    for line in text.split("\n"):
        prefix = _LINE_PREFIX.match(line).group(1)
        body = line[len(prefix):]
        sentences: list[_Sentence] = []
        for a, b in sentence_spans(body):
            piece = body[a:b]
            cited = [to_retrieved[int(n)] for group in _MARKER.findall(piece)
                     for n in group.split(",") if int(n) in to_retrieved]
            lead = re.match(r"^\s*((?:\[\d+(?:\s*,\s*\d+)*\]\s*)+)", piece)
            claim = _MARKER.sub("", piece)
            claim = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(claim.split())).strip()
            if not re.search(r"\w", claim):  # only markers: they cite the sentence before
                if previous is not None:
                    previous.cited += [n for n in cited if n not in previous.cited]
                continue
            if lead and previous is not None and not previous.cited:
                moved = [to_retrieved[int(n)] for n in re.findall(r"\d+", lead.group(1)) if int(n) in to_retrieved]
                previous.cited += moved
                cited = [n for n in cited if n not in moved]
            sentence = _Sentence(claim, list(dict.fromkeys(cited)))
            sentences.append(sentence)
            previous = sentence
        lines.append((prefix if sentences else "", sentences))
    return lines


def _said(claim: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", claim.lower()).split())


def _is_refusal(claim: str) -> bool:
    low = claim.lower()
    if NOT_COVERED.lower().rstrip(".") in low.replace("’", "'") or "notes don't cover" in low:
        return True
    return bool(_REFUSAL.search(claim) and _ABOUT_SOURCES.search(claim)) and len(claim) < 200


def _judge(sentences: list[_Sentence], hits: list[Hit], question: str, picker, shown_first: list[int]) -> None:
    """Set each sentence's status, final citations and quotes."""
    if not sentences:
        return
    evidence = {i: Evidence(h.chunk.text, h.chunk.heading) for i, h in enumerate(hits, start=1)}
    sims, best_units = _similarities([s.claim for s in sentences], hits, picker)
    candidates = shown_first + [n for n in evidence if n not in shown_first]
    for k, s in enumerate(sentences):
        if s.claim.rstrip().endswith("?"):
            s.status, s.final = "neutral", ()  # a question (often the learner's, echoed) states nothing
            continue
        if not is_claim(s.claim, question):
            s.status, s.final = "neutral", tuple(s.cited)
            continue
        results = {n: support(s.claim, evidence[n], question=question, similarity=sims[k].get(n, 0.0),
                              nearest=best_units[k].get(n, ""))
                   for n in candidates}
        s.quotes = {n: best_units[k][n] for n in best_units[k]}
        held = [n for n in s.cited if results[n].ok]
        if not held and len(s.cited) > 1:  # "A [1] and B [2]": the passages together
            union = Evidence("\n".join(hits[n - 1].chunk.text for n in s.cited),
                             " ".join(hits[n - 1].chunk.heading for n in s.cited))
            if support(s.claim, union, question=question,
                       similarity=max(sims[k].get(n, 0.0) for n in s.cited)).ok:
                held = list(s.cited)
        if held:
            s.status, s.final = "supported", tuple(held)
            continue
        others = [n for n in candidates if results[n].ok]
        if others:
            best = max(others, key=lambda n: (results[n].coverage + results[n].similarity, -candidates.index(n)))
            s.status, s.final = ("recited" if s.cited else "added"), (best,)
            continue
        s.status, s.final = "struck", ()
        nearest = s.cited[0] if s.cited else max(candidates, key=lambda n: results[n].coverage)
        r = results[nearest]
        if r.missing and all(results[n].missing for n in candidates):
            s.reason = f"not in any passage: {', '.join(r.missing)}"
        elif r.contradicts:
            s.reason = f"passage {nearest} says the opposite"
        else:
            s.reason = f"{r.coverage:.0%} of its words in passage {nearest}, similarity {r.similarity:.2f}"


def _similarities(claims: list[str], hits: list[Hit], picker) -> tuple[list[dict[int, float]], list[dict[int, str]]]:
    """Per claim: the best cosine to a sentence of each passage, and that sentence (verbatim)."""
    sims: list[dict[int, float]] = [{} for _ in claims]
    quotes: list[dict[int, str]] = [{} for _ in claims]
    if picker is None or not claims:
        return sims, quotes
    vectors = picker.embedder.embed([plain(c) for c in claims])
    for n, hit in enumerate(hits, start=1):
        units, unit_vectors = picker.units(hit.chunk)
        if not units:
            continue
        scores = np.asarray(unit_vectors) @ np.asarray(vectors).T  # units x claims
        for k in range(len(claims)):
            best = int(np.argmax(scores[:, k]))
            sims[k][n] = float(scores[best, k])
            quotes[k][n] = units[best].quote
    return sims, quotes


def _render_sentence(s: _Sentence, numbers: list[int]) -> str:
    claim = s.claim.replace("~~", "")
    if s.status == "struck":
        return f"~~{claim}~~ *{NOT_IN_NOTES}*"
    if not numbers:
        return claim
    end = _TRAILING.search(claim)
    body, tail = claim[: end.start()], end.group(1).strip()
    return f"{body} " + "".join(f"[{n}]" for n in numbers) + tail


# --- kept for callers that only need markers checked ------------------------------------------


def check_citations(answer: Answer) -> Answer:
    """Keep markers that point to a retrieved passage, renumber them 1..n in order of use,
    and flag an answer that cites nothing (or says it is not covered)."""
    hits = answer.retrieved
    order: dict[int, int] = {}

    def renumber(match: re.Match) -> str:
        kept = []
        for part in match.group(1).split(","):
            n = int(part)
            if 1 <= n <= len(hits):
                kept.append(order.setdefault(n, len(order) + 1))
        return "".join(f"[{k}]" for k in dict.fromkeys(kept))

    text = _MARKER.sub(renumber, answer.text)
    text = re.sub(r"[ \t]+([.,;:])", r"\1", text).strip()
    citations = tuple(Citation(new, hits[old - 1].chunk) for old, new in order.items())
    refused = NOT_COVERED.lower().rstrip(".") in text.lower() and not citations
    if refused:
        return replace(answer, text=text, refused=True, suggestions=tuple(nearest_topics(list(hits))))
    return replace(answer, text=text, citations=citations, unsupported=not citations)


def nearest_topics(hits: list[Hit], n: int = 3) -> list[str]:
    topics: list[str] = []
    for hit in hits:
        name = hit.chunk.title if hit.chunk.heading else hit.chunk.source
        if name not in topics:
            topics.append(name)
    return topics[:n]
