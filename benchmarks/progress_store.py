"""Quiz progress on SQLite vs PostgreSQL: reviews recorded per second by one instance, and by two
instances (two processes) rating the same learners' same cards at once, with the reviews and
card updates lost (target 0); and how long the teacher's class report takes.

    .venv/bin/python benchmarks/progress_store.py [--reviews 400] [--items 20] [--learners 4]
        [--class-size 30] [--class-items 100]

PostgreSQL is a temporary cluster from Debian's package (tests/pg_cluster.py), fsync on, on this
machine's disk; SQLite is the default file in WAL mode with full sync. Each review is one committed
transaction, as in the app.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from common import load_avg  # noqa: E402

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def _store(url: str, data: str):
    from assistant.quiz.scheduling import ReviewStore

    return ReviewStore(Path(data), url=url)


def setup(url: str, data: str, n_items: int) -> list[str]:
    from assistant.quiz.items import QuizItem

    items = [QuizItem(id=f"bench-{n}", type="short", question=f"Question {n}?", answer=f"answer {n}",
                      chunk_id=f"chunk-{n}", source="bench.md", heading="Bench", passage="text",
                      content_hash=f"h{n}", position=n) for n in range(n_items)]
    _store(url, data).add_items(items, "bench", [], T0)
    return [i.id for i in items]


def writer(url: str, data: str, ids: list[str], learners: int, reviews: int, rating: int,
           at: float | None = None) -> tuple[float, float]:
    """Record `reviews` reviews round-robin over learners x items, starting at wall time `at`
    (so two processes start together after their imports); returns (start, end) wall times."""
    store = _store(url, data)
    pairs = [(f"learner{n}", i) for n in range(learners) for i in ids]
    if at is not None:
        time.sleep(max(0.0, at - time.time()))
    start = time.time()
    for n in range(reviews):
        learner, item = pairs[n % len(pairs)]
        store.review(learner, item, rating, T0, answer="bench")
    return start, time.time()


def lost(url: str, data: str, ids: list[str], learners: int, reviews: int) -> tuple[int, int]:
    """(reviews lost, card updates lost) after two writers of `reviews` reviews each."""
    pairs = [(f"learner{n}", i) for n in range(learners) for i in ids]
    expected: dict[tuple[str, str], int] = {}
    for n in range(reviews):
        expected[pairs[n % len(pairs)]] = expected.get(pairs[n % len(pairs)], 0) + 2
    with _store(url, data).db.read() as db:
        recorded = db.exec_driver_sql("SELECT COUNT(*) FROM reviews").scalar_one()
        reps = {(learner, item): n for learner, item, n in db.exec_driver_sql(
            "SELECT learner, item_id, reps FROM cards").all()}
    return 2 * reviews - recorded, sum(n - reps.get(key, 0) for key, n in expected.items())


def class_report(url: str, data: str, learners: int, n_items: int) -> str:
    """Every learner reviews every item once (one in five missed), then the teacher's three
    queries run; returns their times."""
    from assistant.quiz.class_report import ClassReport
    from assistant.quiz.items import QuizItem

    store = _store(url, data)
    items = [QuizItem(id=f"class-{n}", type="cloze", question=f"Question {n}?", answer=f"a{n}",
                      chunk_id=f"chunk-{n}", source="course.md", heading=f"Unit {n % 10}",
                      passage="text", content_hash=f"c{n}", position=n) for n in range(n_items)]
    store.add_items(items, "bench", [], T0)
    for k in range(learners):
        for n, item in enumerate(items):
            missed = (n + k) % 5 == 0
            store.review(f"learner{k}", item.id, 1 if missed else 3, T0, correct=not missed)
    report = ClassReport(store)
    times = []
    for query in (report.topics, report.most_missed, report.due_load):
        start = time.perf_counter()
        query(T0)
        times.append(f"{query.__name__} {1000 * (time.perf_counter() - start):.0f} ms")
    return ", ".join(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=400, help="reviews per instance")
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--learners", type=int, default=4)
    parser.add_argument("--class-size", type=int, default=30,
                        help="learners in the class report's class (each reviews every item once)")
    parser.add_argument("--class-items", type=int, default=100)
    args = parser.parse_args()
    import pg_cluster

    print(load_avg())
    spawn = multiprocessing.get_context("spawn")  # each instance a fresh interpreter, as an app
    with pg_cluster.temporary_cluster() as cluster, spawn.Pool(2) as pool, \
            tempfile.TemporaryDirectory() as folder:
        def new_file() -> str:
            return f"sqlite:///{tempfile.mkdtemp(dir=folder)}/progress.sqlite3"

        for name, fresh in (("SQLite", new_file), ("PostgreSQL", cluster.new_database)):
            url = fresh()
            ids = setup(url, folder, args.items)
            start, end = writer(url, folder, ids, args.learners, args.reviews, 3)
            one = args.reviews / (end - start)
            url = fresh()
            ids = setup(url, folder, args.items)
            at = time.time() + 8  # both processes have imported and opened the store by then
            jobs = [pool.apply_async(writer, (url, folder, ids, args.learners, args.reviews, r, at))
                    for r in (3, 1)]
            spans = [job.get() for job in jobs]
            two = 2 * args.reviews / (max(e for _, e in spans) - min(s for s, _ in spans))
            reviews_lost, updates_lost = lost(url, folder, ids, args.learners, args.reviews)
            print(f"{name:10}  one instance {one:5.0f} reviews/s | two instances at once "
                  f"{two:5.0f} reviews/s together; reviews lost {reviews_lost}, card updates "
                  f"lost {updates_lost} (of {2 * args.reviews})")
            times = class_report(fresh(), folder, args.class_size, args.class_items)
            print(f"{name:10}  class report, {args.class_size} learners x {args.class_items} "
                  f"items reviewed: {times}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
