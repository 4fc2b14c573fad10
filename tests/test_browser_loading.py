"""The app serves its page before the notes are loaded (assistant/warmup.py), in a real browser.

A question asked while loading waits and is answered; a failure while loading is one sentence on
the page, and the Sources tab keeps working. The embedding model loads in a child process
(assistant/index/embedding_process.py): killed, it is started again once, then its loss is one
sentence; broken model files are one sentence; killing the app leaves no process behind. The
model's loading is held at a FIFO (the test hook ASSISTANT_TEST_WARMUP_GATE) for as long as a test
needs, and processes are waited for through pidfds, so nothing here sleeps and hopes.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from browser import DATA, shot, start_app, stop_app
from conftest import run_cli
from playwright.sync_api import expect
from test_embedding_process import broken_model_package

QUESTION = "What does BM25 find?"
LOADING = "Loading your notes"

# An index written by another embedding model (768-d vectors, not this model's 384): it opens and
# lists its chunks, but cannot be searched. Run in its own interpreter, as another version would.
OTHER_MODEL_INDEX = """
import sys
import numpy as np
from assistant.core.config import Settings
from assistant.index.ingestion import Indexer
from assistant.index.store import VectorStore

class OtherModel:
    def embed(self, texts, batch_size=32, progress=None):
        vectors = np.random.default_rng(0).normal(size=(len(texts), 768)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

knowledge, data = sys.argv[1], sys.argv[2]
settings = Settings.from_env(environ={}, knowledge_dir=knowledge, data_dir=data)
print(Indexer(knowledge, data, VectorStore(settings), OtherModel()).run().summary())
"""


@pytest.fixture
def notes(tmp_path):
    target = tmp_path / "notes"
    shutil.copytree(DATA / "notes", target)
    return target


@contextmanager
def app(notes, data, log, **env):
    server = start_app(notes, data, log, env=env, loaded=False)  # the page, then the tests look
    try:
        yield server
    finally:
        stop_app(server)


@contextmanager
def open_page(browser, url: str):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
    context.set_default_timeout(30_000)
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    pg.goto(url, wait_until="domcontentloaded")
    pg.get_by_role("tab").first.wait_for()
    try:
        yield pg
    finally:
        context.close()


def open_gate(gate, server) -> None:
    """Let the app's loading begin: opening the FIFO returns once the app waits at it."""
    opened = threading.Event()

    def write() -> None:
        with open(gate, "w") as fifo:
            opened.set()
            fifo.write("go")

    threading.Thread(target=write, daemon=True).start()
    assert opened.wait(60), f"the app never waited at its loading gate:\n{server.log_tail()}"


def ask(pg, question: str):
    pg.locator("#ask-box textarea").fill(question)
    pg.locator("#ask-box textarea").press("Enter")
    return pg.locator('#chat [data-testid="bot"]').last


def children(pid: int) -> dict[int, str]:
    """The processes `pid` started, by id, with their command lines."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == pid:
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):  # it exited while being read
            continue
    return found


def model_process(server) -> int:
    """The app's embedding model process (multiprocessing's resource tracker is the other child)."""
    (pid,) = [pid for pid, cmd in children(server.process.pid).items() if "spawn_main" in cmd]
    return pid


def exited(pid: int, timeout: float = 60) -> bool:
    """Wait (on a pidfd, no polling) until the process `pid` has exited; False if it has not."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def browse_a_note(pg) -> None:
    pg.get_by_role("tab", name="Sources").click()
    pg.locator("#sources-tree button.file", has_text="retrieval.md").click()
    view = pg.locator("#sources-view")
    expect(view.locator(".note-path")).to_contain_text("rag/retrieval.md")
    expect(view).to_contain_text("BM25 finds rare exact terms")


def test_a_question_asked_while_loading_is_answered_once_the_notes_are_ready(browser, notes, tmp_path):
    data = tmp_path / "data"
    built = run_cli("ingest.py", "--knowledge", str(notes), "--db", str(data))
    assert built.returncode == 0, built.stderr
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    with app(notes, data, tmp_path / "app.log", ASSISTANT_TEST_WARMUP_GATE=str(gate)) as server, \
            open_page(browser, server.url) as pg:
        box = pg.locator("#ask-box textarea")
        expect(box).to_have_attribute("placeholder", re.compile(f"^{LOADING}"))
        reply = ask(pg, QUESTION)
        expect(reply).to_contain_text(LOADING)  # the question is taken and waits
        shot(pg, "loading-question-waits")
        browse_a_note(pg)  # the Sources tab works meanwhile (the index exists; the model is not loaded)
        assert server.process.poll() is None and "Ready to answer" not in server.log_tail()

        open_gate(gate, server)
        pg.get_by_role("tab", name="Ask").click()
        expect(reply).to_contain_text("rare exact terms", timeout=120_000)  # the same reply, now answered
        expect(reply).not_to_contain_text(LOADING)
        expect(pg.locator("#sources-panel .cite").first).to_contain_text("retrieval.md")
        expect(box).to_have_attribute("placeholder", "Ask a question, or a follow-up…")
        expect(pg.locator("#ask-status")).to_have_text("")
        shot(pg, "loading-answered")
        assert pg.errors == []
    assert "Ready to answer" in server.log_tail()


