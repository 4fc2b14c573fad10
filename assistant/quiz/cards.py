"""The one module that imports fsrs (py-fsrs, the scheduler Anki ships): a learner's card as the
review store keeps it, and the scheduler's types."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from fsrs import Card, Rating, Scheduler, State

__all__ = ["Card", "Rating", "Scheduler", "State", "card_from_row"]


def card_from_row(row: Mapping) -> Card:
    """A card from a `cards` row as a mapping (state, step, stability, difficulty, due, last_review)."""
    return Card(
        card_id=0, state=State(row["state"]), step=row["step"], stability=row["stability"],
        difficulty=row["difficulty"], due=_dt(row["due"]), last_review=_dt(row["last_review"]),
    )


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc)
