"""The app's embedding model in a second process: torch loads on the other core while the app
imports Gradio and serves its page.

In one process the two start-ups cannot overlap: both are Python imports, serialised by the GIL, so
the first answer came about a page's start-up after the model's own load time (issue #13).
`python app.py` starts an EmbeddingProcess before it imports Gradio. The child runs the project's
Embedder (one code path for the maths); the parent sees the same calls (embed, embed_one,
count_tokens), sent over a multiprocessing Pipe one at a time, so any number of Gradio threads may
embed at once. Tokens are counted here, from the model's tokenizer file, as in-process.

Failures are sentences, never hangs: a child that cannot load the model says why; a child that dies
(killed, out of memory) is seen at once as the end of its pipe and started again once, with the
request sent again; a second death makes every later call raise AssistantError with one sentence,
which the app shows on the page (assistant/warmup.py). The child exits when the parent does, even
when the parent is killed: it watches the parent's end of the spawn pipe. The command line,
benchmarks and tests keep the in-process Embedder.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable

from ..core.errors import AssistantError

log = logging.getLogger(__name__)

# "spawn": a fresh interpreter, so nothing of the parent (threads, Gradio, open sockets) is copied,
# and the child imports only what embedding needs.
_CONTEXT = multiprocessing.get_context("spawn")

# Test hook, for tests only: with ASSISTANT_TEST_WARMUP_GATE set to the path of a FIFO, the child
# does not load the model until something is written to it, so a test can act while the app is
# "still loading" for as long as it likes, without sleeping.
_GATE = "ASSISTANT_TEST_WARMUP_GATE"

_SHUTTING_DOWN = "The app is shutting down."

# While the model loads, its thread runs at this nice value. Measured (benchmarks/ingest_speed.py
# --app-only) with other work holding one of the two cores: at 0 the page was served after 7 s (the
# child took the free core's time from Gradio's import), at 10 after 3.6-4.7 s, and the first answer
# no later. On a quiet machine it changes nothing: each process has a core.
_LOADING_NICE = 10


class EmbeddingProcess:
    """The Embedder's calls, answered by the model in a child process (started at once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one request and its reply on the pipe at a time
        self._restarts_left = 1
        self._closed = False
        self.failure: str | None = None  # why no embedding is possible any more, as one sentence
        self._start()

    # --- the Embedder's interface -----------------------------------------------------------

    def embed(self, texts: list[str], batch_size: int = 32,
              progress: Callable[[int], None] | None = None):
        """As Embedder.embed; `progress` is told as the child's batches finish."""
        return self._call("embed", (list(texts), batch_size), progress)

    def embed_one(self, text: str):
        return self._call("embed_one", (text,))

    def count_tokens(self, text: str) -> int:
        from .embeddings import count_tokens

        return count_tokens(text)

    def close(self) -> None:
        """Stop the child (the app's normal exit); later calls raise AssistantError."""
        self._closed = True
        # Idle: ask it to finish. Still loading (it reads nothing until loaded) or busy: it holds
        # nothing to save, so it is stopped at once (a wrong --host must not wait for torch).
        if self._ready and self._lock.acquire(timeout=1):
            try:
                self._conn.send(None)
            except OSError:
                pass
            finally:
                self._lock.release()
            self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()
        self.failure = self.failure or _SHUTTING_DOWN

    # --- the pipe -----------------------------------------------------------------------------

    def _start(self) -> None:
        self._conn, child_end = _CONTEXT.Pipe()
        self._process = _CONTEXT.Process(target=serve, args=(child_end,), name="embedding-model", daemon=True)
        self._process.start()
        child_end.close()  # the child holds the only other end: its death reads here as EOF
        self._ready = False

    def _call(self, method: str, args: tuple, progress: Callable[[int], None] | None = None):
        with self._lock:
            while True:
                if self.failure:
                    raise AssistantError(self.failure)
                try:
                    self._wait_ready()
                    self._conn.send((method, args, progress is not None))
                    kind, value, progress_error = self._reply(progress)
                except (EOFError, OSError):  # the child died: the pipe ended or broke
                    self._lost()
                    continue  # to a restarted child, or to the failure sentence
                if progress_error is not None:
                    raise progress_error
                if kind == "raised":
                    raise value
                return value

    def _wait_ready(self) -> None:
        if self._ready:
            return
        kind, value = self._conn.recv()
        if kind == "failed":
            self.failure = value
            self._process.join(timeout=5)
            raise AssistantError(value)
        self._ready = True

    def _reply(self, progress: Callable[[int], None] | None) -> tuple[str, object, Exception | None]:
        """The request's final reply after its progress messages, and what `progress` raised: all
        are read even then, so the next request does not read this one's."""
        error = None
        while True:
            kind, value = self._conn.recv()
            if kind != "progress":
                return kind, value, error
            if error is None:
                try:
                    progress(value)
                except Exception as exc:
                    error = exc

    def _lost(self) -> None:
        """The child died: start it again once; after that, say so in a sentence."""
        self._process.join(timeout=5)
        if self._process.is_alive():  # its pipe broke but it lives on: never leave two children
            self._process.kill()
            self._process.join()
        how = _exit_description(self._process.exitcode)
        self._conn.close()
        if self._closed:
            self.failure = self.failure or _SHUTTING_DOWN
            return
        if self._restarts_left:
            self._restarts_left -= 1
            print(f"The embedding model's process stopped ({how}); starting it again.", file=sys.stderr)
            self._start()
            return
        self.failure = (f"The embedding model's process stopped again ({how}) after a restart, so "
                        "questions cannot be answered; restart the app, and see the terminal for details.")
        print(self.failure, file=sys.stderr)


