"""Study: the door between Ask and Quiz.

    study = Study(services.quiz)
    session = study.session_for(answer_chunks, learner, n=3)   # "quiz me on this"
    study.next(learner)        # what to study now: due, weakest, unstudied topics
    study.memory(learner, answer_chunks)   # chunk id -> "reviewed 12 days ago · recall ~70%"
    item = study.check_question(answer_chunks, learner)        # study mode: ask before telling
    study.explain(item)        # an Answer: the card's question answered from the card's passage

Items for a set of passages are the stored items of exactly those passages (the ones the quiz
already schedules, so a review here is a review there); a passage without any gets a new one,
from the LLM when one is configured or else offline ("what do your notes say about ...?").
Recall is FSRS's predicted retrievability now, on FSRS's forgetting curve with the time since the
last review in fractional days (`recall`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ..core.errors import LLMError
from ..core.schema import Answer, Chunk, Citation
from .cards import State
from .checking import Verdict, normalize
from .items import QuizItem, topic_label
from .reading import first_sentences, plain
from .review_terms import DEFAULT_LEARNER, LEARN_AHEAD, Review, day_start, utcnow
from .service import FALLBACK, Quiz, Session
from .study_text import (  # noqa: F401  (missed is part of this module's interface)
    answer_sentences,
    explain_question,
    join_quotes,
    missed,
    recall_items,
)

STUDY_MODE = "study_mode"  # the learner's preference key: "1" asks a check question first
STUDY_ORIGIN = "study"  # passages that got a question here because they had none


@dataclass(frozen=True)
class Memory:
    """What this learner remembers of one passage: its items they reviewed, when, recall now."""

    items: int
    last_reviewed: datetime
    recall: float  # mean predicted recall of those items, 0-1

    def days_ago(self, now: datetime | None = None) -> int:
        now = now or utcnow()
        return max(0, (now.astimezone().date() - self.last_reviewed.astimezone().date()).days)

    def label(self, now: datetime | None = None) -> str:
        """'reviewed 12 days ago · recall ~70%' (recall to the nearest 5%)."""
        days = self.days_ago(now)
        when = "today" if days == 0 else "yesterday" if days == 1 else f"{days} days ago"
        return f"reviewed {when} · recall ~{round(self.recall * 20) * 5}%"


@dataclass(frozen=True)
class Topic:
    topic: str  # "source › section", as the quiz's topic filter takes it
    items: int
    recall: float | None  # None: never studied

    def to_dict(self) -> dict:
        return {"topic": self.topic, "items": self.items,
                "recall": None if self.recall is None else round(self.recall, 3)}


@dataclass
class Next:
    """What to study now. `due`: topics with reviews due (items = how many), lowest predicted
    recall first;
    `weakest`: other studied topics, lowest predicted recall first (items = items studied);
    `unstudied`: topics with questions the learner has never reviewed any of, in reading order
    (items = questions waiting)."""

    due: list[Topic] = field(default_factory=list)
    weakest: list[Topic] = field(default_factory=list)
    unstudied: list[Topic] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.due or self.weakest or self.unstudied)

    def to_dict(self) -> dict:
        return {"due": [t.to_dict() for t in self.due], "weakest": [t.to_dict() for t in self.weakest],
                "unstudied": [t.to_dict() for t in self.unstudied]}


class Study:
    def __init__(self, quiz: Quiz):
        self.quiz = quiz

    @property
    def store(self):
        return self.quiz.store  # opened on first use (Quiz.store)

    # --- items for passages ("quiz me on this", the check question) ---------------------------

    def session_for(self, chunks: list[Chunk], learner: str = DEFAULT_LEARNER, n: int = 3,
                    now: datetime | None = None, focus: str = "") -> Session:
        """Up to `n` items of exactly these passages (an answer's citations), spread across them in
        citation order: due reviews first, then questions never seen, then the least recalled;
        within each, items whose answer the text `focus` (the answer shown) contains go first."""
        now = now or utcnow()
        chunks = _distinct(chunks)
        if not chunks:
            return Session([], counts=self.store.counts(learner, now))
        self.quiz.prepare(now)
        notice = self._ensure_items(chunks, now)
        items = self.store.passage_items([(c.source, c.content_hash) for c in chunks])
        cards = {r["item_id"]: r["card"] for r in self.store.studied(learner)}
        by_passage: dict[tuple[str, str], list[QuizItem]] = defaultdict(list)
        for item in items:
            by_passage[(item.source, item.content_hash)].append(item)
        queues = []
        focus_norm = f" {normalize(focus)} " if focus else ""
        for chunk in chunks:  # each item shown as the cited passage (same text, its chunk id)
            queue = [replace(i, chunk_id=chunk.id, heading=chunk.heading)
                     for i in by_passage.pop((chunk.source, chunk.content_hash), [])]
            queue.sort(key=lambda i: (self._priority(cards.get(i.id), now)[0],
                                      not _mentions(focus_norm, i.answer),
                                      self._priority(cards.get(i.id), now)[1]))
            groups: dict[int, list[QuizItem]] = defaultdict(list)
            for item in queue:  # types mixed within each of: due, new, the rest
                groups[self._priority(cards.get(item.id), now)[0]].append(item)
            queues.append([i for k in sorted(groups) for i in _mix_types(groups[k])])
        chosen: list[QuizItem] = []
        while len(chosen) < n and any(queues):
            for queue in queues:
                if queue and len(chosen) < n:
                    chosen.append(queue.pop(0))
        due = sum(1 for i in chosen if self._is_due(cards.get(i.id), now))
        return Session(chosen, notice, due, self.store.counts(learner, now))

    def items_for(self, chunks: list[Chunk], learner: str = DEFAULT_LEARNER, n: int = 3,
                  now: datetime | None = None, focus: str = "") -> list[QuizItem]:
        return self.session_for(chunks, learner, n, now, focus).items

    def check_question(self, chunks: list[Chunk], learner: str = DEFAULT_LEARNER,
                       now: datetime | None = None, focus: str = "") -> QuizItem | None:
        """Study mode's one question before the answer, from the passage that best answers it."""
        items = self.items_for(chunks[:1], learner, 1, now, focus)
        return items[0] if items else None

    def answer_check(self, learner: str, item: QuizItem, reply: str,
                     now: datetime | None = None, hints: int = 0) -> tuple[Verdict, Review]:
        """Check the learner's reply with the quiz checker and put the item in their schedule,
        rated as the grade suggests (no reply, or a flashcard turned over: Again). After hints a
        right reply is rated Hard at most: recalled with help, so FSRS should bring it back
        sooner than one recalled unaided (the hints themselves are not reviews)."""
        verdict = self.quiz.check(item, reply)
        rating = verdict.suggested_rating or 1
        if hints and rating > 2:
            rating = 2
        return verdict, self.quiz.record(learner, item, rating, verdict, now=now)

    def _ensure_items(self, chunks: list[Chunk], now: datetime) -> str:
        """A passage without active items gets some: from the LLM when configured, else offline."""
        have = {(i.source, i.content_hash) for i in
                self.store.passage_items([(c.source, c.content_hash) for c in chunks])}
        missing = [c for c in chunks if (c.source, c.content_hash) not in have]
        if not missing:
            return ""
        notice = ""
        llm = self.quiz.llm()
        if llm is not None:
            from . import llm_items

            done = self.store.passages_done("llm")
            embedder = self.quiz._embedder()
            for chunk in [c for c in missing if (c.source, c.content_hash) not in done][:2]:
                try:
                    self.store.add_items(llm_items.generate(llm, chunk, embedder), "llm", [chunk], now)
                except LLMError as exc:
                    notice = f"{exc} {FALLBACK}"
                    break
            have = {(i.source, i.content_hash) for i in
                    self.store.passage_items([(c.source, c.content_hash) for c in missing])}
            missing = [c for c in missing if (c.source, c.content_hash) not in have]
        for chunk in missing:
            self.store.add_items(recall_items(chunk), STUDY_ORIGIN, [chunk], now)
        return notice

    def explain(self, item: QuizItem) -> Answer:
        """"Explain" after a quiz answer: the card's question answered from the card's passage
        (the sentences holding its answer, and the next one for context), cited as [1], as the
        Ask tab shows any answer, so follow-ups work from there."""
        chunk = self.chunk_of(item)
        quotes = answer_sentences(item)
        text = join_quotes(quotes) or f"{first_sentences(plain(item.passage), 400)} [1]"
        return Answer(explain_question(item), text, "offline",
                      citations=(Citation(1, chunk, tuple(quotes)),), search_query=item.question)

    def chunk_of(self, item: QuizItem) -> Chunk:
        """The indexed passage of an item (rebuilt from the item if the index no longer has it)."""
        for chunk in self.quiz.chunks():
            if chunk.id == item.chunk_id or (chunk.source, chunk.content_hash) == (
                    item.source, item.content_hash):
                return chunk
        return Chunk(item.chunk_id, item.source, item.heading, item.passage, 0, len(item.passage),
                     item.content_hash)

    # --- what the learner remembers -------------------------------------------------------

    def memory(self, learner: str, chunks: list[Chunk],
               now: datetime | None = None) -> dict[str, Memory]:
        """Chunk id -> Memory, for the passages this learner has reviewed items of."""
        now = now or utcnow()
        keys = {(c.source, c.content_hash): c.id for c in chunks}
        found: dict[str, list] = defaultdict(list)
        for row in self.store.studied(learner):
            chunk_id = keys.get((row["source"], row["content_hash"]))
            if chunk_id is not None and row["card"].last_review is not None:
                found[chunk_id].append(row["card"])
        return {cid: Memory(len(cards), max(c.last_review for c in cards),
                            sum(self._recall(c, now) for c in cards) / len(cards))
                for cid, cards in found.items()}

    def next(self, learner: str = DEFAULT_LEARNER, now: datetime | None = None,
             limit: int | None = 5) -> Next:
        """What to study now (see `Next`); at most `limit` topics in each list."""
        now = now or utcnow()
        self.quiz.prepare(now)
        totals: dict[str, int] = {}
        for item in self.store.items():  # reading order
            totals[item.topic] = totals.get(item.topic, 0) + 1
        recalls: dict[str, list[float]] = defaultdict(list)
        for row in self.store.studied(learner):
            if row["card"].last_review is not None:
                recalls[row["topic"]].append(self._recall(row["card"], now))
        due: dict[str, int] = {}
        for item in self.store.due_items(learner, now):  # most overdue first
            due[item.topic] = due.get(item.topic, 0) + 1

        def mean(topic: str) -> float | None:
            values = recalls.get(topic)
            return sum(values) / len(values) if values else None

        out = Next(  # due topics weakest first too: measured, "most overdue first" ranked the
            # topics against their true recall at -0.32 (benchmarks/study.py, book notes)
            due=sorted((Topic(t, k, mean(t)) for t, k in due.items()),
                       key=lambda t: (t.recall if t.recall is not None else 0.0, t.topic)),
            weakest=sorted((Topic(t, len(v), mean(t)) for t, v in recalls.items()
                            if t not in due and t in totals), key=lambda t: (t.recall, t.topic)),
            unstudied=[Topic(t, k, None) for t, k in totals.items() if t not in recalls and t not in due],
        )
        if limit is not None:
            out.due, out.weakest, out.unstudied = out.due[:limit], out.weakest[:limit], out.unstudied[:limit]
        return out

    def topic_session(self, learner: str, topic: str, n: int = 5,
                      now: datetime | None = None) -> Session:
        """A quiz on one topic of `next` (one click): its due reviews, then its new questions (an
        explicit choice, so not held back by the daily limit on new cards)."""
        return self.quiz.session(learner, n, [topic], now=now, limit_new=False)

    # --- study mode, remembered per learner -----------------------------------------------

    def study_mode(self, learner: str) -> bool:
        return self.store.preference(learner, STUDY_MODE, "0") == "1"

    def set_study_mode(self, learner: str, on: bool) -> None:
        self.store.set_preference(learner, STUDY_MODE, "1" if on else "0")

    # --- helpers --------------------------------------------------------------------------

    def _recall(self, card, now: datetime) -> float:
        return recall(self.store.scheduler, card, now)

    def _is_due(self, card, now: datetime) -> bool:
        if card is None:
            return False
        if card.state == State.Review:  # due any time today, as the quiz counts it
            return card.due < day_start(now) + timedelta(days=1)
        return card.due <= now + LEARN_AHEAD

    def _priority(self, card, now: datetime) -> tuple:
        if card is None:
            return (1, 0.0)
        if self._is_due(card, now):
            return (0, card.due.timestamp())
        return (2, self._recall(card, now))


def recall(scheduler, card, now: datetime) -> float:
    """FSRS's forgetting curve, R = (1 + F·t/S)^D with D = -w20 and F = 0.9^(1/D) - 1, as
    `Scheduler.get_card_retrievability` computes it but with t in fractional days: that one counts
    whole days, so a card forgotten yesterday evening reads 100% this morning (measured in
    benchmarks/study.py: the weakest topics showed as the strongest)."""
    if card.last_review is None or not card.stability:
        return 0.0
    decay = -float(scheduler.parameters[20])
    factor = 0.9 ** (1 / decay) - 1
    days = max(0.0, (now - card.last_review).total_seconds() / 86400)
    return float((1 + factor * days / card.stability) ** decay)


def _mentions(focus_norm: str, answer: str) -> bool:
    answer = normalize(answer)
    return bool(focus_norm and answer and f" {answer} " in focus_norm)


def _distinct(chunks: list[Chunk]) -> list[Chunk]:
    seen: set[tuple[str, str]] = set()
    out = []
    for chunk in chunks:
        key = (chunk.source, chunk.content_hash)
        if key not in seen:
            seen.add(key)
            out.append(chunk)
    return out


def _mix_types(queue: list[QuizItem]) -> list[QuizItem]:
    """Keep the order, but let a new type go before a repeat of the last two."""
    out: list[QuizItem] = []
    rest = list(queue)
    while rest:
        used = {i.type for i in out[-2:]}
        pick = next((i for i in rest if i.type not in used), rest[0])
        rest.remove(pick)
        out.append(pick)
    return out


def topic_of(chunk: Chunk) -> str:
    return topic_label(chunk.source, chunk.heading)
