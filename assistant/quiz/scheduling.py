"""Spaced repetition (FSRS) and learner progress in SQLite, in the data directory.

One file, `progress.sqlite3`, in WAL mode with full sync: every review is its own transaction,
committed before the next card is shown, so a crash loses at most the answer in flight.

- `items`: every question ever generated, with its passage's content hash. When a note changes,
  items whose passage is gone are retired (never deleted: their history stays); items of new
  passages are generated. A passage that comes back brings its old items (and schedules) back.
- `cards`: one FSRS card per learner and item; `reviews`: every rating, per learner.

All times are aware UTC datetimes passed in by the caller (`now`), so tests and the benchmark
drive the schedule with a fake clock. "Today" is the learner's local calendar day.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..core.schema import Chunk
from .cards import Card, Rating, Scheduler, State, card_from_row
from .items import QuizItem, matches_any
from .progress import ProgressQueries, _ts, day_start, utcnow

__all__ = ["ReviewStore", "Review", "SyncReport", "format_interval", "day_start", "utcnow",
           "DEFAULT_LEARNER", "LEARN_AHEAD", "NEW_PER_DAY", "RATINGS"]

DB_NAME = "progress.sqlite3"
DEFAULT_LEARNER = "local"
NEW_PER_DAY = 20
RATINGS = {1: "Again", 2: "Hard", 3: "Good", 4: "Easy"}
# A card coming back within this long is shown again in the same session, as Anki does.
LEARN_AHEAD = timedelta(minutes=20)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL,
    options TEXT, explanation TEXT, kind TEXT, origin TEXT NOT NULL, accept TEXT,
    chunk_id TEXT NOT NULL, source TEXT NOT NULL, heading TEXT NOT NULL, passage TEXT NOT NULL,
    content_hash TEXT NOT NULL, position INTEGER NOT NULL DEFAULT 0, dedupe_key TEXT,
    created_at REAL NOT NULL, retired_at REAL
);
CREATE INDEX IF NOT EXISTS items_passage ON items (source, content_hash);
CREATE TABLE IF NOT EXISTS passages (
    source TEXT NOT NULL, content_hash TEXT NOT NULL, origin TEXT NOT NULL,
    generated_at REAL NOT NULL, PRIMARY KEY (source, content_hash, origin)
);
CREATE TABLE IF NOT EXISTS cards (
    learner TEXT NOT NULL, item_id TEXT NOT NULL REFERENCES items (id),
    state INTEGER NOT NULL, step INTEGER, stability REAL, difficulty REAL,
    due REAL NOT NULL, last_review REAL, first_review REAL NOT NULL,
    reps INTEGER NOT NULL DEFAULT 0, lapses INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (learner, item_id)
);
CREATE INDEX IF NOT EXISTS cards_due ON cards (learner, due);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT, learner TEXT NOT NULL, item_id TEXT NOT NULL,
    rating INTEGER NOT NULL, reviewed_at REAL NOT NULL, correct INTEGER, overruled INTEGER NOT NULL DEFAULT 0,
    answer TEXT, duration_ms INTEGER, due REAL NOT NULL, stability REAL, difficulty REAL, state INTEGER
);
CREATE INDEX IF NOT EXISTS reviews_learner ON reviews (learner, reviewed_at);
CREATE TABLE IF NOT EXISTS preferences (
    learner TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (learner, key)
);
"""


def format_interval(delta: timedelta) -> str:
    """Anki-style: '<10 min', '5 h', '2 d', '3.5 mo', '1.2 y'."""
    seconds = max(delta.total_seconds(), 0)
    minutes = seconds / 60
    if minutes < 60:
        return f"<{max(1, round(minutes))} min"
    hours = minutes / 60
    if hours < 22:
        return f"{round(hours)} h"
    days = hours / 24
    if days < 31:
        return f"{max(1, round(days))} d"
    if days < 365:
        return f"{days / 30.4:.1f} mo".replace(".0 ", " ")
    return f"{days / 365:.1f} y".replace(".0 ", " ")


@dataclass
class SyncReport:
    added: int = 0
    retired: int = 0
    restored: int = 0
    active: int = 0

    def summary(self) -> str:
        return (f"{self.active} questions ready: {self.added} new, {self.retired} retired "
                f"because their passage changed")


@dataclass
class Review:
    item_id: str
    rating: int
    due: datetime
    interval: timedelta
    state: str