def _exit_description(code: int | None) -> str:
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# --- the child ------------------------------------------------------------------------------------


def serve(conn) -> None:
    """The child's whole life: load the model, then answer requests until the parent says stop,
    closes its end, or dies."""
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when this ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    _wait_at_gate()
    loaded: list = []
    loader = threading.Thread(target=_load, args=(loaded,), name="load-model")
    loader.start()
    loader.join()
    embedder = loaded[0] if loaded else RuntimeError("loading stopped")
    if isinstance(embedder, Exception):
        from ..core.wording import shorten

        conn.send(("failed", f"The embedding model could not be loaded ({type(embedder).__name__}: "
                             f"{shorten(str(embedder), 160)}); reinstall the requirements "
                             "(pip install -r requirements.txt), and see the terminal for details."))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            request = conn.recv()
        except EOFError:  # the parent closed its end (or died)
            return
        if request is None:
            return
        method, args, wants_progress = request
        try:
            if method == "embed":
                texts, batch_size = args
                report = (lambda n: conn.send(("progress", n))) if wants_progress else None
                reply = ("ok", embedder.embed(texts, batch_size, report))
            else:
                reply = ("ok", embedder.embed_one(*args))
        except Exception as exc:  # raised again in the parent, as the in-process Embedder would
            reply = ("raised", exc)
        try:
            conn.send(reply)
        except OSError:  # the parent is gone
            return
        except Exception as exc:  # a result that cannot be pickled: say what it was instead
            conn.send(("raised", RuntimeError(f"{type(reply[1]).__name__} could not be sent back ({exc})")))


def _load(loaded: list) -> None:
    """The Embedder, loaded and warmed up (or what stopped it), at a lower priority: when other
    work holds a core, the app's own start-up (Gradio, the page) goes first. Only this thread
    gives way (on Linux a thread's nice value is its own); requests are served at the usual one."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _LOADING_NICE)
        except OSError:
            pass
    try:
        from tqdm import tqdm

        # tqdm's default lock is a named semaphore, which a killed child leaves behind (and
        # multiprocessing's resource tracker warns about); the child's threads need only this.
        tqdm.set_lock(threading.RLock())
        from .embeddings import Embedder

        embedder = Embedder()
        embedder.embed(["warm up"])  # the first call's set-up, while the parent is still busy
        loaded.append(embedder)
    except Exception as exc:
        log.exception("Loading the embedding model failed")
        loaded.append(exc)


def _exit_with_parent() -> None:
    """Exit as soon as the parent is gone, even in the middle of loading or embedding: the spawn
    pipe's other end (multiprocessing's parent sentinel) closes when the parent exits or is killed."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _wait_at_gate() -> None:
    gate = os.environ.get(_GATE)
    if gate:
        with open(gate, encoding="utf-8") as fifo:  # blocks until a test opens the FIFO to write
            fifo.read()
