"""Baseline: the progress schema as the raw-sqlite3 versions wrote it.

A database without tables gets them. A `progress.sqlite3` written before migrations existed
already has them (with every review): it is adopted as it is, after checking that each table has
the columns the code reads, and only stamped with this revision.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from assistant.quiz.database import ProgressUnavailable

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen here (a migration never changes once shipped); tables.py is the living definition and a
# test checks that the two agree.
ReviewId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def tables() -> list[sa.Table]:
    md = sa.MetaData()
    return [
        sa.Table(
            "items", md,
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("type", sa.Text, nullable=False),
            sa.Column("question", sa.Text, nullable=False),
            sa.Column("answer", sa.Text, nullable=False),
            sa.Column("options", sa.Text),
            sa.Column("explanation", sa.Text),
            sa.Column("kind", sa.Text),
            sa.Column("origin", sa.Text, nullable=False),
            sa.Column("accept", sa.Text),
            sa.Column("chunk_id", sa.Text, nullable=False),
            sa.Column("source", sa.Text, nullable=False),
            sa.Column("heading", sa.Text, nullable=False),
            sa.Column("passage", sa.Text, nullable=False),
            sa.Column("content_hash", sa.Text, nullable=False),
            sa.Column("position", sa.Integer, nullable=False, server_default="0"),
            sa.Column("dedupe_key", sa.Text),
            sa.Column("created_at", sa.Double, nullable=False),
            sa.Column("retired_at", sa.Double),
            sa.Index("items_passage", "source", "content_hash"),
        ),
        sa.Table(
            "passages", md,
            sa.Column("source", sa.Text, primary_key=True),
            sa.Column("content_hash", sa.Text, primary_key=True),
            sa.Column("origin", sa.Text, primary_key=True),
            sa.Column("generated_at", sa.Double, nullable=False),
        ),
        sa.Table(
            "cards", md,
            sa.Column("learner", sa.Text, primary_key=True),
            sa.Column("item_id", sa.Text, sa.ForeignKey("items.id"), primary_key=True),
            sa.Column("state", sa.Integer, nullable=False),
            sa.Column("step", sa.Integer),
            sa.Column("stability", sa.Double),
            sa.Column("difficulty", sa.Double),
            sa.Column("due", sa.Double, nullable=False),
            sa.Column("last_review", sa.Double),
            sa.Column("first_review", sa.Double, nullable=False),
            sa.Column("reps", sa.Integer, nullable=False, server_default="0"),
            sa.Column("lapses", sa.Integer, nullable=False, server_default="0"),
            sa.Index("cards_due", "learner", "due"),
        ),
        sa.Table(
            "reviews", md,
            sa.Column("id", ReviewId, primary_key=True, autoincrement=True),
            sa.Column("learner", sa.Text, nullable=False),
            sa.Column("item_id", sa.Text, nullable=False),
            sa.Column("rating", sa.Integer, nullable=False),
            sa.Column("reviewed_at", sa.Double, nullable=False),
            sa.Column("correct", sa.Integer),
            sa.Column("overruled", sa.Integer, nullable=False, server_default="0"),
            sa.Column("answer", sa.Text),
            sa.Column("duration_ms", sa.Integer),
            sa.Column("due", sa.Double, nullable=False),
            sa.Column("stability", sa.Double),
            sa.Column("difficulty", sa.Double),
            sa.Column("state", sa.Integer),
            sa.Index("reviews_learner", "learner", "reviewed_at"),
            sqlite_autoincrement=True,
        ),
        sa.Table(
            "preferences", md,
            sa.Column("learner", sa.Text, primary_key=True),
            sa.Column("key", sa.Text, primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        ),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    existing = set(inspector.get_table_names())
    for table in tables():
        if table.name not in existing:
            table.create(bind)
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        missing = [c.name for c in table.columns if c.name not in have]
        if missing:  # not a file this app wrote: leave it untouched rather than guess
            raise ProgressUnavailable(
                f"The progress database has a table {table.name!r} without the columns "
                f"{', '.join(missing)}: it was not written by this app, so it is left as it is; "
                "point ASSISTANT_DATABASE_URL at an empty database or this app's own file.")


def downgrade() -> None:
    # Dropping a learner's whole history is never a step back worth automating.
    raise NotImplementedError("The baseline cannot be downgraded.")
