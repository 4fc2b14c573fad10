"""Libraries on one real `chroma run`: instances of different libraries never see or change each
other's notes; runs of one library never overlap (a lock in the store, taken over when stale); and
a running app follows ingests made by another process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
from browser import DATA, start_app, stop_app
from conftest import run_cli
from gradio_client import Client
from test_chroma_server import server  # noqa: F401  (a real `chroma run` on loopback, per test)

from assistant.core.config import Settings
from assistant.core.errors import IndexBusy
from assistant.index.library import Library
from assistant.services import Services


def instance(tmp_path: Path, name: str, library: str, notes: Path, embedder, port: int | None = None,
             **settings) -> Services:
    """One app instance's services: its own notes folder and data folder, on the server at `port`."""
    knowledge = tmp_path / name / "notes"
    if not knowledge.exists():
        shutil.copytree(notes, knowledge)
    remote = dict(chroma_host="127.0.0.1", chroma_port=port) if port else {}
    services = Services(Settings.from_env(environ={}, knowledge_dir=knowledge, data_dir=tmp_path / name / "data",
                                          library=library, **remote, **settings))
    services.__dict__["embedder"] = embedder
    return services


def contents(services: Services) -> dict[str, str]:
    """chunk id -> text of everything the library holds, read straight from the store."""
    return {c.id: c.text for c in services.store.all_chunks()}


