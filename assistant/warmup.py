"""The app's loading in the background: it listens first, then loads what answering needs.

`python app.py` serves its page in a few seconds and starts a Warmup. Its thread builds the index
when there is none (the first start), loads the keyword index and runs one search, so the first
question is as quick as the next; the embedding model has been loading since the app started, in
its own process (index/embedding_process.py), and the search waits for it. Meanwhile the Ask tab says "Loading your
notes…"; a question asked then waits (PendingAnswerer) and is answered once loading is done, never
dropped. A failure (a broken index, a full disk, a model that cannot load, its process dying
twice) is kept as one sentence for the page, the trace goes to the terminal, and what does not need
the model (the Sources tab) keeps working.
The command line (`python -m assistant ...`, `ingest.py`) never starts one: it loads at once.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .core.errors import AssistantError
from .core.schema import Answer
from .core.wording import shorten

if TYPE_CHECKING:
    from .ask.answerer import Answerer
    from .index.retrieval import Retriever
    from .services import Services

log = logging.getLogger(__name__)

LOADING_REPLY = "Loading your notes… your question is answered as soon as they are ready."


class Warmup:
    def __init__(self, services: Services):
        self._services = services
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._indexed = threading.Event()  # the first index is built (or failed): chunks can be listed
        self._done = threading.Event()
        self._error: str | None = None  # why loading failed, as one sentence
        self.ask = PendingAnswerer(self)

    @property
    def error(self) -> str | None:
        """Why questions cannot be answered, as one sentence: loading failed, or later the app's
        embedding model process stopped for good; None when they can."""
        return self._error or self._services.embedder_failure()

    def start(self) -> Warmup:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="warmup", daemon=True)
                self._thread.start()
        return self

    @property
    def loading(self) -> bool:
        return not self._done.is_set()

    def wait(self) -> str | None:
        """Wait until loading is over: None when ready to answer, else why not (one sentence)."""
        self.start()
        self._done.wait()
        return self.error

    def wait_indexed(self) -> None:
        """Wait for the first index, when the app is building one; the model may still be loading."""
        self.start()
        self._indexed.wait()

    def answerer(self) -> Answerer:
        """The Answerer once loaded; AssistantError with the sentence when loading failed."""
        if self.wait():
            raise AssistantError(self.error)
        return self._services.ask

    def _run(self) -> None:
        s = self._services
        started = time.perf_counter()
        try:
            try:
                report = s.admin.ensure_index()
            finally:
                self._indexed.set()
            if report is not None:
                print(f"Indexed {s.settings.knowledge_dir}: {report.summary()}", file=sys.stderr)
            # The model, the keyword index and the answerer, then one search: it opens Chroma's
            # vector index and the first calls' set-up, and shows a broken index now, not at the
            # first question.
            s.ask.retriever.search("warm up", k=1)
        except AssistantError as exc:
            self._error = str(exc)
        except Exception as exc:  # the trace goes to the terminal, one sentence to the page
            log.exception("Loading the notes failed")
            self._error = (f"Your notes could not be loaded ({type(exc).__name__}: {shorten(str(exc), 160)}); "
                          "see the terminal for details.")
        finally:
            self._indexed.set()
            self._done.set()
        if self.error:
            print(f"Loading failed: {self.error}", file=sys.stderr)
        else:
            print(f"Ready to answer: the notes loaded in {time.perf_counter() - started:.1f} s.", file=sys.stderr)


class PendingAnswerer:
    """What the app's Ask tab and /ask endpoint call: the Answerer's calls, waiting for the load."""

    def __init__(self, warmup: Warmup):
        self._warmup = warmup

    @property
    def loading(self) -> bool:
        return self._warmup.loading

    def wait(self) -> str | None:
        """See Warmup.wait."""
        return self._warmup.wait()

    @property
    def mode_label(self) -> str:
        if not self._warmup.loading and not self._warmup.error:
            return self._warmup.answerer().mode_label
        settings = self._warmup._services.settings
        return settings.llm_model if settings.llm_enabled else "offline"  # the LLM module not loaded yet

    @property
    def retriever(self) -> Retriever:
        return self._warmup.answerer().retriever

    def stream(self, question: str, history: list[dict] | None = None) -> Iterator[Answer]:
        """As Answerer.stream; while loading, a first line says so, then the answer follows."""
        mode = "llm" if self._warmup._services.settings.llm_enabled else "offline"
        if self._warmup.loading:
            yield Answer(question, LOADING_REPLY, mode, done=False)
        try:
            answerer = self._warmup.answerer()
            yield from answerer.stream(question, history)
        except AssistantError as exc:  # loading failed, or since (the model's process lost): the reply says why
            yield Answer(question, str(exc), mode, refused=True)

    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        answer = None
        for answer in self.stream(question, history):
            pass
        return answer
