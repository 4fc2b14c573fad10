"""Quiz progress in PostgreSQL (ASSISTANT_DATABASE_URL) and the schema's migrations.

A real PostgreSQL from Debian's package runs in a temporary cluster (tests/pg_cluster.py). The
review tests of test_review.py run again with the variable set; two stores on one database stand
for two app instances recording at once.
The SQLite file tests/data/progress/made-by-83bb5bf.db was written by the raw-sqlite3 store of
commit 83bb5bf (two learners, three days of reviews over knowledge/, a preference, a retired
item): the Alembic baseline must adopt it without losing a row.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pg_cluster
import pytest
import test_review as review_suite
from browser import free_port
from conftest import DATA, ROOT, make_quiz, run_cli
from test_class_report import run_class_scenario
from test_review import T0

from assistant.quiz.database import HEAD_REVISION, MIGRATIONS, ProgressUnavailable
from assistant.quiz.scheduling import ReviewStore

LEGACY = DATA / "progress" / "made-by-83bb5bf.db"
SECRET = "s3cret-pass"


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server in a temporary cluster; yields a function making a fresh database URL."""
    if pg_cluster.bindir() is None:
        pytest.skip(pg_cluster.INSTALL)
    with pg_cluster.temporary_cluster() as cluster:
        yield cluster.new_database


@pytest.fixture
def pg_url(postgres, monkeypatch) -> str:
    """A fresh database, and ASSISTANT_DATABASE_URL pointing at it (as an instance would have)."""
    url = postgres()
    monkeypatch.setenv("ASSISTANT_DATABASE_URL", url)
    return url


@pytest.fixture
def seed(pg_url, tmp_path, embedder):
    """test_review's indexed copy of the seed notes; its stores now open the PostgreSQL database."""
    return review_suite.indexed_copy(tmp_path, embedder)


# --- the review behaviour of test_review.py, on PostgreSQL ----------------------------------

@pytest.mark.parametrize("case", [
    "test_intervals_grow_on_success_and_shrink_on_failure",
    "test_rating_buttons_show_the_interval_the_card_gets",
    "test_due_queue_and_daily_new_card_limit",
    "test_progress_is_per_learner",
    "test_mastery_and_forecast",
    "test_editing_a_note_retires_its_questions_and_keeps_history",
    "test_removing_a_note_retires_all_its_questions",
    "test_killed_quiz_keeps_every_rated_answer",  # the CLI in its own process, on PostgreSQL
])
def test_review_behaviour_on_postgres(seed, pg_url, case):
    quiz = make_quiz(seed)
    assert quiz.store.db.url.get_backend_name() == "postgresql"  # not the SQLite file
    getattr(review_suite, case)(seed)
    assert not (seed.settings.data_dir / "progress.sqlite3").exists()


def test_progress_survives_a_restart_on_postgres(seed, pg_url):
    quiz = make_quiz(seed)
    item = quiz.session("ana", n=1, now=T0).items[0]
    review = quiz.record("ana", item, 3, now=T0)
    del quiz

    other_host = ReviewStore(seed.settings.data_dir.parent / "elsewhere")  # a new instance, same URL
    assert other_host.card("ana", item.id).due == review.due
    assert [h["rating"] for h in other_host.history("ana")] == [3]
    assert other_host.due_items("ana", T0 + review.interval)[0].id == item.id