def cli_env(port: int, library: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "CHROMA_"))}
    return {**env, "CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(port), "ASSISTANT_LIBRARY": library, **extra}


def ingest_cli(services: Services, *flags: str, env: dict[str, str]):
    s = services.settings
    return run_cli("ingest.py", "--knowledge", str(s.knowledge_dir), "--db", str(s.data_dir), "--json",
                   *flags, env=env)


def test_another_librarys_reindex_delete_and_reset_leave_a_library_alone(server, embedder, tmp_path):  # noqa: F811
    a = instance(tmp_path, "a", "class-a", DATA / "notes", embedder, server["port"])
    b = instance(tmp_path, "b", "class-b", DATA / "shapes", embedder, server["port"])
    a.admin.ingest()
    b.admin.ingest()
    before = contents(a)
    assert before and not set(before) & set(contents(b))
    assert a.ask.ask("How does attention cost grow with sequence length?").citations[0].chunk.source == \
        "basics/attention.html"

    # B re-indexes a folder that lacks every note of A, deletes a note, then resets (by the command).
    b.sources.delete("book.md")
    (b.settings.knowledge_dir / "extra.md").write_text("# Extra\n\nA note only class B has.\n")
    assert "extra.md" in b.sources.reindex()
    reset = ingest_cli(b, "--reset", env=cli_env(server["port"], "class-b"))
    assert reset.returncode == 0, reset.stderr
    b_notes = {p.name for p in (DATA / "shapes").glob("*.md")} - {"book.md"} | {"extra.md"}
    assert json.loads(reset.stdout.splitlines()[-1])["files"] == len(b_notes)

    assert contents(a) == before  # not one chunk of A changed
    assert {c.source for c in b.store.all_chunks()} == b_notes
    # Each instance answers from its own library only.
    assert {h.chunk.source for h in b.retriever.search("attention cost sequence length", k=5)} <= b_notes
    answer = a.ask.ask("How does attention cost grow with sequence length?")
    assert answer.citations and all(c.chunk.source in {"basics/attention.html", "basics/tokens.txt",
                                                       "basics/prompting.pdf", "rag/retrieval.md",
                                                       "rag/evaluation.mdx"} for c in answer.citations)
    # A's own run afterwards finds nothing to do: its manifest was never touched either.
    assert a.admin.ingest().added == 0 and contents(a) == before


def test_reset_of_one_library_in_the_embedded_store_leaves_the_other(embedder, tmp_path):
    a = instance(tmp_path, "a", "class-a", DATA / "notes", embedder)
    b = instance(tmp_path, "a", "class-b", DATA / "notes", embedder)  # the same data folder and notes
    a.admin.ingest()
    b.admin.ingest()
    before = contents(a)
    assert b.admin.ingest(reset=True).added == len(contents(b))
    assert contents(a) == before
    # Each library keeps its own keyword index in the shared data folder.
    assert a.retriever.search("BM25", k=1) and b.retriever.search("BM25", k=1)
    assert {p.name for p in (a.settings.data_dir / "keyword-index").iterdir()} == {"class-a", "class-b"}


def test_an_index_made_before_libraries_is_the_default_library_as_it_is(services):
    """Indexes made before libraries had collections `notes` and `notes-files` and no `notes-meta`:
    the default library reads them as they are, at generation 0, with nothing to re-embed."""
    services.admin.ingest()
    client = services.store._client
    client.delete_collection("notes-meta")  # as an index made before libraries has none
    names = {c.name for c in client.list_collections()}
    assert {"notes", "notes-files"} <= names and "notes-meta" not in names
    again = Services(services.settings)
    again.__dict__["embedder"] = services.embedder
    assert Library(again.store).generation() == 0
    assert again.retriever.search("quadratic cost of attention", k=1)[0].chunk.source == "basics/attention.html"
    assert again.admin.ingest().added == 0


def test_a_second_ingest_of_a_library_is_refused_while_the_first_runs(server, embedder, tmp_path):  # noqa: F811
    a = instance(tmp_path, "a", "class-a", DATA / "notes", embedder, server["port"])
    embedding, finish = threading.Event(), threading.Event()

    def hold(done: int, total: int) -> None:  # the first run waits here, holding the lock, mid-run
        embedding.set()
        finish.wait(120)

    first = threading.Thread(target=lambda: a.admin.ingest(progress=hold))
    first.start()
    try:
        assert embedding.wait(120)
        # Another machine's command (another data folder) on the same library is refused at once...
        other = instance(tmp_path, "other", "class-a", DATA / "notes", embedder, server["port"])
        refused = ingest_cli(other, env=cli_env(server["port"], "class-a"))
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert "Another indexing run is already working on library 'class-a' (process " in refused.stderr
        assert f"(process {os.getpid()} on " in refused.stderr and "wait for it to finish" in refused.stderr
        # ...and so is a delete, while another library goes ahead.
        with pytest.raises(IndexBusy, match="Indexing is running right now"):
            other.sources.delete("rag/retrieval.md")
        assert (other.settings.knowledge_dir / "rag/retrieval.md").exists()
        b = instance(tmp_path, "b", "class-b", DATA / "shapes", embedder, server["port"])
        assert b.admin.ingest().files == len(list((DATA / "shapes").glob("*.md")))
    finally:
        finish.set()
        first.join(120)
    assert Library(a.store).holder() is None  # released when the run ended
    assert ingest_cli(a, env=cli_env(server["port"], "class-a")).returncode == 0


def test_a_stale_lock_is_taken_over_and_its_run_stops_before_writing_more(server, embedder, tmp_path):  # noqa: F811
    """A real run that hangs (SIGSTOP) past the lock timeout loses its lock to the next run; woken up,
    it finds out and stops, and the library ends as a clean build."""
    a = instance(tmp_path, "a", "class-a", DATA / "notes", embedder, server["port"], lock_timeout=3)
    env = cli_env(server["port"], "class-a", ASSISTANT_LOCK_TIMEOUT="3")
    s = a.settings
    hung = run_in_background(["ingest.py", "--knowledge", str(s.knowledge_dir), "--db", str(s.data_dir)], env)
    library = Library(a.store)
    try:
        # Stopped once its lock has had a heartbeat: the run holds it for sure, not still asking.
        holder = wait_for(lambda: (h := library.holder()) and h["expires"] > h["started"] + 3.01 and h,
                          "the first run to hold the lock")
        assert holder["pid"] == hung.pid
        hung.send_signal(signal.SIGSTOP)  # hung: no heartbeat from here on
        wait_for(lambda: library.holder() is None, "the hung run's lock to expire")
        second = ingest_cli(a, env=env)
        assert second.returncode == 0, second.stderr
        assert "Taking over the ingest lock of library 'class-a'" in second.stderr
    finally:
        hung.send_signal(signal.SIGCONT)
    out, err = hung.communicate(timeout=120)
    assert hung.returncode == 2, err
    assert "lost the lock of library 'class-a'" in err and "Traceback" not in err
    final = contents(a)
    assert ingest_cli(a, "--reset", env=env).returncode == 0
    assert contents(a) == final  # nothing half-written by the run that lost its lock


def test_a_run_killed_on_this_machine_leaves_no_lock_to_wait_for(embedder, tmp_path, settings):
    crashed = run_cli("ingest.py", "--knowledge", str(settings.knowledge_dir), "--db", str(settings.data_dir),
                      env={**os.environ, "ASSISTANT_TEST_CRASH_AT": "after-chunks"})
    assert crashed.returncode == 70
    again = run_cli("ingest.py", "--knowledge", str(settings.knowledge_dir), "--db", str(settings.data_dir))
    assert again.returncode == 0, again.stderr
    assert "its process has ended" in again.stderr


def test_the_running_app_sees_another_processs_ingest_before_its_next_answer(tmp_path):
    knowledge = tmp_path / "notes"
    shutil.copytree(DATA / "notes", knowledge)
    app = start_app(knowledge, tmp_path / "data", tmp_path / "app.log")
    try:
        client = Client(app.url, verbose=False)
        question = "What colour is the Zanzibar reranker's logo?"
        assert client.predict(question, [], api_name="/ask")["refused"] is True
        (knowledge / "rag/zanzibar.md").write_text(
            "# Zanzibar reranker\n\nThe Zanzibar reranker's logo is a teal heron over a grey wave.\n")
        (knowledge / "rag/retrieval.md").unlink()
        done = run_cli("ingest.py", "--knowledge", str(knowledge), "--db", str(tmp_path / "data"))
        assert done.returncode == 0, done.stderr
        # The very next answer: the new note is found, and the deleted one is cited no more.
        answer = client.predict(question, [], api_name="/ask")
        assert not answer["refused"] and "teal heron" in answer["answer"]
        assert {c["source"] for c in answer["citations"]} == {"rag/zanzibar.md"}
        fusion = client.predict("How are keyword and vector rankings combined?", [], api_name="/ask")
        assert all(c["source"] != "rag/retrieval.md" for c in fusion["citations"])
    finally:
        stop_app(app)


def run_in_background(args: list[str], env: dict[str, str]):
    import subprocess
    import sys

    from conftest import ROOT

    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(condition, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_an_answer_reads_one_generation_while_another_run_writes(indexed):
    """Chunks a run has written but not committed are searched by nobody; once it commits, the next
    search loads the new generation, while a snapshot taken before (an answer under way) stays whole."""
    from assistant.index.retrieval import Retriever

    settings, store, retriever = indexed.settings, indexed.store, indexed.retriever
    pinned = retriever.current()
    query = "a chunk that spans two sections"
    old = retriever.search(query, k=1)[0].chunk
    assert "mixes topics" in old.text
    note = settings.knowledge_dir / "rag/retrieval.md"
    note.write_text(note.read_text().replace("mixes topics", "blurs two topics together"))
    argv = ("ingest.py", "--knowledge", str(settings.knowledge_dir), "--db", str(settings.data_dir))

    crashed = run_cli(*argv, env={**os.environ, "ASSISTANT_TEST_CRASH_AT": "after-chunks"})
    assert crashed.returncode == 70
    written = {c.id for c in store.all_chunks()} - {c.id for c in pinned.chunks}
    assert written  # in the store, not committed
    assert retriever.current() is pinned  # the generation did not move
    fresh = Retriever(store, indexed.embedder)  # an app starting now
    for search in (retriever.search, fresh.search):
        assert search(query, k=1)[0].chunk == old
        assert not {h.chunk.id for h in search("blurs two topics together", k=5)} & written

    assert run_cli(*argv).returncode == 0  # the next run commits
    new = retriever.search(query, k=1)[0].chunk
    assert new.id in written and "blurs two topics together" in new.text
    assert retriever.current().generation == pinned.generation + 1
    assert old.id not in {c.id for c in retriever.chunks}
    # An answer that began before the commit reads its own generation only, never the new one (its
    # replaced chunk, gone from the vector index, is still found by keywords, with its own text).
    own = {c.id for c in pinned.chunks}
    for q in (query, "blurs two topics together"):
        assert {h.chunk.id for h in pinned.search(q, k=5)} <= own
    assert old in [h.chunk for h in pinned.search(query, k=5)]