def test_a_failure_while_loading_is_one_sentence_and_the_sources_tab_still_works(browser, notes, tmp_path):
    data = tmp_path / "data"
    built = run_cli("-c", OTHER_MODEL_INDEX, str(notes), str(data))
    assert built.returncode == 0, built.stderr
    with app(notes, data, tmp_path / "app.log") as server, open_page(browser, server.url) as pg:
        status = pg.locator("#ask-status")
        expect(status).to_contain_text("was built with a different embedding model", timeout=120_000)
        sentence = status.inner_text().strip()
        assert sentence.count(". ") == 0 and sentence.endswith(".") and "Traceback" not in sentence
        assert "python ingest.py --reset" in sentence
        shot(pg, "loading-failed")

        reply = ask(pg, QUESTION)  # a question gets the same sentence, not an error box
        expect(reply).to_contain_text("was built with a different embedding model")
        expect(pg.locator('[data-testid="toast-body"]')).to_have_count(0)  # no "Error" box

        browse_a_note(pg)
        expect(pg.locator("#sources-status")).to_contain_text("chunks")
        shot(pg, "loading-failed-sources")
        assert pg.errors == []
    assert "Loading failed: The index" in server.log_tail()


def test_a_full_disk_at_the_first_start_is_one_sentence_and_the_notes_stay_browsable(browser, notes, tmp_path):
    """The first index, built in the background, meets a full disk: the page says so in a sentence,
    and the Sources tab still lists and shows the notes from the folder."""
    from test_faults import tmpfs

    with tmpfs(tmp_path / "full", "size=200k") as disk:
        with app(notes, disk / "data", tmp_path / "app.log") as server, open_page(browser, server.url) as pg:
            status = pg.locator("#ask-status")
            expect(status).to_contain_text("free", timeout=120_000)  # "... full; free some space ..."
            assert "Traceback" not in status.inner_text()
            shot(pg, "loading-disk-full")
            browse_a_note(pg)
            assert pg.errors == []
        assert "Loading failed" in server.log_tail()


def test_a_killed_model_process_is_started_again_once_then_said_in_one_sentence(browser, notes, tmp_path):
    """The app's first start indexes the notes through the model process; the model process
    killed once is started again and the next question is answered; killed twice, the next
    question and the page say why in one sentence, and the notes stay browsable."""
    with app(notes, tmp_path / "data", tmp_path / "app.log") as server, open_page(browser, server.url) as pg:
        expect(pg.locator("#ask-box textarea")).to_have_attribute(
            "placeholder", "Ask a question, or a follow-up…", timeout=120_000)
        expect(ask(pg, QUESTION)).to_contain_text("rare exact terms")

        first = model_process(server)
        os.kill(first, signal.SIGKILL)
        assert exited(first)
        reply = ask(pg, "Why should chunks overlap?")
        # A new process loaded the model and the question is answered from the notes, with a citation.
        expect(reply).to_contain_text(re.compile(r"A chunk that spans two sections.*\[1\]"), timeout=120_000)
        assert "process stopped (killed by SIGKILL); starting it again" in server.log_tail()

        second = model_process(server)
        assert second != first
        os.kill(second, signal.SIGKILL)
        assert exited(second)
        reply = ask(pg, "What does a tokenizer do?")
        expect(reply).to_contain_text("stopped again (killed by SIGKILL) after a restart")
        sentence = reply.inner_text().strip()
        assert sentence.endswith(".") and ". " not in sentence and "Traceback" not in sentence
        expect(pg.locator('[data-testid="toast-body"]')).to_have_count(0)  # no "Error" box
        shot(pg, "model-process-lost")

        pg.reload()  # a new visit: the status line says it too
        expect(pg.locator("#ask-status")).to_contain_text("restart the app")
        browse_a_note(pg)
        assert pg.errors == []
        assert children(server.process.pid).keys().isdisjoint({first, second})


def test_broken_model_files_are_one_sentence_on_the_page_and_the_notes_stay_browsable(browser, notes, tmp_path):
    data = tmp_path / "data"
    built = run_cli("ingest.py", "--knowledge", str(notes), "--db", str(data))
    assert built.returncode == 0, built.stderr
    site = broken_model_package(tmp_path)  # the app imports a copy of the model package with bad weights
    with app(notes, data, tmp_path / "app.log", PYTHONPATH=str(site)) as server, \
            open_page(browser, server.url) as pg:
        status = pg.locator("#ask-status")
        expect(status).to_contain_text("The embedding model could not be loaded (", timeout=120_000)
        assert "requirements" in status.inner_text() and "Traceback" not in status.inner_text()
        expect(ask(pg, QUESTION)).to_contain_text("could not be loaded")
        browse_a_note(pg)
        assert pg.errors == []
    assert "Loading failed: The embedding model could not be loaded" in server.log_tail()


def test_killing_the_app_leaves_no_process_behind(notes, tmp_path):
    """SIGKILL gives the app no chance to clean up: its model process, here still waiting to load
    the model (held at the gate), ends by itself, and so does multiprocessing's resource tracker."""
    data = tmp_path / "data"
    built = run_cli("ingest.py", "--knowledge", str(notes), "--db", str(data))
    assert built.returncode == 0, built.stderr
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    with app(notes, data, tmp_path / "app.log", ASSISTANT_TEST_WARMUP_GATE=str(gate)) as server:
        left = children(server.process.pid)
        assert len(left) == 2 and model_process(server) in left, left
        server.process.kill()
        server.process.wait(timeout=30)
        for pid, cmd in left.items():
            assert exited(pid), f"still running after the app was killed: {cmd}"
