"""The quiz: questions from the notes, answers checked against their source, reviews scheduled.

`services.quiz` is what the CLI and the app call:

    quiz = services.quiz
    session = quiz.session(learner, n=10, topics=["notes.md › Chunking"])
    verdict = quiz.check(item, "the learner's answer")
    quiz.record(learner, item, rating, verdict)

Offline (the default) questions come from `generate`; with an LLM configured, new questions
also come from the model (`llm_items`), and any model failure falls back to offline questions and
grading, with the model's one-sentence error in `notice`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from ..core.errors import AssistantError, IndexMissing, LLMError
from ..core.schema import Chunk
from .checking import Verdict, check_choice, check_exact, grade_by_meaning
from .generate import OfflineGenerator
from .items import QuizItem, heading_parts, matches_any, topic_label
from .review_terms import DEFAULT_LEARNER, RATINGS, Review, format_interval, utcnow

if TYPE_CHECKING:
    from ..index.embeddings import Embedder
    from .scheduling import ReviewStore, SyncReport

# With an LLM, at most this many passages are sent to it when a session needs new questions.
LLM_PASSAGES_PER_SESSION = 4
FALLBACK = "Questions and grading come from your notes offline instead."


@dataclass
class Session:
    items: list[QuizItem]
    notice: str = ""
    due: int = 0  # how many of `items` are reviews (the rest are new)
    counts: dict = field(default_factory=dict)


class Quiz:
    """`chunks`, `embedder` and `llm` are called when needed, so offline questions never load the
    embedding model and a missing LLM costs nothing."""

    def __init__(self, reviews: Callable[[], ReviewStore], chunks: Callable[[], list[Chunk]],
                 embedder: Callable[[], Embedder], llm: Callable[[], object | None] = lambda: None):
        self._reviews = reviews
        self._chunks = chunks
        self._embedder = embedder
        self._llm = llm
        self._synced: tuple | None = None
        self._lock = threading.Lock()

    @cached_property
    def store(self) -> ReviewStore:
        """The progress database, opened on first use: the app serves its page before loading
        SQLAlchemy, then opens it (app.py), so a bad database URL still stops it with one sentence."""
        return self._reviews()

    # --- notes ----------------------------------------------------------------------------

    def chunks(self) -> list[Chunk]:
        return sorted(self._chunks(), key=lambda c: (c.source, c.start, c.id))

    def prepare(self, now: datetime | None = None) -> SyncReport | None:
        """Bring the questions in line with the index: new passages get questions, changed or
        removed ones have theirs retired. Cheap when nothing changed."""
        chunks = self.chunks()
        if not chunks:
            raise IndexMissing(
                "No notes are indexed yet; put notes in the knowledge folder and run python ingest.py."
            )
        path = self.store.path
        fingerprint = (frozenset((c.id, c.content_hash) for c in chunks),
                       path.stat().st_ino if path.exists() else None)
        with self._lock:
            if fingerprint == self._synced:
                return None
            generator = OfflineGenerator(chunks)
            report = self.store.sync(chunks, generator.generate_all, now)
            self._synced = (fingerprint[0], path.stat().st_ino)
            return report

    def topics(self) -> list[str]:
        """Notes and their sections, in reading order, as the learner can pick them."""
        out: list[str] = []
        for chunk in self.chunks():
            for label in (chunk.source, topic_label(chunk.source, chunk.heading)):
                if label not in out:
                    out.append(label)
        return out

    def llm(self):
        """The configured model, or None offline (or when the LLM module is unavailable)."""
        try:
            return self._llm()
        except (ImportError, AssistantError):
            return None

    # --- sessions -------------------------------------------------------------------------

    def session(self, learner: str = DEFAULT_LEARNER, n: int = 10, topics: list[str] | None = None,
                *, due_only: bool = False, now: datetime | None = None,
                limit_new: bool = True) -> Session:
        """Due reviews first (most overdue first), then new questions up to `n`, spread across
        passages; new ones are capped by the daily limit unless `limit_new` is False."""
        now = now or utcnow()
        self.prepare(now)
        topics = [t for t in (topics or []) if t and t.strip()]
        if topics and not any(matches_any(topics, c.source, c.heading) for c in self.chunks()):
            raise AssistantError(
                f"No notes match the topic {', '.join(repr(t) for t in topics)}; "
                "pick a note or section name from the list of topics."
            )
        items = self.store.due_items(learner, now, topics, limit=n)
        due = len(items)
        notice = ""
        if not due_only and len(items) < n:
            room = n - len(items)
            if limit_new:
                room = min(room, self.store.new_left_today(learner, now))
            if room > 0:
                llm = self.llm()
                if llm is not None:
                    notice = self._add_llm_items(llm, topics, room, now)
                fresh = self.store.new_items(learner, topics)
                if llm is not None:
                    fresh.sort(key=lambda i: i.origin != "llm")
                items += fresh[:room]
        return Session(items, notice, due, self.store.counts(learner, now, topics))

    def _add_llm_items(self, llm, topics: list[str], room: int, now: datetime) -> str:
        from . import llm_items

        done = self.store.passages_done("llm")
        todo = [c for c in self.chunks()
                if matches_any(topics, c.source, c.heading) and (c.source, c.content_hash) not in done]
        wanted = min(LLM_PASSAGES_PER_SESSION, -(-room // llm_items.ITEMS_PER_PASSAGE))
        embedder = self._embedder()
        for chunk in todo[:wanted]:
            try:
                items = llm_items.generate(llm, chunk, embedder)
            except LLMError as exc:
                return f"{exc} {FALLBACK}"
            self.store.add_items(items, "llm", [chunk], now)
        return ""

    # --- answers --------------------------------------------------------------------------

    def check(self, item: QuizItem, given: str) -> Verdict:
        """Multiple choice and cloze exactly; typed free answers by meaning (or by the LLM)."""
        given = (given or "").strip()
        if item.type == "mcq":
            return check_choice(given, item.answer, item.options or [])
        if item.type == "cloze":
            return check_exact(given, item.answer, item.accept)
        if not given:  # a flashcard turned over: the learner grades themselves
            return Verdict(None, item.answer, "", None, "")
        notice = ""
        if item.type == "short":
            llm = self.llm()
            if llm is not None:
                from . import llm_items

                try:
                    return llm_items.grade(llm, item, given)
                except LLMError as exc:
                    notice = f"{exc} {FALLBACK}"
        verdict = grade_by_meaning(given, item.answer, self._embedder())
        verdict.notice = notice
        return verdict

    def preview(self, learner: str, item: QuizItem, now: datetime | None = None) -> dict[int, str]:
        """Rating -> when the card comes back, as the rating buttons show it."""
        return {r: format_interval(d) for r, d in self.store.preview(learner, item.id, now).items()}

    def record(self, learner: str, item: QuizItem, rating: int, verdict: Verdict | None = None,
               now: datetime | None = None, duration_ms: int | None = None) -> Review:
        return self.store.review(
            learner, item.id, rating, now,
            correct=None if verdict is None else verdict.correct,
            overruled=bool(verdict and verdict.overruled),
            answer=None if verdict is None else verdict.given, duration_ms=duration_ms,
        )

    def item(self, item_id: str) -> QuizItem | None:
        found = self.store.items([item_id], active=False)
        return found[0] if found else None


def rating_name(rating: int) -> str:
    return RATINGS[int(rating)]


def where(item: QuizItem) -> str:
    """'note.md › Section › Subsection' for a passage."""
    parts = heading_parts(item.heading)[1:]
    return " › ".join([item.source, *parts])
