"""A throwaway PostgreSQL server from Debian's package: initdb and pg_ctl into a temporary folder,
listening on a unix socket there only (no TCP port to collide with). As root, Debian's `postgres`
user runs it, since the server refuses root. Used by tests/test_progress_postgres.py and
benchmarks/progress_store.py."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path

INSTALL = ("PostgreSQL is not installed: `make test` installs it when run as root, otherwise "
           "run sudo apt-get install -y postgresql")


def bindir() -> Path | None:
    """The newest installed server's binaries, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


class Cluster:
    def __init__(self, fsync: bool = True):
        bins = bindir()
        if bins is None:
            raise FileNotFoundError(INSTALL)
        self.bins = bins
        self.root = Path(tempfile.mkdtemp(prefix="progress-pg-"))  # not under pytest's root-only tmp
        self.as_owner: list[str] = []
        if os.getuid() == 0:
            shutil.chown(self.root, "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self.data, self.log = self.root / "data", self.root / "server.log"
        self.options = f"-c listen_addresses='' -c unix_socket_directories={self.root}"
        if not fsync:
            self.options += " -c fsync=off"
        self._numbers = count(1)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        self.start()

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run([*self.as_owner, str(self.bins / program), *args],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed:\n{done.stdout}\n{done.stderr}\n"
                               + (self.log.read_text() if self.log.exists() else ""))

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start",
                  "-o", self.options)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def new_database(self) -> str:
        """An empty database; returns its URL (trust authentication: any password is let in)."""
        import psycopg

        name = f"progress_{next(self._numbers)}"
        with psycopg.connect(host=str(self.root), user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@/{name}?host={self.root}"

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def temporary_cluster(fsync: bool = True) -> Iterator[Cluster]:
    cluster = Cluster(fsync)
    try:
        yield cluster
    finally:
        cluster.close()
