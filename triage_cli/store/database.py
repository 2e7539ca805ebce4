"""triage's state database: by default one SQLite file under TRIAGE_HOME (WAL, a busy timeout,
the schema version in PRAGMA user_version), so several processes can share it; or, with
`database_url`, a PostgreSQL database a team shares (store/postgres.py). One set of versioned
migrations serves both; store/dialect.py holds what differs between them.

The stores take a `Database` and ask it for a connection per operation (`opened`) or for a write
transaction (`transaction`); a long-lived process (the server) holds one Database for its life.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from triage_cli.errors import StoreError
from triage_cli.private_dirs import create_private_file as create_private_file
from triage_cli.private_dirs import make_home as make_home
from triage_cli.store.dialect import Connection
from triage_cli.store.backend import Database as Database  # the API every store uses
from triage_cli.store.migrations import MIGRATIONS as MIGRATIONS  # the schema, for the migrate() below

DATABASE_NAME = "triage.sqlite"
BUSY_TIMEOUT_MS = 5000
# Customers' messages live here: the directory and every file in it are the user's alone
# (make_home and create_private_file: private_dirs.py).

class SqliteDatabase(Database):
    """The SQLite file under `home`: each operation opens and closes its own connection, so a
    long REPL session never holds the file and other processes can write."""

    def __init__(self, home: Path) -> None:
        self.home = home

    @contextmanager
    def opened(self, what: str) -> Iterator[Connection]:
        with opened(self.home, what) as db:
            yield Connection(db, postgres=False)

    @contextmanager
    def transaction(self, what: str) -> Iterator[Connection]:
        with transaction(self.home, what) as db:
            yield Connection(db, postgres=False)

    claiming = transaction

    def describe(self) -> str:
        return str(self.home / DATABASE_NAME)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SqliteDatabase) and other.home == self.home

    def __hash__(self) -> int:
        return hash(self.home)


def open_database(home: Path, url: str | None = None) -> Database:
    """The state database: PostgreSQL at `url` when one is given (one pool per URL in this
    process, shared by every store), else the SQLite file under `home`."""
    if not url:
        return SqliteDatabase(home)
    from triage_cli.store.postgres import shared_database

    return shared_database(url)


def as_database(target: Database | Path) -> Database:
    """A store's argument: a Database, or a data directory meaning its SQLite file."""
    return target if isinstance(target, Database) else SqliteDatabase(target)


# The database files this process has created or checked and migrated: a long-lived process (the
# server saves hundreds of partial replies a second) connects to them without doing it again.
_READY: set[Path] = set()


def connect(home: Path) -> sqlite3.Connection:
    """A connection to the state database under `home`, created and migrated as needed."""
    path = home / DATABASE_NAME
    ready = path in _READY and path.exists()
    try:
        if not ready:
            make_home(home)
            # SQLite gives the -wal and -shm files the database file's mode, so 0600 covers all three.
            create_private_file(path)
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the data directory {home}: {exc}") from None
    connection.row_factory = sqlite3.Row
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA foreign_keys = ON")  # pruning a conversation removes its turns
        if not ready:
            connection.execute("PRAGMA journal_mode = WAL")  # kept in the file: set once
            migrate(connection)
            _READY.add(path)
    except sqlite3.Error as exc:
        connection.close()
        raise StoreError(f"cannot use the database {path}: {exc}") from None
    except BaseException:
        connection.close()
        raise
    return connection


def exposed_home(home: Path) -> str | None:
    """A one-line warning when the data directory lets other users in, else None."""
    try:
        mode = stat.S_IMODE(home.stat().st_mode)
    except OSError:  # not there yet: it will be created private
        return None
    if not mode & 0o077:
        return None
    return (f"the data directory {home} is open to other users (mode {mode:o}) and holds customers' "
            f"messages: chmod 700 '{home}'")


class _Kept(threading.local):
    """The connections a thread keeps between operations, by data directory (`keep_connections`)."""

    def __init__(self) -> None:
        self.by_home: dict[tuple[int, Path], sqlite3.Connection] = {}


_KEPT: _Kept | None = None


def keep_connections() -> None:
    """From now on each thread of this process keeps its connection between operations: for a
    server, whose turns save their replies hundreds of times a second from its worker threads
    (opening a connection costs more than the write). A chat or a one-shot command opens one an
    operation, so it never holds the file."""
    global _KEPT
    _KEPT = _KEPT or _Kept()


@contextmanager
def opened(home: Path, what: str) -> Iterator[sqlite3.Connection]:
    """A connection for one operation, closed after it (or kept by this thread, once a server
    has said `keep_connections`). An SQLite failure inside becomes a StoreError naming `what` failed."""
    key = (os.getpid(), home)  # a forked worker opens its own
    kept = _KEPT.by_home.pop(key, None) if _KEPT is not None else None
    connection = kept if kept is not None and (home / DATABASE_NAME).exists() else connect(home)
    reusable = False
    try:
        yield connection
        reusable = _KEPT is not None and not connection.in_transaction
    except sqlite3.Error as exc:
        raise StoreError(f"{what} failed: {exc}") from None
    finally:
        if reusable and _KEPT is not None:
            _KEPT.by_home[key] = connection
        else:
            connection.close()


@contextmanager
def transaction(home: Path, what: str) -> Iterator[sqlite3.Connection]:
    """`opened`, inside one write transaction (taken at once, so writers queue instead of failing)."""
    with opened(home, what) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.in_transaction:  # SQLite may have rolled back already; keep the real error
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def iso(moment: datetime) -> str:
    """How times are stored: ISO 8601 in UTC, to the millisecond (so they sort as text)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def now() -> str:
    return iso(datetime.now(timezone.utc))


def migrate(connection: sqlite3.Connection) -> int:
    """Apply the migrations the database lacks, each in its own transaction; returns the version."""
    version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    if version == len(MIGRATIONS):
        return version  # the usual case: no write lock taken just to look
    while True:
        connection.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then see it done
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"the database is from a newer triage (schema {version}, this one knows {len(MIGRATIONS)})"
                )
            if version == len(MIGRATIONS):
                connection.execute("COMMIT")
                return version
            for statement in MIGRATIONS[version]:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {version + 1}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
