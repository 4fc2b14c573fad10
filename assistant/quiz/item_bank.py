"""The questions the review store holds: kept in line with the notes, looked up by id, passage or
topic; and a learner's small preferences. Mixed into `ReviewStore` (needs its `db`).

When a note changes, items whose passage is gone are retired (never deleted: their history
stays); items of new passages are generated. A passage that comes back brings its old items (and
schedules) back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select, update

from ..core.schema import Chunk
from .database import Database, upsert
from .items import QuizItem, matches_any
from .progress import _ts
from .review_terms import utcnow
from .tables import items as items_t
from .tables import passages as passages_t
from .tables import preferences


@dataclass
class SyncReport:
    added: int = 0
    retired: int = 0
    restored: int = 0
    active: int = 0

    def summary(self) -> str:
        return (f"{self.active} questions ready: {self.added} new, {self.retired} retired "
                f"because their passage changed")


class ItemBank:
    db: Database

    def sync(self, chunks: list[Chunk], generate: Callable[[list[Chunk]], list[QuizItem]],
             now: datetime | None = None) -> SyncReport:
        """Retire items of passages no longer in the notes; generate items for new passages."""
        now = now or utcnow()
        report = SyncReport()
        current = {(c.source, c.content_hash): c for c in chunks}
        done = self.passages_done("offline")
        fresh = [c for key, c in current.items() if key not in done]
        generated = generate(fresh) if fresh else []
        with self.db.write() as db:
            self.db.lock(db, "items")  # another instance syncing the same notes waits, then finds them done
            active = db.execute(select(items_t.c.id, items_t.c.source, items_t.c.content_hash)
                                .where(items_t.c.retired_at.is_(None))).all()
            gone = [r.id for r in active if (r.source, r.content_hash) not in current]
            if gone:
                db.execute(update(items_t).where(items_t.c.id.in_(gone)).values(retired_at=_ts(now)))
            report.retired = len(gone)
            known = {(r.source, r.content_hash) for r in
                     db.execute(select(passages_t.c.source, passages_t.c.content_hash))}
            for source, content_hash in known - current.keys():
                db.execute(passages_t.delete().where(passages_t.c.source == source,
                                                   passages_t.c.content_hash == content_hash))
            for chunk in current.values():  # a passage that moved keeps its items
                db.execute(update(items_t).where(
                    items_t.c.source == chunk.source, items_t.c.content_hash == chunk.content_hash,
                    items_t.c.chunk_id != chunk.id).values(chunk_id=chunk.id, heading=chunk.heading))
            report.added, report.restored = self._insert(db, generated, now)
            upsert(db, passages_t, [{"source": c.source, "content_hash": c.content_hash,
                                   "origin": "offline", "generated_at": _ts(now)} for c in fresh])
            report.active = db.execute(select(func.count()).select_from(items_t)
                                       .where(items_t.c.retired_at.is_(None))).scalar_one()
        return report

    def add_items(self, items: list[QuizItem], origin: str, passages: list[Chunk],
                  now: datetime | None = None) -> int:
        """Store items generated elsewhere (the LLM) and mark their passages as done for `origin`."""
        now = now or utcnow()
        with self.db.write() as db:
            self.db.lock(db, "items")
            added, restored = self._insert(db, items, now)
            upsert(db, passages_t, [{"source": c.source, "content_hash": c.content_hash,
                                   "origin": origin, "generated_at": _ts(now)} for c in passages])
        return added + restored

    def _insert(self, db: Connection, items: list[QuizItem], now: datetime) -> tuple[int, int]:
        from .generate import dedupe_key

        taken = set(db.execute(select(items_t.c.dedupe_key)
                               .where(items_t.c.retired_at.is_(None))).scalars())
        added = restored = 0
        for item in items:
            key = dedupe_key(item)
            row = db.execute(select(items_t.c.retired_at).where(items_t.c.id == item.id)).first()
            if row is not None:
                if row.retired_at is not None and key not in taken:
                    db.execute(update(items_t).where(items_t.c.id == item.id).values(
                        retired_at=None, chunk_id=item.chunk_id, heading=item.heading,
                        passage=item.passage))
                    restored += 1
                    taken.add(key)
                continue
            if key in taken:
                continue
            taken.add(key)
            db.execute(items_t.insert().values(
                id=item.id, type=item.type, question=item.question, answer=item.answer,
                options=json.dumps(item.options) if item.options else None,
                explanation=item.explanation, kind=item.kind, origin=item.origin,
                accept=json.dumps(item.accept), chunk_id=item.chunk_id, source=item.source,
                heading=item.heading, passage=item.passage, content_hash=item.content_hash,
                position=item.position, dedupe_key=key, created_at=_ts(now)))
            added += 1
        return added, restored

    def passages_done(self, origin: str) -> set[tuple[str, str]]:
        with self.db.read() as db:
            return {(r.source, r.content_hash) for r in db.execute(
                select(passages_t.c.source, passages_t.c.content_hash).where(passages_t.c.origin == origin))}

    def items(self, ids: list[str] | None = None, *, active: bool = True,
              topics: list[str] | None = None) -> list[QuizItem]:
        query = select(items_t).order_by(items_t.c.source, items_t.c.position)
        if active:
            query = query.where(items_t.c.retired_at.is_(None))
        if ids is not None:
            if not ids:
                return []
            query = query.where(items_t.c.id.in_(ids))
        with self.db.read() as db:
            rows = db.execute(query).mappings().all()
        found = [i for i in map(_item, rows) if matches_any(topics, i.source, i.heading)]
        if ids is not None:
            order = {i: n for n, i in enumerate(ids)}
            found.sort(key=lambda i: order[i.id])
        return found

    def passage_items(self, wanted: list[tuple[str, str]]) -> list[QuizItem]:
        """Active items of these passages, (source, content_hash) pairs, in reading order."""
        if not wanted:
            return []
        pairs = set(wanted)
        with self.db.read() as db:
            rows = db.execute(select(items_t).where(
                items_t.c.retired_at.is_(None), items_t.c.content_hash.in_({h for _, h in pairs}))
                .order_by(items_t.c.source, items_t.c.position)).mappings().all()
        return [_item(r) for r in rows if (r["source"], r["content_hash"]) in pairs]

    def is_retired(self, item_id: str) -> bool:
        with self.db.read() as db:
            row = db.execute(select(items_t.c.retired_at).where(items_t.c.id == item_id)).first()
        return row is None or row.retired_at is not None

    def preference(self, learner: str, key: str, default: str | None = None) -> str | None:
        with self.db.read() as db:
            value = db.execute(select(preferences.c.value).where(
                preferences.c.learner == learner, preferences.c.key == key)).scalar()
        return default if value is None else value

    def set_preference(self, learner: str, key: str, value: str) -> None:
        with self.db.write() as db:
            upsert(db, preferences, [{"learner": learner, "key": key, "value": value}], replace=True)


def _item(r) -> QuizItem:
    return QuizItem(
        id=r["id"], type=r["type"], question=r["question"], answer=r["answer"],
        chunk_id=r["chunk_id"], source=r["source"], heading=r["heading"], passage=r["passage"],
        content_hash=r["content_hash"], options=json.loads(r["options"]) if r["options"] else None,
        explanation=r["explanation"] or "", kind=r["kind"] or "term", origin=r["origin"],
        accept=json.loads(r["accept"]) if r["accept"] else [], position=r["position"],
    )
