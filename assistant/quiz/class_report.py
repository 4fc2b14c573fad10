"""What a teacher's Class view shows, from the progress database every instance records into.

    report = ClassReport(services.quiz.store)
    report.topics(now)        # per topic: learners who studied it, mean recall, mastery, reviews
    report.most_missed(now)   # the questions missed most, each with its passage to open
    report.due_load(now)      # cards (and learners) due on each of the next days

Only counts, rates and the questions the app generated from the notes leave this module: a
learner's answer text (`reviews.answer`) is never selected. Recall and mastery mean what the
learner's own Progress view means (FSRS's predicted recall now; mastery counts the topic's unseen
questions as 0), averaged over the learners who studied the topic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select, true

from .cards import card_from_row
from .items import topic_label
from .progress import _ts
from .review_terms import day_start, utcnow
from .scheduling import ReviewStore
from .tables import cards, items, reviews

# A review counts as a miss when the checker marked the answer wrong, or, for an unchecked card
# (a flashcard), when the learner rated it Again.
MISSED = or_(reviews.c.correct == 0, and_(reviews.c.correct.is_(None), reviews.c.rating == 1))


class ClassReport:
    def __init__(self, store: ReviewStore, learners: Collection[str] | None = None):
        """`learners` limits the report to these logins (e.g. without the teacher's own)."""
        self.store = store
        self.learners = None if learners is None else sorted(set(learners))

    def _who(self, column):
        return true() if self.learners is None else column.in_(self.learners)

    def topics(self, now: datetime | None = None) -> list[dict]:
        """One row per topic in reading order: its active questions, how many learners studied
        it, their mean recall of the cards they studied and mean mastery of the topic, and the
        reviews and misses recorded on its current questions."""
        now = now or utcnow()
        with self.store.db.read() as db:
            active = db.execute(select(items.c.id, items.c.source, items.c.heading)
                                .where(items.c.retired_at.is_(None))
                                .order_by(items.c.source, items.c.position)).all()
            studied = db.execute(
                select(cards, items.c.source, items.c.heading)
                .join(items, items.c.id == cards.c.item_id)
                .where(items.c.retired_at.is_(None), self._who(cards.c.learner))).mappings().all()
            logged = db.execute(
                select(items.c.source, items.c.heading, func.count(),
                       func.sum(case((MISSED, 1), else_=0)))
                .join(items, items.c.id == reviews.c.item_id)
                .where(items.c.retired_at.is_(None), self._who(reviews.c.learner))
                .group_by(items.c.source, items.c.heading)).all()
        size: dict[str, int] = defaultdict(int)
        for row in active:
            size[topic_label(row.source, row.heading)] += 1
        recall: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for row in studied:
            card = card_from_row(row)
            value = float(self.store.scheduler.get_card_retrievability(card, now))
            recall[topic_label(row["source"], row["heading"])][row["learner"]].append(value)
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for source, heading, n, missed in logged:
            total = counts[topic_label(source, heading)]
            total[0] += n
            total[1] += int(missed or 0)
        out = []
        for topic, n_items in size.items():
            by_learner = recall.get(topic, {})
            cards_recall = [v for values in by_learner.values() for v in values]
            out.append({
                "topic": topic, "items": n_items, "learners": len(by_learner),
                "recall": _mean(cards_recall),
                "mastery": _mean([sum(v) / n_items for v in by_learner.values()]),
                "reviews": counts[topic][0], "missed": counts[topic][1],
            })
        return out

    def most_missed(self, now: datetime | None = None, limit: int = 10) -> list[dict]:
        """Current questions by how often they were missed (ties: by miss rate), each with the
        passage it was made from (source, heading, chunk id: what the Sources tab opens)."""
        misses = func.sum(case((MISSED, 1), else_=0))
        missed_by = func.count(func.distinct(case((MISSED, reviews.c.learner))))
        query = (select(items.c.id, items.c.question, items.c.answer, items.c.type, items.c.source,
                        items.c.heading, items.c.chunk_id, func.count().label("reviews"),
                        misses.label("misses"), missed_by.label("learners"))
                 .join(reviews, reviews.c.item_id == items.c.id)
                 .where(items.c.retired_at.is_(None), self._who(reviews.c.learner))
                 .group_by(items.c.id, items.c.question, items.c.answer, items.c.type,
                           items.c.source, items.c.heading, items.c.chunk_id)
                 .having(misses > 0))
        with self.store.db.read() as db:
            rows = db.execute(query).mappings().all()
        found = [{
            "item_id": r["id"], "question": r["question"], "expected": r["answer"],
            "type": r["type"], "topic": topic_label(r["source"], r["heading"]),
            "source": r["source"], "heading": r["heading"], "chunk_id": r["chunk_id"],
            "misses": int(r["misses"]), "reviews": int(r["reviews"]),
            "miss_rate": int(r["misses"]) / int(r["reviews"]), "learners": int(r["learners"]),
        } for r in rows]
        found.sort(key=lambda r: (-r["misses"], -r["miss_rate"], r["source"], r["item_id"]))
        return found[:limit]

    def due_load(self, now: datetime | None = None, days: int = 7) -> list[dict]:
        """Cards coming due on each of the next days across the class (today includes overdue
        ones), and how many learners have any."""
        now = now or utcnow()
        start = day_start(now)
        end = start + timedelta(days=days)
        with self.store.db.read() as db:
            rows = db.execute(select(cards.c.learner, cards.c.due)
                              .join(items, items.c.id == cards.c.item_id)
                              .where(items.c.retired_at.is_(None), cards.c.due < _ts(end),
                                     self._who(cards.c.learner))).all()
        due = [0] * days
        who: list[set[str]] = [set() for _ in range(days)]
        for learner, at in rows:
            n = min(max(0, int((at - _ts(start)) // 86400)), days - 1)  # overdue counts today
            due[n] += 1
            who[n].add(learner)
        return [{"day": (start + timedelta(days=n)).astimezone().date().isoformat(),
                 "due": due[n], "learners": len(who[n])} for n in range(days)]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
