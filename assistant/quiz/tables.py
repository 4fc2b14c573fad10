"""The progress schema, defined once (SQLAlchemy Core) for SQLite and PostgreSQL alike.

Migrations (quiz/migrations/versions) create and change it; this is what the code queries.
Times are epoch seconds (float, UTC), as the first SQLite version stored them, so a learner's
old file is adopted without rewriting a row.

- `items`: every question ever generated, with its passage's content hash. Items of a passage
  that is gone are retired (never deleted: their history stays).
- `passages`: passages already given questions, per origin (offline generator, LLM).
- `cards`: one FSRS card per learner and item; `reviews`: every rating, per learner.
- `preferences`: small per-learner settings.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)

metadata = MetaData()

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
ReviewId = BigInteger().with_variant(Integer(), "sqlite")

items = Table(
    "items", metadata,
    Column("id", Text, primary_key=True),
    Column("type", Text, nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("options", Text),  # JSON list, multiple choice only
    Column("explanation", Text),
    Column("kind", Text),
    Column("origin", Text, nullable=False),
    Column("accept", Text),  # JSON list of accepted answers
    Column("chunk_id", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("heading", Text, nullable=False),
    Column("passage", Text, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("position", Integer, nullable=False, server_default="0"),
    Column("dedupe_key", Text),
    Column("created_at", Double, nullable=False),
    Column("retired_at", Double),
    Index("items_passage", "source", "content_hash"),
)

passages = Table(
    "passages", metadata,
    Column("source", Text, primary_key=True),
    Column("content_hash", Text, primary_key=True),
    Column("origin", Text, primary_key=True),
    Column("generated_at", Double, nullable=False),
)

cards = Table(
    "cards", metadata,
    Column("learner", Text, primary_key=True),
    Column("item_id", Text, ForeignKey("items.id"), primary_key=True),
    Column("state", Integer, nullable=False),
    Column("step", Integer),
    Column("stability", Double),
    Column("difficulty", Double),
    Column("due", Double, nullable=False),
    Column("last_review", Double),
    Column("first_review", Double, nullable=False),
    Column("reps", Integer, nullable=False, server_default="0"),
    Column("lapses", Integer, nullable=False, server_default="0"),
    Index("cards_due", "learner", "due"),
)

reviews = Table(
    "reviews", metadata,
    Column("id", ReviewId, primary_key=True, autoincrement=True),
    Column("learner", Text, nullable=False),
    Column("item_id", Text, nullable=False),
    Column("rating", Integer, nullable=False),
    Column("reviewed_at", Double, nullable=False),
    Column("correct", Integer),  # 1, 0, or NULL when not checked (a flashcard)
    Column("overruled", Integer, nullable=False, server_default="0"),
    Column("answer", Text),  # the learner's own words: never shown to a teacher
    Column("duration_ms", Integer),
    Column("due", Double, nullable=False),
    Column("stability", Double),
    Column("difficulty", Double),
    Column("state", Integer),
    Index("reviews_learner", "learner", "reviewed_at"),
    sqlite_autoincrement=True,
)

preferences = Table(
    "preferences", metadata,
    Column("learner", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)
