"""The words of reviewing, with no database behind them: the learner, the four ratings, the
learn-ahead window, intervals as Anki writes them, one recorded review, and the clock. The page
imports these while it is built, before the progress database (SQLAlchemy) is loaded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

DEFAULT_LEARNER = "local"
NEW_PER_DAY = 20
RATINGS = {1: "Again", 2: "Hard", 3: "Good", 4: "Easy"}
# A card coming back within this long is shown again in the same session, as Anki does.
LEARN_AHEAD = timedelta(minutes=20)


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
class Review:
    item_id: str
    rating: int
    due: datetime
    interval: timedelta
    state: str


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def day_start(now: datetime) -> datetime:
    """Local midnight of `now`'s day, as UTC."""
    local = now.astimezone()
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)