class ReviewStore(ProgressQueries):
    def __init__(self, data_dir: Path, *, new_per_day: int = NEW_PER_DAY,
                 scheduler: Scheduler | None = None):
        self.path = Path(data_dir) / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.new_per_day = new_per_day
        # No fuzz: the interval shown on a rating button is exactly the one the card gets.
        self.scheduler = scheduler or Scheduler(enable_fuzzing=False)
        with self._db() as db:  # also upgrades a file written by an older version
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        fresh = not self.path.exists()  # first use, or the learner deleted it to start over
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=30000")
        if fresh:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # --- items ----------------------------------------------------------------------------

    def sync(self, chunks: list[Chunk], generate: Callable[[list[Chunk]], list[QuizItem]],
             now: datetime | None = None) -> SyncReport:
        """Retire items of passages no longer in the notes; generate items for new passages."""
        now = now or utcnow()
        report = SyncReport()
        current = {(c.source, c.content_hash): c for c in chunks}
        with self._db() as db:
            done = {(r["source"], r["content_hash"]) for r in
                    db.execute("SELECT source, content_hash FROM passages WHERE origin='offline'")}
        fresh = [c for key, c in current.items() if key not in done]
        generated = generate(fresh) if fresh else []
        with self._tx() as db:
            active = db.execute(
                "SELECT id, source, content_hash FROM items WHERE retired_at IS NULL").fetchall()
            gone = [r["id"] for r in active if (r["source"], r["content_hash"]) not in current]
            db.executemany("UPDATE items SET retired_at=? WHERE id=?", [(_ts(now), i) for i in gone])
            report.retired = len(gone)
            stale = [(s, h) for s, h in {(r["source"], r["content_hash"]) for r in
                     db.execute("SELECT source, content_hash FROM passages")} if (s, h) not in current]
            db.executemany("DELETE FROM passages WHERE source=? AND content_hash=?", stale)
            for chunk in current.values():  # a passage that moved keeps its items
                db.execute("UPDATE items SET chunk_id=?, heading=? WHERE source=? AND content_hash=? "
                           "AND chunk_id<>?", (chunk.id, chunk.heading, chunk.source,
                                               chunk.content_hash, chunk.id))
            added, restored = self._insert(db, generated, now)
            report.added, report.restored = added, restored
            db.executemany(
                "INSERT OR IGNORE INTO passages VALUES (?, ?, 'offline', ?)",
                [(c.source, c.content_hash, _ts(now)) for c in fresh])
            report.active = db.execute(
                "SELECT COUNT(*) FROM items WHERE retired_at IS NULL").fetchone()[0]
        return report

    def add_items(self, items: list[QuizItem], origin: str, passages: list[Chunk],
                  now: datetime | None = None) -> int:
        """Store items generated elsewhere (the LLM) and mark their passages as done for `origin`."""
        now = now or utcnow()
        with self._tx() as db:
            added, restored = self._insert(db, items, now)
            db.executemany("INSERT OR IGNORE INTO passages VALUES (?, ?, ?, ?)",
                           [(c.source, c.content_hash, origin, _ts(now)) for c in passages])
        return added + restored

    def _insert(self, db: sqlite3.Connection, items: list[QuizItem], now: datetime) -> tuple[int, int]:
        from .generate import dedupe_key

        taken = {r[0] for r in db.execute(
            "SELECT dedupe_key FROM items WHERE retired_at IS NULL")}
        added = restored = 0
        for item in items:
            key = dedupe_key(item)
            row = db.execute("SELECT retired_at FROM items WHERE id=?", (item.id,)).fetchone()
            if row is not None:
                if row["retired_at"] is not None and key not in taken:
                    db.execute("UPDATE items SET retired_at=NULL, chunk_id=?, heading=?, passage=? "
                               "WHERE id=?", (item.chunk_id, item.heading, item.passage, item.id))
                    restored += 1
                    taken.add(key)
                continue
            if key in taken:
                continue
            taken.add(key)
            db.execute(
                "INSERT INTO items (id, type, question, answer, options, explanation, kind, origin,"
                " accept, chunk_id, source, heading, passage, content_hash, position, dedupe_key,"
                " created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (item.id, item.type, item.question, item.answer,
                 json.dumps(item.options) if item.options else None, item.explanation, item.kind,
                 item.origin, json.dumps(item.accept), item.chunk_id, item.source, item.heading,
                 item.passage, item.content_hash, item.position, key, _ts(now)))
            added += 1
        return added, restored

    def passages_done(self, origin: str) -> set[tuple[str, str]]:
        with self._db() as db:
            return {(r[0], r[1]) for r in db.execute(
                "SELECT source, content_hash FROM passages WHERE origin=?", (origin,))}

    def items(self, ids: list[str] | None = None, *, active: bool = True,
              topics: list[str] | None = None) -> list[QuizItem]:
        sql = "SELECT * FROM items"
        where, args = [], []
        if active:
            where.append("retired_at IS NULL")
        if ids is not None:
            if not ids:
                return []
            where.append(f"id IN ({','.join('?' * len(ids))})")
            args += list(ids)
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._db() as db:
            rows = db.execute(sql + " ORDER BY source, position", args).fetchall()
        items = [_item(r) for r in rows]
        items = [i for i in items if matches_any(topics, i.source, i.heading)]
        if ids is not None:
            order = {i: n for n, i in enumerate(ids)}
            items.sort(key=lambda i: order[i.id])
        return items

    def passage_items(self, passages: list[tuple[str, str]]) -> list[QuizItem]:
        """Active items of these passages, (source, content_hash) pairs, in reading order."""
        if not passages:
            return []
        wanted = set(passages)
        with self._db() as db:
            rows = db.execute(
                f"SELECT * FROM items WHERE retired_at IS NULL AND content_hash IN "
                f"({','.join('?' * len(wanted))}) ORDER BY source, position",
                [h for _, h in wanted]).fetchall()
        return [_item(r) for r in rows if (r["source"], r["content_hash"]) in wanted]

    def preference(self, learner: str, key: str, default: str | None = None) -> str | None:
        with self._db() as db:
            row = db.execute("SELECT value FROM preferences WHERE learner=? AND key=?",
                             (learner, key)).fetchone()
        return row[0] if row else default

    def set_preference(self, learner: str, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO preferences VALUES (?, ?, ?)", (learner, key, value))

    def is_retired(self, item_id: str) -> bool:
        with self._db() as db:
            row = db.execute("SELECT retired_at FROM items WHERE id=?", (item_id,)).fetchone()
        return row is None or row[0] is not None

    # --- scheduling -----------------------------------------------------------------------

    def card(self, learner: str, item_id: str, now: datetime | None = None) -> Card:
        with self._db() as db:
            row = db.execute("SELECT * FROM cards WHERE learner=? AND item_id=?",
                             (learner, item_id)).fetchone()
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
        with self._tx() as db:
            row = db.execute("SELECT * FROM cards WHERE learner=? AND item_id=?",
                             (learner, item_id)).fetchone()
            card = _by_calendar_day(card_from_row(row), now) if row else Card(card_id=0, due=now)
            after, _ = self.scheduler.review_card(card, rating, now)
            first = row["first_review"] if row else _ts(now)
            lapses = (row["lapses"] if row else 0) + (
                1 if rating == Rating.Again and card.state == State.Review else 0)
            db.execute(
                "INSERT OR REPLACE INTO cards VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (learner, item_id, int(after.state), after.step, after.stability, after.difficulty,
                 _ts(after.due), _ts(now), first, (row["reps"] if row else 0) + 1, lapses))
            db.execute(
                "INSERT INTO reviews (learner, item_id, rating, reviewed_at, correct, overruled,"
                " answer, duration_ms, due, stability, difficulty, state)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (learner, item_id, int(rating), _ts(now), None if correct is None else int(correct),
                 int(overruled), answer, duration_ms, _ts(after.due), after.stability,
                 after.difficulty, int(after.state)))
        return Review(item_id, int(rating), after.due, after.due - now, after.state.name)

    def due_items(self, learner: str, now: datetime | None = None, topics: list[str] | None = None,
                  limit: int | None = None) -> list[QuizItem]:
        """Active items due, most overdue first: review cards due any time today (they are
        scheduled in days, as in Anki) and learning cards due within the next 20 minutes."""
        now = now or utcnow()
        day_end = day_start(now) + timedelta(days=1)
        with self._db() as db:
            ids = [r[0] for r in db.execute(
                "SELECT c.item_id FROM cards c JOIN items i ON i.id=c.item_id "
                "WHERE c.learner=? AND i.retired_at IS NULL AND "
                "((c.state=? AND c.due<?) OR (c.state<>? AND c.due<=?)) ORDER BY c.due",
                (learner, int(State.Review), _ts(day_end), int(State.Review),
                 _ts(now + LEARN_AHEAD)))]
        items = self.items(ids, topics=topics)
        return items[:limit] if limit is not None else items

    def new_items(self, learner: str, topics: list[str] | None = None,
                  limit: int | None = None) -> list[QuizItem]:
        """Active items this learner has never reviewed, spread across passages in reading order."""
        with self._db() as db:
            seen = {r[0] for r in db.execute("SELECT item_id FROM cards WHERE learner=?", (learner,))}
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
        with self._db() as db:
            return db.execute("SELECT COUNT(*) FROM cards WHERE learner=? AND first_review>=?",
                              (learner, _ts(start))).fetchone()[0]

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


def _item(r: sqlite3.Row) -> QuizItem:
    return QuizItem(
        id=r["id"], type=r["type"], question=r["question"], answer=r["answer"],
        chunk_id=r["chunk_id"], source=r["source"], heading=r["heading"], passage=r["passage"],
        content_hash=r["content_hash"], options=json.loads(r["options"]) if r["options"] else None,
        explanation=r["explanation"] or "", kind=r["kind"] or "term", origin=r["origin"],
        accept=json.loads(r["accept"]) if r["accept"] else [], position=r["position"],
    )
