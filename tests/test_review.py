"""Review scheduling and progress: FSRS with a controlled clock, the daily new-card limit, per-learner
progress, persistence across a restart and a killed process, and regeneration when a note changes."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from conftest import ROOT, make_quiz

from assistant.core.config import Settings
from assistant.quiz.scheduling import ReviewStore, format_interval

SEED = ROOT / "knowledge"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # a Monday morning


@pytest.fixture
def seed(tmp_path, embedder):
    return indexed_copy(tmp_path, embedder)


def indexed_copy(tmp_path, embedder):
    """A writable copy of the seed notes, indexed, with its own progress database (the SQLite
    file in its data folder unless ASSISTANT_DATABASE_URL is set: test_progress_postgres.py)."""
    from assistant.services import Services

    shutil.copytree(SEED, tmp_path / "knowledge")
    rt = Services(Settings.from_env(environ={}, knowledge_dir=tmp_path / "knowledge",
                                   data_dir=tmp_path / "data"))
    rt.__dict__["embedder"] = embedder
    rt.__dict__["llm"] = None
    rt.admin.ingest()
    return rt


def _first_item(quiz, learner: str = "ana", now=T0):
    return quiz.session(learner, n=1, now=now).items[0]


# --- FSRS scheduling with a controlled clock -------------------------------------------------

def test_intervals_grow_on_success_and_shrink_on_failure(seed):
    quiz = make_quiz(seed)
    item = _first_item(quiz)
    now = T0
    first = quiz.record("ana", item, 3, now=now)  # Good on a new card: a learning step
    assert first.interval == timedelta(minutes=10) and first.state == "Learning"
    now += first.interval
    intervals = []
    for _ in range(4):  # Good every time it comes due
        review = quiz.record("ana", item, 3, now=now)
        intervals.append(review.interval)
        now += review.interval
    assert all(a < b for a, b in zip(intervals, intervals[1:]))
    assert intervals[0] >= timedelta(days=1) and intervals[-1] >= timedelta(days=30)

    lapse = quiz.record("ana", item, 1, now=now)  # forgotten: back to a 10-minute relearning step
    assert lapse.interval == timedelta(minutes=10) and lapse.state == "Relearning"
    now += lapse.interval
    after = quiz.record("ana", item, 3, now=now)
    assert timedelta(days=1) <= after.interval < intervals[-1]


def test_rating_buttons_show_the_interval_the_card_gets(seed):
    quiz = make_quiz(seed)
    item = _first_item(quiz)
    preview = quiz.preview("ana", item, now=T0)
    assert preview[1] == "<1 min" and preview[3] == "<10 min" and preview[4].endswith(" d")
    review = quiz.record("ana", item, 4, now=T0)
    assert format_interval(review.interval) == preview[4]


@pytest.mark.parametrize("delta, text", [
    (timedelta(seconds=30), "<1 min"), (timedelta(minutes=10), "<10 min"), (timedelta(hours=5), "5 h"),
    (timedelta(days=2), "2 d"), (timedelta(days=12), "12 d"), (timedelta(days=91), "3 mo"),
    (timedelta(days=400), "1.1 y"),
])
def test_interval_labels_read_like_anki(delta, text):
    assert format_interval(delta) == text


def test_due_queue_and_daily_new_card_limit(seed):
    quiz = make_quiz(seed, ReviewStore(seed.settings.data_dir, new_per_day=3))
    first = quiz.session("ana", n=10, now=T0)
    assert len(first.items) == 3 and first.due == 0  # only three new cards a day
    for item in first.items:
        quiz.record("ana", item, 3, now=T0)
    later = quiz.session("ana", n=10, now=T0 + timedelta(minutes=11))
    assert later.due == 3 and len(later.items) == 3  # learning cards due again, no new ones left
    assert {i.id for i in later.items} == {i.id for i in first.items}
    assert quiz.session("ana", n=10, now=T0 + timedelta(minutes=11), due_only=True).items == later.items

    tomorrow = T0 + timedelta(days=1)
    for item in later.items:
        quiz.record("ana", item, 3, now=T0 + timedelta(minutes=11))
    next_day = quiz.session("ana", n=10, now=tomorrow)
    assert len(next_day.items) == 3 and not {i.id for i in next_day.items} & {i.id for i in first.items}
    counts = quiz.store.counts("ana", tomorrow)
    assert counts["new_today"] == 3 and counts["due_today"] == 0


def test_progress_is_per_learner(seed):
    quiz = make_quiz(seed)
    item = _first_item(quiz)
    quiz.record("alice", item, 4, now=T0)
    assert quiz.store.history("alice") and not quiz.store.history("bob")
    assert quiz.store.card("bob", item.id, T0).last_review is None
    bob = quiz.session("bob", n=1, now=T0)
    assert bob.items[0].id == item.id  # still new for bob


def test_mastery_and_forecast(seed):
    quiz = make_quiz(seed)
    items = quiz.session("ana", n=4, topics=["Last Mile"], now=T0).items
    for item in items:
        quiz.record("ana", item, 3, now=T0)  # Good: back in 10 minutes, so due today
    mastery = {m["topic"]: m for m in quiz.store.mastery("ana", T0 + timedelta(days=1))}
    last_mile = mastery["ai-engineering-foundations.md › The Last Mile Challenge: Demo vs. Product"]
    assert last_mile["seen"] == len(items) and 0 < last_mile["mastery"] <= 1
    assert all(m["mastery"] == 0 for t, m in mastery.items() if "Last Mile" not in t)
    forecast = quiz.store.forecast("ana", T0)
    assert len(forecast) == 7 and forecast[0]["due"] == len(items)
    assert quiz.store.reviews_per_day("ana", T0)[-1]["reviews"] == len(items)


# --- persistence -------------------------------------------------------------------------------

def test_progress_survives_a_restart(seed):
    quiz = make_quiz(seed)
    item = _first_item(quiz)
    review = quiz.record("ana", item, 3, now=T0)
    del quiz

    reopened = ReviewStore(seed.settings.data_dir)  # a new process would do just this
    assert reopened.card("ana", item.id).due == review.due
    assert [h["rating"] for h in reopened.history("ana")] == [3]
    with sqlite3.connect(seed.settings.data_dir / "progress.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_deleting_the_progress_file_while_running_starts_afresh(seed):
    quiz = make_quiz(seed)
    item = _first_item(quiz)
    quiz.record("ana", item, 3, now=T0)
    for path in seed.settings.data_dir.glob("progress.sqlite3*"):  # the learner's "start over"
        path.unlink()
    again = quiz.session("ana", n=1, now=T0)  # questions are made again for the new file
    assert again.items[0].id == item.id and quiz.store.history("ana") == []
    quiz.record("ana", again.items[0], 4, now=T0)
    assert [h["rating"] for h in ReviewStore(seed.settings.data_dir).history("ana")] == [4]


QUIZ_CMD = ["-m", "assistant", "quiz"]


def test_killed_quiz_keeps_every_rated_answer(seed):
    """SIGKILL between reviews: the two rated answers survive, the one in flight is lost."""
    data, notes = seed.settings.data_dir, seed.settings.knowledge_dir
    proc = subprocess.Popen(
        [sys.executable, *QUIZ_CMD, "--n", "5", "--db", str(data), "--knowledge", str(notes),
         "--learner", "crash"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    # two answers rated Again and Easy, a third answered but not yet rated (empty answers:
    # a flashcard is turned over, a blank or a choice is simply wrong)
    proc.stdin.write("\n1\n\n4\n\n")
    proc.stdin.flush()
    # A thread reads the lines: select() on the pipe misses lines already in readline's buffer.
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=lambda: [*map(lines.put, proc.stdout), lines.put(None)],
                     daemon=True).start()
    saved, sources, transcript = 0, 0, []
    deadline = time.monotonic() + 400  # a safety net on a loaded machine, not a timing check
    try:
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            transcript.append(line)
            saved += line.startswith("Saved")
            sources += line.startswith("Source:")
            if saved == 2 and sources == 3:  # the third answer's feedback is on screen
                break
        assert saved == 2 and sources == 3, "".join(transcript)
        time.sleep(0.5)  # let it reach the rating prompt
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    store = ReviewStore(data)  # the same database the killed process used (SQLite or PostgreSQL)
    history = store.history("crash")
    assert [h["rating"] for h in history] == [1, 4]
    assert len(store.studied("crash")) == 2  # two cards, nothing half written
    if store.db.is_sqlite:
        with sqlite3.connect(data / "progress.sqlite3") as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # the quiz picks up where it stopped: the Again card is due again within the hour
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    due = {i.id for i in store.due_items("crash", later)}
    assert history[0]["item_id"] in due and history[1]["item_id"] not in due


# --- notes that change --------------------------------------------------------------------

def test_editing_a_note_retires_its_questions_and_keeps_history(seed):
    quiz = make_quiz(seed)
    quiz.prepare(T0)
    items = {i.id: i for i in quiz.store.items()}
    linkedin = next(i for i in items.values() if "LinkedIn" in i.question)
    other = next(i for i in items.values() if i.content_hash != linkedin.content_hash)
    quiz.record("ana", linkedin, 3, now=T0)
    quiz.record("ana", other, 4, now=T0)

    note = seed.settings.knowledge_dir / "ai-engineering-foundations.md"
    note.write_text(note.read_text().replace("needed 4 MORE months", "needed 5 MORE months"))
    seed.admin.ingest()
    report = quiz.prepare(T0 + timedelta(hours=1))

    assert report.retired >= 1 and report.added >= 1
    assert quiz.store.is_retired(linkedin.id) and not quiz.store.is_retired(other.id)
    fresh = [i for i in quiz.store.items() if "LinkedIn" in i.question]
    assert fresh and fresh[0].answer == "5" and fresh[0].id != linkedin.id
    # history of the retired question is kept; it is no longer asked
    assert any(h["item_id"] == linkedin.id for h in quiz.store.history("ana"))
    later = T0 + timedelta(days=30)
    due = {i.id for i in quiz.store.due_items("ana", later)}
    assert linkedin.id not in due and other.id in due
    # unchanged passages keep their questions (same ids, same schedule)
    kept = {i.content_hash for i in items.values()} - {linkedin.content_hash}
    assert {i.id for i in quiz.store.items() if i.content_hash in kept} == {
        i.id for i in items.values() if i.content_hash in kept}

    # undoing the edit brings the old question back with its history
    note.write_text(note.read_text().replace("needed 5 MORE months", "needed 4 MORE months"))
    seed.admin.ingest()
    quiz.prepare(T0 + timedelta(hours=2))
    assert not quiz.store.is_retired(linkedin.id)
    assert quiz.store.card("ana", linkedin.id).last_review is not None


def test_removing_a_note_retires_all_its_questions(seed):
    quiz = make_quiz(seed)
    quiz.prepare(T0)
    before = quiz.store.items()
    extra = seed.settings.knowledge_dir / "extra.md"
    extra.write_text("# Extra\n\n## Retrieval\n\n**Three retrieval styles:**\n\n- Dense\n- Sparse\n- Hybrid\n\n"
                     "Reciprocal rank fusion combines rankings without calibrating their scores.\n")
    seed.admin.ingest()
    quiz.prepare(T0)
    added = [i for i in quiz.store.items() if i.source == "extra.md"]
    assert added and any("Three retrieval styles" in i.question for i in added)
    extra.unlink()
    seed.admin.ingest()
    report = quiz.prepare(T0)
    assert report.retired == len(added)
    assert {i.id for i in quiz.store.items()} == {i.id for i in before}
