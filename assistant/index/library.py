"""A library's ingest lock and generation, kept in the store beside its chunks (collection NAME-meta).

The lock: one ingest or delete per library at a time, across processes and machines sharing the
store (a local lock file would only see its own machine). A run adds the lock record, and Chroma
keeps the first of two adds of one id, so two runs starting at once cannot both win. The holder
moves the record's expiry forward from a heartbeat thread and deletes it when done. A record past
its expiry belongs to a run that died or hung, and so does one whose process is gone from this
machine (a killed `python ingest.py`, at once rather than after the timeout): the next run deletes it (only while it still names
that run, so two runs taking over at once cannot both win) and adds its own. A run whose lock was
taken over meanwhile stops before its next write.

The generation: a counter that every run which changed the library bumps after its last commit.
A running app reads it before answering (one small get) and reloads its keyword index and chunk
list when it moved (index/retrieval.py). Clocks of machines sharing a server must agree to within
a fraction of the lock timeout (NTP does).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..core.errors import IndexBusy
from ..core.wording import ago

if TYPE_CHECKING:
    from .store import VectorStore

log = logging.getLogger(__name__)

LOCK = "ingest-lock"
GENERATION = "generation"


class Library:
    def __init__(self, store: VectorStore, timeout: float | None = None):
        self.store = store
        self.name = store.library
        self.timeout = float(timeout or store.settings.lock_timeout)

    def generation(self) -> int:
        """How many runs have changed the library; 0 for an index older than generations."""
        record = self.store.record(GENERATION)
        return int(record["generation"]) if record else 0

    def holder(self) -> dict | None:
        """The lock record of the run working on the library now, or None."""
        record = self.store.record(LOCK)
        return record if record and record["expires"] > time.time() and not _died_here(record) else None

    @contextmanager
    def locked(self, busy: str) -> Iterator[Lease]:
        """Hold the library's lock for the block; when a live run holds it, IndexBusy with `busy`,
        its "{holder}" filled in with who that is."""
        lease = self._acquire(busy)
        try:
            yield lease
        finally:
            lease.release()

    def wait_until_free(self, poll: float = 0.5) -> None:
        """Wait while another run holds the lock (it ends, or its lock goes stale)."""
        while self.holder() is not None:
            time.sleep(poll)

    def _acquire(self, busy: str) -> Lease:
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        for _ in range(3):  # the holder may release between our add and our read
            now = time.time()
            mine = {"owner": owner, "host": socket.gethostname(), "pid": os.getpid(), "started": now,
                    "expires": now + self.timeout}
            stored = self.store.add_record(LOCK, mine)
            if stored is None:
                continue
            if stored["owner"] == mine["owner"]:
                return Lease(self, mine)
            if stored["expires"] > time.time() and not _died_here(stored):
                holder = f"{_who(stored)}, started {ago(time.time() - stored['started'])}"
                raise IndexBusy(busy.format(holder=holder))
            silent = time.time() - (stored["expires"] - self.timeout)
            log.warning("Taking over the ingest lock of library '%s' from %s: %s.", self.name, _who(stored),
                        "its process has ended" if _died_here(stored) else f"silent for {silent:.0f} s")
            self.store.delete_record(LOCK, where={"owner": stored["owner"]})
        raise IndexBusy(busy.format(holder="its lock changed hands while this run asked for it"))


class Lease:
    """A held lock: a heartbeat moves its expiry forward; `check()` before each write."""

    def __init__(self, library: Library, record: dict):
        self.library = library
        self.record = record
        self.lost = False
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="ingest-lock", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        store, timeout = self.library.store, self.library.timeout
        while not self._stop.wait(timeout / 4):
            try:
                stored = store.record(LOCK)
                if not stored or stored["owner"] != self.record["owner"]:
                    self.lost = True
                    return
                # Only the expiry, and only on a record that exists: a beat that read the lock as
                # ours just before another run took it over cannot bring ours back or rename theirs.
                self.record = {**self.record, "expires": time.time() + timeout}
                store.touch_record(LOCK, {"expires": self.record["expires"]})
            except Exception as exc:  # a server away for a moment: the next beat tries again
                log.warning("The ingest lock's heartbeat failed (%s).", exc)

    def check(self) -> None:
        """IndexBusy when another run took the lock over (this one was silent too long). Reads the
        lock, not only what the heartbeat last saw: a run woken from a long pause checks at once."""
        if not self.lost:
            stored = self.library.store.record(LOCK)
            self.lost = not stored or stored["owner"] != self.record["owner"]
        if self.lost:
            raise IndexBusy(
                f"This indexing run lost the lock of library '{self.library.name}': it was silent for "
                f"over {self.library.timeout:.0f} s and another run took over. It stopped before writing "
                "more; run again once that run is done."
            )

    def bump_generation(self) -> int:
        """Mark the library changed: apps reload before their next answer. Under the lock, so the
        read and the write cannot interleave with another run's."""
        self.check()
        generation = self.library.generation() + 1
        self.library.store.put_record(GENERATION, {"generation": generation, "at": time.time(),
                                                   "by": self.record["owner"]})
        return generation

    def release(self) -> None:
        self._stop.set()
        self._beat.join()
        try:
            self.library.store.delete_record(LOCK, where={"owner": self.record["owner"]})
        except Exception as exc:  # it expires by itself
            log.warning("The ingest lock was not released (%s); it expires in %.0f s.", exc, self.library.timeout)


def _died_here(record: dict) -> bool:
    """Whether the lock's process ran on this machine and has ended."""
    if record.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(record.get("pid", 0)), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError):  # alive but not ours to signal, or no pid recorded
        return False
    return False


def _who(record: dict) -> str:
    return f"process {record.get('pid', '?')} on {record.get('host', '?')}"
