"""Where quiz progress lives: one SQLite file in the data folder (the default), or PostgreSQL when
`ASSISTANT_DATABASE_URL=postgresql://user:password@host/db` is set, so every app instance of a
class records into one place.

`Database` opens it, brings its schema up to date with Alembic (quiz/migrations), and hands out
transactions. SQLite runs in WAL mode with full sync and foreign keys on; a write transaction
takes the write lock up front (BEGIN IMMEDIATE), so concurrent writers queue instead of failing.
On PostgreSQL, `Database.lock(conn, key)` serialises writers of one thing (a learner's card, the item
bank) across instances for the rest of the transaction. Failures reach the user as one sentence
naming the database without its password.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)

from ..core.errors import AssistantError

DB_NAME = "progress.sqlite3"
DEFAULT_LIBRARY = "notes"
URL_VARIABLE = "ASSISTANT_DATABASE_URL"
MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration in migrations/versions (a test checks it is Alembic's head): a database
# already there is opened without loading Alembic, a sixth of the app's time to its page.
HEAD_REVISION = "0001"
BUSY_SECONDS = 30
HINT = f"check {URL_VARIABLE} (postgresql://user:password@host:5432/database) or unset it to keep progress in the data folder"


class ProgressUnavailable(AssistantError):
    """The progress database cannot be opened, reached or written."""


def database_url(data_dir: Path, environ: Mapping[str, str] | None = None,
                 library: str = DEFAULT_LIBRARY) -> URL:
    """`ASSISTANT_DATABASE_URL` when set, else the library's SQLite file in `data_dir`
    (progress.sqlite3 for the default library, as before libraries existed)."""
    raw = (os.environ if environ is None else environ).get(URL_VARIABLE, "").strip()
    if not raw:
        name = DB_NAME if library == DEFAULT_LIBRARY else f"progress-{_checked(library)}.sqlite3"
        return URL.create("sqlite", database=str(Path(data_dir) / name))
    try:
        url = make_url(raw)
    except ArgumentError:  # its message repeats the URL, password and all
        raise ProgressUnavailable(f"{URL_VARIABLE} is not a database URL; {HINT}.") from None
    if url.get_backend_name() not in ("postgresql", "sqlite"):
        raise ProgressUnavailable(
            f"{URL_VARIABLE} names a {url.get_backend_name()} database; progress can go to "
            f"PostgreSQL or SQLite only, so {HINT}.")
    if url.get_backend_name() == "postgresql":  # psycopg 3 is the driver we ship, not psycopg2
        url = url.set(drivername="postgresql+psycopg")
    elif url.database and library != DEFAULT_LIBRARY:  # a named file: each library beside it
        path = Path(url.database)
        url = url.set(database=str(path.with_name(f"{path.stem}-{_checked(library)}{path.suffix}")))
    return url


def schema_for(library: str) -> str:
    """The PostgreSQL schema holding a library's progress, within the 63-byte name limit."""
    name = f"lib_{_checked(library)}"
    if len(name) > 63:
        name = f"lib_{library[:50]}_{hashlib.sha1(library.encode()).hexdigest()[:8]}"
    return name


def _checked(library: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", library):  # it becomes a file and a schema name
        raise ValueError(f"not a library name: {library!r}")
    return library


def shown(url: URL) -> str:
    """The URL as it may be shown or logged: never the password (nor our driver's name)."""
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=True)


class Database:
    """One library's progress: its own SQLite file, or its own schema in a PostgreSQL database,
    so libraries sharing a server never retire or count each other's questions."""

    def __init__(self, url: URL, library: str = DEFAULT_LIBRARY):
        self.url = url
        self.is_sqlite = url.get_backend_name() == "sqlite"
        self.schema = None if self.is_sqlite else schema_for(library)
        self.path = Path(url.database) if self.is_sqlite and url.database else None
        if self.is_sqlite:
            if self.path is None:
                raise ProgressUnavailable(f"{URL_VARIABLE} names no SQLite file; {HINT}.")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(url, connect_args={"timeout": BUSY_SECONDS})
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.engine = create_engine(url, pool_pre_ping=True,
                                        connect_args={"connect_timeout": 10})
            # before SQLAlchemy's own first-connect queries, so it sees the schema as the default
            event.listen(self.engine, "connect", partial(_use_schema, self.schema), insert=True)
        self.migrate()

    def __repr__(self) -> str:
        return f"Database({shown(self.url)})"

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration; adopts a file made before
        migrations existed (see the baseline). Two instances starting at once take turns."""
        if self._at_head():
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self._errors(), self.engine.execution_options(immediate=True).begin() as conn:
            self.lock(conn, "migrate")
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def _at_head(self) -> bool:
        """Whether the schema is at the newest migration already (an unreachable database is
        still one sentence here)."""
        with self._errors(), self.engine.connect() as conn:
            try:
                version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            except (OperationalError, ProgrammingError):  # no such table: a new file, or one made before migrations
                return False
        return version == HEAD_REVISION

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._errors(), self._ensure().connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction, committed on leaving the block, rolled back on an error."""
        engine = self._ensure().execution_options(immediate=True)
        with self._errors(), engine.begin() as conn:
            yield conn

    def _ensure(self) -> Engine:
        if self.is_sqlite and not self.path.exists():  # deleted to start over: recreate it
            self.engine.dispose()  # pooled connections still hold the deleted file
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.migrate()
        return self.engine

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (OperationalError, InterfaceError) as exc:  # away, refused, locked, disk full
            raise ProgressUnavailable(self.explain(exc)) from None

    def explain(self, exc: BaseException) -> str:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0].rstrip(".")
        if self.url.password:
            reason = reason.replace(str(self.url.password), "***")
        if self.is_sqlite:
            return (f"Quiz progress could not be read or saved in {self.path}: {reason}; check "
                    "that the data folder is writable and has space.")
        return (f"Quiz progress could not be read or saved in the database {shown(self.url)}: "
                f"{reason}; {HINT}.")

    def lock(self, conn: Connection, key: str) -> None:
        """Hold `key` until this transaction ends, across every instance sharing the library.
        SQLite needs nothing: its write transactions already run one at a time."""
        if self.schema:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                         {"key": f"{self.schema}:{key}"})


def upsert(conn: Connection, table: Table, rows: list[dict], *, replace: bool = False) -> None:
    """Insert rows; one whose primary key exists is left alone (or replaced with `replace`)."""
    if not rows:
        return
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
    keys = [c.name for c in table.primary_key.columns]
    if replace:
        stmt = insert.on_conflict_do_update(
            index_elements=keys,
            set_={c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys})
    else:
        stmt = insert.on_conflict_do_nothing(index_elements=keys)
    conn.execute(stmt, rows)


def _sqlite_connect(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event below emits BEGIN itself
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # stays set in the file; readers never block
    cursor.execute("PRAGMA synchronous=FULL")  # a rated answer survives a power cut
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
    cursor.close()


def _use_schema(schema: str, dbapi_conn, _record) -> None:
    """Every connection works in the library's schema, created on first use (under a lock:
    two instances creating it at once would otherwise collide)."""
    autocommit = dbapi_conn.autocommit
    dbapi_conn.autocommit = True
    with dbapi_conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
        if cursor.fetchone() is None:
            cursor.execute("SELECT pg_advisory_lock(hashtextextended('progress schemas', 0))")
            try:
                cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            finally:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended('progress schemas', 0))")
        cursor.execute(f'SET SESSION search_path TO "{schema}"')
    dbapi_conn.autocommit = autocommit


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("immediate")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
