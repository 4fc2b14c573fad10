"""The answer service: what to search for (follow-ups read with the conversation), whether the
notes cover the question, and the answer: quoted offline, or generated (generation.py) with an LLM.

Both modes share one gate: the notes cover a question when a passage is close to it in meaning or
one of its sentences answers it, and every name the question is about appears in the notes; if
not, the answer says so (naming the nearest topics) instead of quoting something that only looks
alike or letting a model answer from its own memory.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..core.errors import LLMError
from ..core.schema import Answer, Chunk, Citation, Hit
from ..core.text import MARKERS_AT_END, content_words, stem, terms, unmarked
from .concepts import names_something, unknown_names
from .conversation import (
    is_bare,
    last_answer,
    leans_on_conversation,
    llm_search_query,
    looks_like_followup,
    previous_questions,
    refers_back,
    resolve_place,
)
from .cues import (
    answer_cues,
    asks_beyond_notes,
    asks_for_figure,
    has_figure,
    question_parts,
)
from .generation import generate, nearest_topics
from .prompt import NOT_COVERED
from .quoting import Selection, SentencePicker, said_in

if TYPE_CHECKING:
    from ..index.retrieval import Retriever

# The notes cover a question when its best passage is close enough in meaning (dense cosine), or
# when one sentence of the passages answers it well (SentencePicker score: "Would experts labelling
# X-rays be affordable?" matches one sentence of a passage about something broader). Passage
# cosine alone cannot separate in-scope from near-domain questions with a 22M-parameter model;
# the two kinds of evidence together refuse more of them. Calibrated with
# benchmarks/ask_quality.py (figures in the README).
REFUSAL_SIMILARITY = 0.22
SENTENCE_EVIDENCE = 0.28
# A passage this close to the question as a whole answers it even when the question has a
# capitalised word the notes never use (a product the notes call by another name).
STRONG_MATCH = 0.5
# Answers whose best passage is this weak say so, so the learner checks the source.
WEAK_MATCH_SIMILARITY = 0.30
# Longer questions are cut for retrieval: the model reads 256 tokens and nobody asks in 2,000 chars.
MAX_QUESTION_CHARS = 2000
PASSAGES_FOR_LLM = 5
PASSAGES_FOR_EXTRACT = 4
# How far down the search a question asking for a kind of answer none of the passages found holds
# ("Who came up with RAG?") looks for one that holds it.
PASSAGES_FOR_ANSWER_TYPE = 10
# The reply to "ignore your notes and tell me from your own knowledge ..." and to "forget your
# instructions and ...".
ONLY_FROM_NOTES = ("I answer only from your notes, so I can't set them or my instructions aside, or answer "
                   "from memory. Ask me about what they say.")


@dataclass(frozen=True)
class AskConfig:
    refusal_similarity: float = REFUSAL_SIMILARITY
    sentence_evidence: float = SENTENCE_EVIDENCE
    strong_match: float = STRONG_MATCH
    k: int = PASSAGES_FOR_LLM


def clean_question(text: str) -> str:
    """Drop control characters and collapse white space; cut very long input."""
    text = "".join(ch for ch in str(text or "") if unicodedata.category(ch)[0] != "C" or ch in "\n\t")
    return " ".join(text.split())[:MAX_QUESTION_CHARS]


class Answerer:
    def __init__(self, retriever: Retriever, llm=None, config: AskConfig | None = None,
                 picker: SentencePicker | None = None):
        self.retriever = retriever
        self.llm = llm
        self.config = config or AskConfig()
        self.picker = picker or SentencePicker(retriever.embedder)

    @property
    def mode_label(self) -> str:
        return self.llm.model if self.llm else "offline · answers quoted from your notes"

    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        """The final answer, without streaming."""
        answer = None
        for answer in self.stream(question, history):
            pass
        return answer

    def stream(self, question: str, history: list[dict] | None = None) -> Iterator[Answer]:
        """Yields the answer as it grows; the last item has done=True and checked citations."""
        question = clean_question(question)
        # "What does the first of those measure?" is answered as the question about that thing.
        meant = resolve_place(question, history or [])
        for answer in self._stream(meant, history):
            yield answer if meant == question else replace(answer, question=question)

    def _stream(self, question: str, history: list[dict] | None) -> Iterator[Answer]:
        mode = "llm" if self.llm else "offline"
        if not question:
            yield Answer(question, "Ask a question about your notes.", mode, refused=True)
            return
        if asks_beyond_notes(question):
            yield Answer(question, ONLY_FROM_NOTES, mode, refused=True)
            return

        notice = None
        query, hits = self._retrieve(question, history or [])
        # A question that points back ("Why did they stop?") means nothing alone: the notes cover
        # it when they cover it read after the last question.
        about_conversation = self._points_back(question, history or []) or (
            query != question and self._near_conversation(question, history or []))
        # Names the notes never use refuse, and are said in any refusal: "They never mention dropout."
        follow_up = bool(previous_questions(history or [])) and leans_on_conversation(question)
        missing = self._missing_names(question, hits, follow_up=follow_up)
        if missing or not self._covered(query if about_conversation else _focus(question, query), hits):
            yield self._refusal(question, query, hits, mode, missing)
            return
        if _best_similarity(hits) < WEAK_MATCH_SIMILARITY:
            notice = "Weak match: your notes may not answer this directly; check the sources."

        quoted = self._extract(question, query, hits, notice, history or [])
        if asks_for_figure(question) and not has_figure(quoted.text):
            # "What learning rate should I use with LoRA?": passages about LoRA that give no
            # figure do not answer it, however close they are.
            yield self._refusal(question, query, hits, mode, no_figure=True)
            return
        if self.llm:
            try:
                # The offline answer rides along with the generated one ("Show quoted from notes").
                for answer in generate(self.llm, question, query, hits, history or [],
                                       picker=self.picker, quoted=replace(quoted, notice=None)):
                    yield replace(answer, notice=answer.notice or notice)
                return
            except LLMError as exc:
                quoted = replace(quoted, notice=f"{exc} Showing an answer quoted from your notes instead.")
        yield quoted

    def _retrieve(self, question: str, history: list[dict]) -> tuple[str, list[Hit]]:
        """What to search for, and what it finds: the question, or the question read together
        with the previous one when it leans on the conversation."""
        previous = previous_questions(history)
        if self.llm and previous:
            query = llm_search_query(self.llm, question, history)
            return query, self.retriever.search(query, k=self.config.k)
        hits = self.retriever.search(question, k=self.config.k)
        if not previous:
            return question, hits
        if self._covered(question, hits) and not looks_like_followup(question):
            return question, hits
        combined = f"{previous[-1]} {question}"
        points_back = refers_back(question)
        alt = self.retriever.search(question, k=self.config.k, context=previous[-1], points_back=points_back)
        if points_back:
            # "Why do they go in that order?" points back: the passages just quoted come first,
            # found in the library even when search does not find them again. "And why add
            # pooling after it?" names something new within that topic: search finds it, with the
            # earlier question as context, and the passage just quoted stays a candidate.
            quoted = self._conversation_passages(question, history)
            if not self._new_terms(question, history):
                return combined, _merged(quoted, alt)
            return combined, _merged(alt[:PASSAGES_FOR_EXTRACT - 1], quoted[:1], alt)
        # A question bringing words the notes never use has a topic of its own ("How does LoRA
        # cut memory?", "And what is the capital of France?") and is judged alone. It is read
        # with the previous question when all its words are the notes' own ("What was the third
        # factor?") or when it is a bare continuation sharing some ("And the sound people?").
        words = " ".join(content_words(question))
        known = self.retriever.known_terms(words)
        if alt and known and (looks_like_followup(question) or not self.retriever.unknown_terms(words)
                              or self._near_conversation(question, history)):
            return combined, alt
        return question, hits

    def _conversation_passages(self, question: str, history: list[dict]) -> list[Hit]:
        """The passages the last answer quoted, as hits for `question` read after the last question."""
        chunks = self._quoted_chunks(last_answer(history))
        return self.retriever.scored(chunks, question, context=previous_questions(history)[-1]) if chunks else []

    def _quoted_chunks(self, answer_text: str) -> list[Chunk]:
        """The passages an earlier answer quoted from, wherever they are in the notes."""
        lines = _quoted_lines(answer_text)
        return self.retriever.containing(lines) if lines else []

    def _points_back(self, question: str, history: list[dict]) -> bool:
        """A follow-up about what the conversation said ("Why did they stop supporting the older
        one?"), not one with a topic of its own that happens to hold a pronoun ("How do I repot an
        orchid without hurting its roots?"): its words are the notes' own, or the conversation's."""
        previous = previous_questions(history)
        if not previous or not refers_back(question):
            return False
        said = terms(f"{previous[-1]} {last_answer(history)}")
        return not self.retriever.unknown_terms(" ".join(content_words(question))) or bool(terms(question) & said)

    def _near_conversation(self, question: str, history: list[dict]) -> bool:
        """Whether a question is as close in meaning to the last question and answer as a passage
        must be to answer it: "Cheaper compared with what, exactly?" after an answer about costs."""
        previous = previous_questions(history)
        if not previous:
            return False
        said = f"{previous[-1]} {unmarked(last_answer(history))}"
        # embed_one remembers recent texts: the question was embedded for search already, and
        # the conversation is embedded once though both retrieval and the gate ask.
        embed = self.picker.embedder.embed_one
        return float(embed(question) @ embed(said)) >= self.config.refusal_similarity

    def _new_terms(self, question: str, history: list[dict]) -> set[str]:
        """Terms of a follow-up that the last question and answer did not use and the notes do:
        what it brings that is new."""
        said = terms(" ".join(previous_questions(history)[-1:]) + " " + last_answer(history))
        # Words, not stems, go to the notes' vocabulary: it stems them itself ("verbosity").
        return {s for w in content_words(question) if (s := stem(w)) not in said and self.retriever.known_terms(w)}

    def _covered(self, focus: str, hits: list[Hit]) -> bool:
        """Whether the passages found answer the question (see SENTENCE_EVIDENCE)."""
        if _best_similarity(hits) >= self.config.refusal_similarity:
            return True
        return self._select(focus, hits).best_score >= self.config.sentence_evidence

    def _missing_names(self, question: str, hits: list[Hit], follow_up: bool) -> list[str]:
        """Names the question is about that the notes never use and the passages found do not
        spell out: the passages only look alike (see concepts.py). A capitalised word alone may
        be emphasis, a detail of a topic the conversation has set, or another word for what the
        passage says, so it counts only in a question on its own (a first one, or one that does
        not lean on the conversation: `follow_up` is False) whose passages do not match it well
        as a whole."""
        passages = [f"{h.chunk.heading}\n{h.chunk.text}" for h in hits]
        # A compound ("self-attention") is known when the notes use each of its words.
        unknown = unknown_names(question, passages, known=lambda t: bool(self.retriever.known_terms(t))
                                and not self.retriever.unknown_terms(t))
        if follow_up or _best_similarity(hits) >= self.config.strong_match:
            unknown = [n for n in unknown if n.strong]
        return list(dict.fromkeys(n.text for n in unknown))

    def _select(self, focus: str, hits: list[Hit], history: list[dict] = (), points_back: bool = False,
                parts: list[str] = (), new_terms: set[str] = frozenset(), stays: bool = False) -> Selection:
        """The units that answer, read from whole entries: a passage found by search brings the
        other parts of its entry (small-to-big), so an answer is never cut at a chunk boundary. A
        follow-up that `stays` is answered from what the last answer quoted when that answers it."""
        passages: list[Hit] = []
        seen: set[str] = set()
        for hit in hits[:PASSAGES_FOR_EXTRACT]:
            for chunk in self.retriever.entry_of(hit.chunk):
                if chunk.id not in seen:
                    seen.add(chunk.id)
                    passages.append(hit if chunk.id == hit.chunk.id else replace(hit, chunk=chunk))
        already_said = last_answer(list(history))
        # "it", "that": a follow-up that points back is most likely about what was just quoted.
        continuing = {(c.source, c.heading) for c in self._quoted_chunks(already_said)} if points_back else set()
        return self.picker.pick(focus, passages, already_said=said_in(already_said), continuing=continuing,
                                parts=parts, new_terms=new_terms,
                                stay_above=self.config.sentence_evidence if stays else None)

    # --- offline ------------------------------------------------------------------------------

    def _with_answer_type(self, focus: str, query: str, hits: list[Hit]) -> list[Hit]:
        """The passages to quote from. When a question asks for a kind of answer (who came up
        with it, a year, a number: cues.answer_cues) that none of them holds, the first passage
        further down the search that holds one takes the last place: "Who came up with RAG, and
        when?" is answered by the card naming Lewis et al. (2020), not by cards on what RAG does."""
        cues = answer_cues(focus)
        quoted = hits[:PASSAGES_FOR_EXTRACT]
        if not cues or any(self._holds(hit, cues) for hit in quoted):
            return hits
        ids = {hit.chunk.id for hit in quoted}
        typed = next((hit for hit in self.retriever.search(query, k=PASSAGES_FOR_ANSWER_TYPE)
                      if hit.chunk.id not in ids and self._holds(hit, cues)), None)
        return hits if typed is None else _merged(quoted[:-1], [typed], hits)

    def _holds(self, hit: Hit, cues: list[re.Pattern]) -> bool:
        """Whether a passage's entry holds a unit of the kind of answer `cues` describe."""
        return any(self.picker.holds(chunk, cues) for chunk in self.retriever.entry_of(hit.chunk))

    def _extract(self, question: str, query: str, hits: list[Hit], notice: str | None,
                 history: list[dict] = ()) -> Answer:
        focus = _focus(question, query)
        hits = self._with_answer_type(focus, query, hits)
        # The questions the learner asked in one ("What is X, and how much did it improve Y?");
        # a question read with the previous one is one question.
        parts = question_parts(question) if focus == question else []
        # "And verbosity bias?" is chosen for with the last question's words, as it has no verb
        # of its own; what it names leads over what the last answer already said.
        new_terms = self._new_terms(question, list(history)) if history and focus != question else set()
        points_back = bool(history) and refers_back(question)
        # "Why is that useful in practice?" names nothing of its own: it is about what the last
        # answer quoted, not about whatever else "useful" or "practice" finds.
        stays = points_back and not names_something(question, [h.chunk.title for h in hits])
        selection = self._select(focus, hits, history, parts=parts, new_terms=set() if stays else new_terms,
                                 points_back=points_back, stays=stays)
        numbers: dict[str, int] = {}
        quotes: dict[str, list[str]] = {}
        lines: list[str] = []
        depth: dict[tuple[str, int], int] = {}
        for unit in selection.units:
            n = numbers.setdefault(unit.chunk.id, len(numbers) + 1)
            quotes.setdefault(unit.chunk.id, []).append(unit.quote)
            # Items keep their nesting under the lines they hang from, as in the note.
            level = depth.get((unit.chunk.id, unit.parent), -1) + 1 if unit.parent is not None else 0
            depth[(unit.chunk.id, unit.index)] = level
            prefix = "  " * (level - 1) + "- " if level else ""
            lines.append(f"{prefix}{unit.display} [{n}]")
        by_id = {u.chunk.id: u.chunk for u in selection.units}
        citations = tuple(
            Citation(n, by_id[cid], tuple(quotes[cid])) for cid, n in numbers.items()
        )
        return Answer(question, _join(lines), "offline", citations=citations, retrieved=tuple(hits),
                      notice=notice, search_query=query)

    def _refusal(self, question: str, query: str, hits: list[Hit], mode: str,
                 missing: list[str] = (), no_figure: bool = False) -> Answer:
        topics = nearest_topics(hits)
        text = NOT_COVERED
        if missing:
            text += f" They never mention {' or '.join(missing[:3])}."
        if no_figure:
            text += " The passages found give no figure for it."
        if topics:
            text += " The closest topics in your notes are: " + "; ".join(topics) + "."
        return Answer(question, text, mode, refused=True, retrieved=tuple(hits),
                      search_query=query, suggestions=tuple(topics))

    # --- LLM ----------------------------------------------------------------------------------

def _focus(question: str, query: str) -> str:
    """What sentences are chosen for: passages were found with the conversation's help, sentences
    are chosen for the question itself unless it is too bare to choose by ("and why?") or borrows
    the last question's verb ("And the sound people?")."""
    elliptical = _ELLIPSIS.match(question) and len(question.split()) <= 5
    return query if is_bare(question) or elliptical else question


# "And the sound people?", "What about Kafka?": no question of its own. "And what's this
# frankenmerging thing?" asks its own question.
_ELLIPSIS = re.compile(r"^\s*(?:(?:and|but|or|also)\s+(?!(?:what|how|why|which|who|whom|whose|where|when|is|are|"
                       r"was|were|does|do|did|can|could|should|would|will)\b)|what about\b|how about\b)", re.I)


def _merged(*groups: list[Hit]) -> list[Hit]:
    """The hits of every group in order, each passage once."""
    seen: set[str] = set()
    return [h for group in groups for h in group if not (h.chunk.id in seen or seen.add(h.chunk.id))]


def _quoted_lines(answer_text: str) -> list[str]:
    """The quoted lines of an earlier answer, without markers, list dashes and bold marks."""
    lines = [MARKERS_AT_END.sub("", line).strip().lstrip("- ").replace("**", "")
             for line in answer_text.splitlines()]
    return [unmarked(line) for line in lines if len(line) > 15]


def _best_similarity(hits: list[Hit]) -> float:
    return max((h.similarity for h in hits if h.similarity is not None), default=0.0)


def _join(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if out and (line.lstrip().startswith("- ") != out[-1].lstrip().startswith("- ")):
            out.append("")  # a blank line between prose and a list, so Markdown renders both
        out.append(line)
    return "\n".join(out)