def test_two_instances_recording_at_once_lose_no_review(seed, pg_url):
    """Two stores (two engines and pools, as two app instances) rate the same learner's same
    cards at the same moment: every review is kept and every card counts all of them."""
    first, second = (ReviewStore(seed.settings.data_dir / name, url=pg_url) for name in "ab")
    quiz = make_quiz(seed, first)
    items = quiz.session("ana", n=4, now=T0).items
    rounds = 15
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def instance(store: ReviewStore, rating: int) -> None:
        try:
            start.wait()
            for n in range(rounds):
                for item in items:
                    store.review("ana", item.id, rating, T0, answer=f"try {n}")
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=instance, args=(s, r)) for s, r in ((first, 3), (second, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    history = first.history("ana")
    assert len(history) == 2 * rounds * len(items)
    assert {r: sum(h["rating"] == r for h in history) for r in (1, 3)} == {1: 60, 3: 60}
    with first.db.read() as db:
        reps = dict(db.exec_driver_sql("SELECT item_id, reps FROM cards WHERE learner='ana'").all())
    assert reps == {item.id: 2 * rounds for item in items}  # no update lost to a race


def test_two_instances_starting_on_an_empty_database_both_open_it(pg_url, tmp_path):
    stores, failures = [], []
    start = threading.Barrier(2)

    def open_store(n: int) -> None:
        try:
            start.wait()
            stores.append(ReviewStore(tmp_path / str(n), url=pg_url))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_store, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures and len(stores) == 2
    with stores[0].db.read() as db:
        assert db.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [("0001",)]


def test_migrations_build_the_schema_the_code_queries(pg_url, tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from assistant.quiz.tables import metadata

    for store in (ReviewStore(tmp_path / "sqlite", environ={}), ReviewStore(tmp_path, url=pg_url)):
        with store.db.read() as db:
            assert compare_metadata(MigrationContext.configure(db), metadata) == [], store


def test_class_report_on_postgres(seed, pg_url):
    run_class_scenario(seed, ReviewStore(seed.settings.data_dir, url=pg_url))


@pytest.mark.parametrize("backend", ["postgresql", "sqlite", "sqlite-file"])
def test_two_libraries_keep_their_own_progress(seed, tmp_path, postgres, backend):
    """Two libraries' instances on one database (or one data folder, or one named SQLite file):
    B's notes never retire A's questions, and a learner's history in A is not in B."""
    url = {"postgresql": postgres() if backend == "postgresql" else None, "sqlite": None,
           "sqlite-file": f"sqlite:///{tmp_path}/class.sqlite3"}[backend]
    a = ReviewStore(tmp_path, url=url, environ={}, library="notes")
    b = ReviewStore(tmp_path, url=url, environ={}, library="class-b")
    quiz_a = make_quiz(seed, a)
    item = quiz_a.session("ana", n=1, now=T0).items[0]
    quiz_a.record("ana", item, 3, now=T0)
    before = {i.id for i in a.items()}

    others = [c for c in seed.chunks() if c.content_hash != item.content_hash]  # lacks A's passage
    quiz_b = make_quiz(seed, b)
    quiz_b._chunks = lambda: others
    report = quiz_b.prepare(T0)
    assert report.retired == 0 and b.items()
    assert item.content_hash not in {i.content_hash for i in b.items()}
    assert {i.id for i in a.items()} == before and not a.is_retired(item.id)
    assert len(a.history("ana")) == 1 and b.history("ana") == []
    files = {"sqlite": ["progress-class-b.sqlite3", "progress.sqlite3"],
             "sqlite-file": ["class-class-b.sqlite3", "class.sqlite3"], "postgresql": []}[backend]
    assert sorted(p.name for p in tmp_path.glob("*.sqlite3")) == files


def test_a_database_that_goes_away_is_one_sentence_and_reviews_resume_when_it_is_back(tmp_path):
    """The server stops mid-session: the review in flight is refused in one sentence (nothing half
    written), and once the server is back the same store records again without a restart."""
    with pg_cluster.temporary_cluster() as cluster:
        store = ReviewStore(tmp_path, url=cluster.new_database())
        store.add_items([_item("q1")], "test", [], T0)
        store.review("ana", "q1", 3, T0)
        cluster.stop()
        with pytest.raises(ProgressUnavailable) as caught:
            store.review("ana", "q1", 3, T0 + timedelta(minutes=10))
        assert "could not be read or saved in the database" in str(caught.value)
        assert "\n" not in str(caught.value)
        cluster.start()
        store.review("ana", "q1", 4, T0 + timedelta(minutes=11))
        assert [h["rating"] for h in store.history("ana")] == [3, 4]


def _item(item_id: str):
    from assistant.quiz.items import QuizItem

    return QuizItem(id=item_id, type="short", question=f"{item_id}?", answer="a", chunk_id="c",
                    source="n.md", heading="N", passage="text", content_hash="h")


# --- SQLite: the default, and existing learners' files ----------------------------------------

def _rows(path: Path, table: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()


def test_a_progress_file_from_before_migrations_is_adopted_without_losing_a_review(tmp_path):
    path = tmp_path / "progress.sqlite3"
    shutil.copy(LEGACY, path)
    before = {t: _rows(path, t) for t in ("items", "passages", "cards", "reviews", "preferences")}
    assert len(before["reviews"]) == 36 and len(before["cards"]) == 20

    store = ReviewStore(tmp_path, environ={})
    assert {t: _rows(path, t) for t in before} == before  # every row, as it was
    assert len(store.history("ana")) + len(store.history("ben")) == 36
    assert store.preference("ana", "study_mode") == "1"
    ana = {h["item_id"] for h in store.history("ana")}
    assert store.due_items("ana", T0.replace(day=30)) and set(
        i.id for i in store.due_items("ana", T0.replace(day=30))) <= ana
    # and it keeps working: a new review lands after the old ones, and the file is versioned
    item = next(i for i in sorted(ana) if not store.is_retired(i))
    store.review("ana", item, 3, T0.replace(day=10))
    assert len(_rows(path, "reviews")) == 37 and _rows(path, "reviews")[:36] == before["reviews"]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    ReviewStore(tmp_path, environ={})  # opening it again changes nothing
    assert len(_rows(path, "reviews")) == 37


def test_sqlite_runs_with_full_sync_and_foreign_keys(tmp_path):
    store = ReviewStore(tmp_path, environ={})
    with store.db.read() as db:
        pragmas = {p: db.exec_driver_sql(f"PRAGMA {p}").scalar()
                   for p in ("journal_mode", "synchronous", "foreign_keys")}
    assert pragmas == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}


def test_a_file_another_program_wrote_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "progress.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE reviews (id INTEGER PRIMARY KEY, note TEXT)")
    with pytest.raises(ProgressUnavailable, match="not written by this app"):
        ReviewStore(tmp_path, environ={})
    assert _rows(path, "reviews") == [] and "alembic_version" not in str(
        sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall())


def test_the_start_up_check_knows_the_newest_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_progress_at_the_newest_migration_opens_without_loading_alembic(tmp_path):
    ReviewStore(tmp_path, environ={})  # created and migrated
    opened = subprocess.run(
        [sys.executable, "-c", "import sys; from assistant.quiz.scheduling import ReviewStore; "
         "ReviewStore(sys.argv[1], environ={}); print('alembic' in sys.modules)", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.strip() == "False"


# --- a bad URL or an unreachable database: one sentence, no password -------------------------

@pytest.mark.parametrize("url, says", [
    (f"postgresql://teacher:{SECRET}@127.0.0.1:1/class", "could not be read or saved in the database"),
    (f"mysql://teacher:{SECRET}@db/class", "PostgreSQL or SQLite only"),
    (f"postgresql//teacher:{SECRET}@db", "is not a database URL"),
])
def test_a_bad_or_unreachable_database_is_one_sentence_without_the_password(tmp_path, url, says):
    with pytest.raises(ProgressUnavailable) as caught:
        ReviewStore(tmp_path, url=url)
    message = str(caught.value)
    assert says in message and "ASSISTANT_DATABASE_URL" in message
    assert SECRET not in message and "\n" not in message


@pytest.mark.parametrize("command", [("-m", "assistant", "quiz", "--n", "1"), ("app.py",)])
def test_the_quiz_command_and_the_app_say_so_without_a_traceback(tmp_path, command):
    if command == ("app.py",):  # the app serves its page before it opens the database
        command += ("--port", str(free_port()))
    env = {**os.environ, "ASSISTANT_DATABASE_URL": f"postgresql://teacher:{SECRET}@127.0.0.1:1/class"}
    done = run_cli(*command, "--db", str(tmp_path), "--knowledge", str(ROOT / "knowledge"), input="", env=env)
    assert done.returncode == 2, done.stderr
    assert "Quiz progress could not be read or saved" in done.stderr
    assert "Traceback" not in done.stderr and SECRET not in done.stderr + done.stdout


def test_the_store_never_shows_the_password(pg_url, tmp_path):
    url = pg_url.replace("postgres@", f"postgres:{SECRET}@")  # trust auth: any password is let in
    store = ReviewStore(tmp_path, url=url)
    assert SECRET not in repr(store) and SECRET not in str(store.db.url) and "***" in repr(store)
