"""Shared fixtures: real Chroma in temp dirs, the real bundled embedding model, a small corpus."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(ROOT))

from assistant.core.config import Settings  # noqa: E402


@pytest.fixture(scope="session")
def embedder():
    from assistant.index.embeddings import default_embedder

    return default_embedder()


@pytest.fixture
def notes(tmp_path) -> Path:
    """A writable copy of tests/data/notes."""
    target = tmp_path / "notes"
    shutil.copytree(DATA / "notes", target)
    return target


@pytest.fixture
def settings(tmp_path, notes) -> Settings:
    return Settings.from_env(environ={}, knowledge_dir=notes, data_dir=tmp_path / "data")


@pytest.fixture
def services(settings, embedder):
    from assistant.services import Services

    rt = Services(settings)
    rt.__dict__["embedder"] = embedder  # share the one loaded model across tests
    return rt


@pytest.fixture
def indexed(services):
    services.admin.ingest()
    return services


def history_of(*answers) -> list[dict]:
    """The conversation after `answers`, as the app passes it to a follow-up: each question and its reply."""
    return [turn for a in answers for turn in ({"role": "user", "content": a.question},
                                               {"role": "assistant", "content": a.text})]


def run_cli(*args: str, input: str | None = None, env: dict | None = None, timeout: float = 180):
    """Run a project command the way a user does, in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        input=input,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def seed(tmp_path_factory, embedder):
    """A services over a copy of the seed notes in knowledge/, indexed once per test module."""
    from assistant.services import Services

    base = tmp_path_factory.mktemp("seed")
    shutil.copytree(ROOT / "knowledge", base / "notes")
    rt = Services(Settings.from_env(environ={}, knowledge_dir=base / "notes", data_dir=base / "data"))
    rt.__dict__["embedder"] = embedder
    rt.admin.ingest()
    return rt


# Browser fixtures live in tests/browser.py; imported here once so the session-wide Playwright
# instance is shared by every browser test module (two instances in one process cannot coexist).
from browser import app_notes, app_server, browser, page  # noqa: E402,F401

# One real llama.cpp server for the whole session (tests/llm_server.py), shared the same way.
from llm_server import llm_server  # noqa: E402,F401


def make_quiz(services, reviews=None, llm=None):
    """A Quiz over `services`' notes with its own review store (default: the services' data folder)
    and, optionally, another LLM."""
    from assistant.quiz.scheduling import ReviewStore
    from assistant.quiz.service import Quiz

    store = reviews or ReviewStore(services.settings.data_dir)
    return Quiz(lambda: store, chunks=services.chunks,
                embedder=lambda: services.embedder, llm=(lambda: llm) if llm is not None else (lambda: services.llm))
