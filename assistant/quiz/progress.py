"""Progress queries over the review store: due counts, mastery per topic, reviews per day, the
due forecast, a learner's history. Mixed into `ReviewStore`."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from .cards import card_from_row
from .items import matches_any, topic_label
from .review_terms import day_start, utcnow
from .tables import cards, items, reviews


def _ts(dt: datetime) -> float:
    return dt.timestamp()


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc)


class ProgressQueries:
    """Needs `db`, `scheduler`, `new_items()` and `new_left_today()` from the store."""

    def counts(self, learner: str, now: datetime | None = None,
               topics: list[str] | None = None) -> dict:
        now = now or utcnow()
        today = day_start(now)
        end_of_day = today + timedelta(days=1)
        with self.db.read() as db:
            rows = db.execute(
                select(cards.c.due, items.c.source, items.c.heading)
                .join(items, items.c.id == cards.c.item_id)
                .where(cards.c.learner == learner, cards.c.due < _ts(end_of_day),
                       items.c.retired_at.is_(None))).all()
            reviewed = db.execute(select(func.count()).select_from(reviews).where(
                reviews.c.learner == learner, reviews.c.reviewed_at >= _ts(today))).scalar_one()
        dues = [r.due for r in rows if matches_any(topics, r.source, r.heading)]
        new = len(self.new_items(learner, topics))
        return {
            "due_now": sum(1 for d in dues if d <= _ts(now)),
            "due_today": len(dues),
            "new": new,
            "new_today": min(new, self.new_left_today(learner, now)),
            "reviewed_today": reviewed,
        }

    def mastery(self, learner: str, now: datetime | None = None) -> list[dict]:
        """Per topic: mean predicted recall (FSRS retrievability) over its items; unseen count 0."""
        now = now or utcnow()
        with self.db.read() as db:
            rows = db.execute(
                select(items.c.source, items.c.heading, cards)
                .outerjoin(cards, (cards.c.item_id == items.c.id) & (cards.c.learner == learner))
                .where(items.c.retired_at.is_(None))
                .order_by(items.c.source, items.c.position)).mappings().all()
        topics: dict[str, list[float]] = {}
        seen: dict[str, int] = defaultdict(int)
        for r in rows:
            topic = topic_label(r["source"], r["heading"])
            recall = 0.0
            if r["state"] is not None:
                seen[topic] += 1
                recall = float(self.scheduler.get_card_retrievability(card_from_row(r), now))
            topics.setdefault(topic, []).append(recall)
        return [{"topic": t, "mastery": sum(v) / len(v), "items": len(v), "seen": seen[t]}
                for t, v in topics.items()]

    def reviews_per_day(self, learner: str, now: datetime | None = None, days: int = 14) -> list[dict]:
        now = now or utcnow()
        start = day_start(now) - timedelta(days=days - 1)
        with self.db.read() as db:
            times = db.execute(select(reviews.c.reviewed_at).where(
                reviews.c.learner == learner, reviews.c.reviewed_at >= _ts(start))).scalars().all()
        counts = defaultdict(int)
        for t in times:
            counts[_dt(t).astimezone().date()] += 1
        out = []
        for n in range(days):
            day = (start + timedelta(days=n)).astimezone().date()
            out.append({"day": day.isoformat(), "reviews": counts.get(day, 0)})
        return out

    def forecast(self, learner: str, now: datetime | None = None, days: int = 7) -> list[dict]:
        """How many cards come due on each of the next days (today includes overdue ones)."""
        now = now or utcnow()
        start = day_start(now)
        with self.db.read() as db:
            dues = db.execute(select(cards.c.due).join(items, items.c.id == cards.c.item_id).where(
                cards.c.learner == learner, items.c.retired_at.is_(None))).scalars().all()
        out = []
        for n in range(days):
            lo, hi = start + timedelta(days=n), start + timedelta(days=n + 1)
            count = sum(1 for d in dues if (n == 0 or d >= _ts(lo)) and d < _ts(hi))
            out.append({"day": lo.astimezone().date().isoformat(), "due": count})
        return out

    def studied(self, learner: str) -> list[dict]:
        """Every active item this learner has a card for: the item's passage and topic, its FSRS
        card and when it was last reviewed (for recall and "what next", see study.py)."""
        with self.db.read() as db:
            rows = db.execute(
                select(items.c.chunk_id, items.c.source, items.c.heading, items.c.content_hash, cards)
                .join(items, items.c.id == cards.c.item_id)
                .where(cards.c.learner == learner, items.c.retired_at.is_(None))
                .order_by(items.c.source, items.c.position)).mappings().all()
        return [{"item_id": r["item_id"], "chunk_id": r["chunk_id"], "source": r["source"],
                 "heading": r["heading"], "content_hash": r["content_hash"], "card": card_from_row(r),
                 "topic": topic_label(r["source"], r["heading"])} for r in rows]

    def history(self, learner: str, item_id: str | None = None) -> list[dict]:
        query = select(reviews).where(reviews.c.learner == learner).order_by(reviews.c.id)
        if item_id:
            query = query.where(reviews.c.item_id == item_id)
        with self.db.read() as db:
            return [dict(r) for r in db.execute(query).mappings()]
