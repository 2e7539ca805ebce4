"""The state database on PostgreSQL (`database_url`), for a team sharing one queue and history.

Connections come from a psycopg pool that checks each one before handing it out, so a server that
went away and came back is reconnected to on the next operation; while it is away an operation
fails after `timeout` seconds with a StoreError (the journal turns that into its "not saved"
notice). The schema is brought up to date on first use with the same migrations as SQLite,
translated by store/dialect.py, the version kept in the `triage_schema` table.

psycopg is imported only here, and this module only when a PostgreSQL URL is set.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from triage_cli.errors import StoreError
from triage_cli.redaction import masked_url
from triage_cli.store.backend import Database
from triage_cli.store.migrations import MIGRATIONS
from triage_cli.store.dialect import Connection, PostgresRow, postgres_statement

DEFAULT_TIMEOUT = 5.0  # seconds to wait for a connection, as SQLite waits for its lock
# Writers that must not interleave (a turn's number, a conversation's open ticket) hold this
# transaction-level advisory lock, as SQLite's BEGIN IMMEDIATE holds the file.
WRITE_LOCK = 0x7472_6961_6765  # "triage"
MIGRATE_LOCK = WRITE_LOCK + 1

# The pool logs each failed reconnection as a warning; a terminal must not show them (the
# operation that failed says so in one line).
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())
logging.getLogger("psycopg.pool").propagate = False

_SHARED: dict[str, PostgresDatabase] = {}
_SHARED_LOCK = threading.Lock()


def _rows(cursor: Any) -> Any:
    """psycopg row factory: rows that read like sqlite3.Row."""
    names = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: PostgresRow(values, names)


def redacted(url: str) -> str:
    """`url` without its password, for messages (redaction.masked_url, as `triage config` shows it)."""
    return masked_url(url)


class PostgresDatabase(Database):
    """PostgreSQL at `url` through a pool of `min_size`..`max_size` connections, opened on first
    use. A server holds one for its life and calls `close()` at shutdown."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 4, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.min_size, self.max_size, self.timeout = min_size, max_size, timeout
        self._pool: ConnectionPool | None = None
        self._migrated = False
        self._lock = threading.Lock()

    def describe(self) -> str:
        return redacted(self.url)

    def _connections(self) -> ConnectionPool:
        with self._lock:
            if self._pool is None:
                try:
                    conninfo = make_conninfo(self.url, connect_timeout=max(1, round(self.timeout)),
                                             application_name="triage")
                except psycopg.Error as exc:
                    raise StoreError(f"database_url is not a PostgreSQL URL: {_first_line(exc)}") from None
                # A reconnection given up after `timeout` lets the next operation try at once,
                # instead of waiting out the pool's growing back-off.
                self._pool = ConnectionPool(
                    conninfo, min_size=self.min_size, max_size=self.max_size, timeout=self.timeout,
                    reconnect_timeout=self.timeout, check=ConnectionPool.check_connection,
                    kwargs={"row_factory": _rows}, name="triage", open=True)
            return self._pool

    @contextmanager
    def _connection(self, what: str) -> Iterator[Connection]:
        try:
            with self._connections().connection() as raw:
                if not self._migrated:
                    migrate(raw)
                    self._migrated = True
                with raw.transaction():
                    yield Connection(raw, postgres=True)
        except PoolTimeout:
            raise StoreError(f"{what} failed: cannot reach {self.describe()} "
                             f"(no connection within {self.timeout:g} s)") from None
        except psycopg.Error as exc:
            raise StoreError(f"{what} failed: {self.describe()}: {_first_line(exc)}") from None

    def opened(self, what: str) -> AbstractContextManager[Connection]:
        return self._connection(what)

    @contextmanager
    def transaction(self, what: str) -> Iterator[Connection]:
        with self._connection(what) as db:
            db.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))
            yield db

    def claiming(self, what: str) -> AbstractContextManager[Connection]:
        return self._connection(what)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(timeout=1.0)


def shared_database(url: str) -> PostgresDatabase:
    """This process's one PostgresDatabase for `url`, closed when the process exits. The URL's
    `connect_timeout`, when it has one, is how long an operation waits for a connection."""
    with _SHARED_LOCK:
        if url not in _SHARED:
            _SHARED[url] = PostgresDatabase(url, timeout=_connect_timeout(url))
        return _SHARED[url]


def _connect_timeout(url: str) -> float:
    try:
        return max(1.0, float(conninfo_to_dict(url).get("connect_timeout") or DEFAULT_TIMEOUT))
    except (psycopg.Error, ValueError):
        return DEFAULT_TIMEOUT


@atexit.register
def close_shared() -> None:
    """Close this process's pools (at exit; and before `serve --workers` forks, so no worker
    inherits a pool whose threads and connections are its parent's)."""
    with _SHARED_LOCK:
        databases = list(_SHARED.values())
        _SHARED.clear()
    for database in databases:
        database.close()


def migrate(connection: psycopg.Connection[Any]) -> int:
    """Apply the migrations the database lacks, all in one transaction under an advisory lock (so
    one process migrates while the others wait); returns the version."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        connection.execute("CREATE TABLE IF NOT EXISTS triage_schema (version INTEGER NOT NULL)")
        row = connection.execute("SELECT version FROM triage_schema").fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the database is from a newer triage (schema {version}, this one knows {len(MIGRATIONS)})")
        for migration in MIGRATIONS[version:]:
            for statement in migration.for_postgres():
                connection.execute(postgres_statement(statement))
        if row is None:
            connection.execute("INSERT INTO triage_schema (version) VALUES (%s)", (len(MIGRATIONS),))
        elif version < len(MIGRATIONS):
            connection.execute("UPDATE triage_schema SET version = %s", (len(MIGRATIONS),))
    return len(MIGRATIONS)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
