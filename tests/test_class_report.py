"""The data behind a teacher's Class view (assistant/quiz/class_report.py): per topic, how many
learners studied it, their recall and mastery; the questions missed most with their passage; the
class's due load per day; and never a learner's answer text. test_progress_postgres.py runs the
same scenario on PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

from conftest import make_quiz
from test_review import T0

from assistant.quiz.class_report import ClassReport
from assistant.quiz.scheduling import ReviewStore

LAST_MILE = "ai-engineering-foundations.md › The Last Mile Challenge: Demo vs. Product"


def run_class_scenario(seed, store: ReviewStore) -> None:
    """Ana and Ben study the Last Mile section (both miss its first question, only Ben its second);
    every answer carries a marker that must never reach the report."""
    quiz = make_quiz(seed, store)
    questions = quiz.session("ana", n=3, topics=[LAST_MILE], now=T0).items
    assert len(questions) == 3
    first, second, third = questions
    plan = {"ana": [(first, 1), (second, 3), (third, 4)], "ben": [(first, 1), (second, 1), (third, 3)]}
    for learner, ratings in plan.items():
        for item, rating in ratings:
            store.review(learner, item.id, rating, T0, correct=rating > 1,
                         answer=f"PRIVATE-ANSWER-{learner}-{item.id}")
    store.review("ana", first.id, 3, T0 + timedelta(minutes=2), correct=True,
                 answer="PRIVATE-ANSWER-ana-retry")
    later = T0 + timedelta(days=2)
    report = ClassReport(store)

    topics = {t["topic"]: t for t in report.topics(later)}
    row = topics[LAST_MILE]
    assert row["learners"] == 2 and row["reviews"] == 7 and row["missed"] == 3
    assert 0 < row["mastery"] <= row["recall"] <= 1
    untouched = [t for name, t in topics.items() if name != LAST_MILE]
    assert untouched and all(t["learners"] == 0 and t["recall"] is None for t in untouched)
    # the teacher's figure is the learners' own: mean of what each one's Progress view shows
    own = [next(m["mastery"] for m in store.mastery(who, later) if m["topic"] == LAST_MILE)
           for who in ("ana", "ben")]
    assert abs(row["mastery"] - sum(own) / 2) < 1e-9

    missed = report.most_missed(later)
    assert [m["item_id"] for m in missed] == [first.id, second.id]  # third was never missed
    assert missed[0]["misses"] == 2 and missed[0]["learners"] == 2 and missed[0]["reviews"] == 3
    assert missed[1]["misses"] == 1 and missed[1]["miss_rate"] == 0.5
    assert missed[0]["chunk_id"] == first.chunk_id and missed[0]["question"] == first.question
    assert missed[0]["source"] == first.source and missed[0]["topic"] == LAST_MILE

    load = report.due_load(T0, days=7)
    assert [d["due"] for d in load] == [sum(store.forecast(who, T0)[n]["due"] for who in plan)
                                        for n in range(7)]
    # five learning cards come back today; Ana's Easy card only after this week
    assert load[0] == {"day": load[0]["day"], "due": 5, "learners": 2}
    assert sum(d["due"] for d in load) == 5

    only_ana = ClassReport(store, learners=["ana"])
    assert {t["topic"]: t for t in only_ana.topics(later)}[LAST_MILE]["learners"] == 1
    assert [m["item_id"] for m in only_ana.most_missed(later)] == [first.id]

    shown = json.dumps([report.topics(later), report.most_missed(later), report.due_load(later),
                        only_ana.topics(later), only_ana.most_missed(later)])
    assert "PRIVATE-ANSWER" not in shown


def test_class_report_on_sqlite(seed, tmp_path):
    run_class_scenario(seed, ReviewStore(tmp_path / "class", environ={}))


def test_an_empty_class_reports_nothing_studied(seed, tmp_path):
    store = ReviewStore(tmp_path / "empty", environ={})
    make_quiz(seed, store).prepare(T0)
    report = ClassReport(store)
    assert report.topics(T0) and all(t["learners"] == 0 and t["mastery"] is None
                                     for t in report.topics(T0))
    assert report.most_missed(T0) == [] and sum(d["due"] for d in report.due_load(T0)) == 0
