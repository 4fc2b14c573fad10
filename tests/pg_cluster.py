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


@contextmanager
def temporary_cluster(fsync: bool = True) -> Iterator[callable]:
    """Yields `new_database()`, which creates an empty database and returns its URL."""
    bins = bindir()
    if bins is None:
        raise FileNotFoundError(INSTALL)
    root = Path(tempfile.mkdtemp(prefix="progress-pg-"))  # not under pytest's root-only tmp
    as_owner: list[str] = []
    if os.getuid() == 0:
        shutil.chown(root, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, log = root / "data", root / "server.log"

    def run(*cmd: str) -> None:
        done = subprocess.run([*as_owner, *cmd], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed:\n{done.stdout}\n{done.stderr}\n"
                               + (log.read_text() if log.exists() else ""))

    run(str(bins / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
        "--no-sync")
    options = f"-c listen_addresses='' -c unix_socket_directories={root}"
    if not fsync:
        options += " -c fsync=off"
    run(str(bins / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "start", "-o", options)
    numbers = count(1)

    def new_database() -> str:
        import psycopg

        name = f"progress_{next(numbers)}"
        with psycopg.connect(host=str(root), user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@/{name}?host={root}"

    try:
        yield new_database
    finally:
        try:
            run(str(bins / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(root, ignore_errors=True)
