"""triage's own state database under TRIAGE_HOME: one SQLite file, WAL, a busy timeout and
versioned schema migrations (PRAGMA user_version), so several processes can share it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from triage_cli.errors import StoreError

DATABASE_NAME = "triage.sqlite"
BUSY_TIMEOUT_MS = 5000

# Migration N (1-based) brings a database from user_version N-1 to N. Never edit a released
# migration: add a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE tickets (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at   TEXT NOT NULL,            -- ISO 8601, UTC
            order_id     TEXT,
            issue        TEXT NOT NULL,
            order_status TEXT NOT NULL,
            summary      TEXT NOT NULL,
            question     TEXT NOT NULL,
            reply        TEXT NOT NULL,
            status       TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
            closed_at    TEXT,
            note         TEXT
        )""",
        "CREATE INDEX tickets_by_status ON tickets (status, id)",
    ),
)


def connect(home: Path) -> sqlite3.Connection:
    """A connection to the state database under `home`, created and migrated as needed."""
    path = home / DATABASE_NAME
    try:
        home.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the data directory {home}: {exc}") from None
    connection.row_factory = sqlite3.Row
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA journal_mode = WAL")
        migrate(connection)
    except sqlite3.Error as exc:
        connection.close()
        raise StoreError(f"cannot use the database {path}: {exc}") from None
    return connection


def migrate(connection: sqlite3.Connection) -> int:
    """Apply the migrations the database lacks, each in its own transaction; returns the version."""
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
