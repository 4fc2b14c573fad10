"""Spaced repetition (FSRS) over the progress database (quiz/database.py): SQLite in the data
folder by default, PostgreSQL for a class served by several instances.

Every review is its own transaction, committed before the next card is shown, so a crash loses
at most the answer in flight; on PostgreSQL the learner's card is locked for that transaction, so
two instances recording the same card at once both count.

All times are aware UTC datetimes passed in by the caller (`now`), so tests and the benchmark
drive the schedule with a fake clock. "Today" is the learner's local calendar day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from .cards import Card, Rating, Scheduler, State, card_from_row
from .database import DB_NAME, DEFAULT_LIBRARY, Database, database_url, upsert
from .item_bank import ItemBank, SyncReport
from .items import QuizItem
from .progress import ProgressQueries, _ts
from .review_terms import (
    DEFAULT_LEARNER,
    LEARN_AHEAD,
    NEW_PER_DAY,
    RATINGS,
    Review,
    day_start,
    format_interval,
    utcnow,
)
from .tables import cards, items, reviews

__all__ = ["ReviewStore", "Review", "SyncReport", "format_interval", "day_start", "utcnow",
           "DEFAULT_LEARNER", "LEARN_AHEAD", "NEW_PER_DAY", "RATINGS", "DB_NAME"]


class ReviewStore(ItemBank, ProgressQueries):
    """The `library`'s progress: in `data_dir` (progress.sqlite3 for the default library) unless
    `ASSISTANT_DATABASE_URL` (in `environ`, default the process environment) or `url` names
    another database."""

    def __init__(self, data_dir: Path, *, new_per_day: int = NEW_PER_DAY,
                 scheduler: Scheduler | None = None, url: str | None = None,
                 environ: Mapping[str, str] | None = None, library: str = DEFAULT_LIBRARY):
        data_dir = Path(data_dir)
        if url is not None:
            environ = {"ASSISTANT_DATABASE_URL": url}
        self.db = Database(database_url(data_dir, environ, library), library)
        # What Quiz.prepare watches to notice a learner deleting the file to start over; a server
        # database has no file, so the data folder stands in (it never changes).
        self.path = self.db.path or data_dir
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.db.path is None:
            data_dir.mkdir(parents=True, exist_ok=True)
        self.new_per_day = new_per_day
        # No fuzz: the interval shown on a rating button is exactly the one the card gets.
        self.scheduler = scheduler or Scheduler(enable_fuzzing=False)

    def __repr__(self) -> str:
        return f"ReviewStore({self.db!r})"

    # --- scheduling -----------------------------------------------------------------------

    def card(self, learner: str, item_id: str, now: datetime | None = None) -> Card:
        with self.db.read() as db:
            row = db.execute(_card_of(learner, item_id)).mappings().first()
        return card_from_row(row) if row else Card(card_id=0, due=now or utcnow())

    def preview(self, learner: str, item_id: str, now: datetime | None = None) -> dict[int, timedelta]:
        """When the card would come back for each rating, without recording anything."""
        now = now or utcnow()
        card = _by_calendar_day(self.card(learner, item_id, now), now)
        out = {}
        for rating in Rating:
            after, _ = self.scheduler.review_card(card, rating, now)
            out[int(rating)] = after.due - now
        return out

    def review(self, learner: str, item_id: str, rating: int, now: datetime | None = None, *,
               correct: bool | None = None, overruled: bool = False, answer: str | None = None,
               duration_ms: int | None = None) -> Review:
        """Schedule the card and log the review in one committed transaction."""
        now = now or utcnow()
        rating = Rating(int(rating))
        with self.db.write() as db:
            # Another instance reviewing this card waits here, then schedules from our result.
            self.db.lock(db, f"card:{learner}:{item_id}")  # a shared key only costs a wait
            row = db.execute(_card_of(learner, item_id)).mappings().first()
            card = _by_calendar_day(card_from_row(row), now) if row else Card(card_id=0, due=now)
            after, _ = self.scheduler.review_card(card, rating, now)
            lapses = (row["lapses"] if row else 0) + (
                1 if rating == Rating.Again and card.state == State.Review else 0)
            upsert(db, cards, [{
                "learner": learner, "item_id": item_id, "state": int(after.state),
                "step": after.step, "stability": after.stability, "difficulty": after.difficulty,
                "due": _ts(after.due), "last_review": _ts(now),
                "first_review": row["first_review"] if row else _ts(now),
                "reps": (row["reps"] if row else 0) + 1, "lapses": lapses}], replace=True)
            db.execute(reviews.insert().values(
                learner=learner, item_id=item_id, rating=int(rating), reviewed_at=_ts(now),
                correct=None if correct is None else int(correct), overruled=int(overruled),
                answer=answer, duration_ms=duration_ms, due=_ts(after.due),
                stability=after.stability, difficulty=after.difficulty, state=int(after.state)))
        return Review(item_id, int(rating), after.due, after.due - now, after.state.name)

    def due_items(self, learner: str, now: datetime | None = None, topics: list[str] | None = None,
                  limit: int | None = None) -> list[QuizItem]:
        """Active items due, most overdue first: review cards due any time today (they are
        scheduled in days, as in Anki) and learning cards due within the next 20 minutes."""
        now = now or utcnow()
        day_end = day_start(now) + timedelta(days=1)
        review = cards.c.state == int(State.Review)
        query = (select(cards.c.item_id).join(items, items.c.id == cards.c.item_id)
                 .where(cards.c.learner == learner, items.c.retired_at.is_(None),
                        ((review & (cards.c.due < _ts(day_end)))
                         | (~review & (cards.c.due <= _ts(now + LEARN_AHEAD)))))
                 .order_by(cards.c.due))
        with self.db.read() as db:
            ids = list(db.execute(query).scalars())
        found = self.items(ids, topics=topics)
        return found[:limit] if limit is not None else found

    def new_items(self, learner: str, topics: list[str] | None = None,
                  limit: int | None = None) -> list[QuizItem]:
        """Active items this learner has never reviewed, spread across passages in reading order."""
        with self.db.read() as db:
            seen = set(db.execute(select(cards.c.item_id).where(cards.c.learner == learner)).scalars())
        fresh = [i for i in self.items(topics=topics) if i.id not in seen]
        by_passage: dict[str, list[QuizItem]] = defaultdict(list)
        for item in fresh:
            by_passage[f"{item.source}\x00{item.content_hash}"].append(item)
        queues = [_rotate(q, k) for k, q in enumerate(by_passage.values())]
        spread: list[QuizItem] = []
        while queues and (limit is None or len(spread) < limit):
            for queue in queues:
                if queue and (limit is None or len(spread) < limit):
                    spread.append(queue.pop(0))
            queues = [q for q in queues if q]
        return spread

    def new_today(self, learner: str, now: datetime | None = None) -> int:
        start = day_start(now or utcnow())
        with self.db.read() as db:
            return db.execute(select(func.count()).select_from(cards).where(
                cards.c.learner == learner, cards.c.first_review >= _ts(start))).scalar_one()

    def new_left_today(self, learner: str, now: datetime | None = None) -> int:
        return max(0, self.new_per_day - self.new_today(learner, now))


def _rotate(queue: list[QuizItem], k: int) -> list[QuizItem]:
    """Passage k starts with the k-th question type, so a session mixes types."""
    cycle = ("mcq", "cloze", "flashcard", "short")
    for shift in range(len(cycle)):
        wanted = cycle[(k + shift) % len(cycle)]
        for n, item in enumerate(queue):
            if item.type == wanted:
                return [item, *queue[:n], *queue[n + 1:]]
    return queue


def _by_calendar_day(card: Card, now: datetime) -> Card:
    """FSRS counts whole 24-hour periods since the last review; learners count calendar days.
    A card reviewed yesterday evening and again this morning has waited one day, not zero: shift
    the last review so the two agree (as Anki does by scheduling review cards in days)."""
    if card.last_review is None:
        return card
    days = (now.astimezone().date() - card.last_review.astimezone().date()).days
    card.last_review = now - timedelta(days=max(days, 0))
    return card


def _card_of(learner: str, item_id: str):
    return select(cards).where(cards.c.learner == learner, cards.c.item_id == item_id)
