"""The order store: a SQLite table of orders, the demo one or the user's own.

Schema of a user's own database (only `order_id` and `status` are required; other columns may be
missing and read as empty):

    CREATE TABLE orders (
        order_id      TEXT PRIMARY KEY,  -- e.g. A1002
        status        TEXT NOT NULL,     -- packed, shipped, in_transit, delayed, delivered,
                                         -- cancelled, returned, lost (others are shown as given)
        carrier       TEXT,
        tracking      TEXT,
        eta           TEXT,              -- ISO date, YYYY-MM-DD
        last_event    TEXT,              -- the latest tracking event, in words
        last_event_at TEXT,              -- ISO date-time, YYYY-MM-DDTHH:MM
        note          TEXT,              -- anything the support team should know
        items         TEXT
    );
"""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Protocol

from triage_cli.errors import StoreError
from triage_cli.store.database import make_home
from triage_cli.store.demo_orders import demo_rows

COLUMNS = ("order_id", "status", "carrier", "tracking", "eta", "last_event", "last_event_at", "note", "items")

_SCHEMA = """
CREATE TABLE orders (
    order_id      TEXT PRIMARY KEY,
    status        TEXT NOT NULL,
    carrier       TEXT,
    tracking      TEXT,
    eta           TEXT,
    last_event    TEXT,
    last_event_at TEXT,
    note          TEXT,
    items         TEXT
)
"""


class OrderSource(Protocol):
    """Where orders are looked up: this SQLite table, or the shop's API (store/order_api.py)."""

    busy_timeout: float  # seconds one lookup may wait (the order tool keeps it within its timeout)

    def lookup(self, order_id: str) -> dict[str, str | None] | None: ...

    def order_ids(self, limit: int = 1000) -> list[str]: ...


class OrderStore:
    """Read-only lookups of orders. Each lookup opens its own connection, so lookups may run in
    parallel threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.busy_timeout = 5.0  # seconds a lookup waits for a database another program locked
        self._columns: tuple[str, ...] | None = None

    @classmethod
    def demo(cls, home: Path, now: datetime | None = None) -> "OrderStore":
        """The demo store under `home`, created with its sample orders on first use and rebuilt
        on a later day, so "ships today" and "delivered yesterday" stay true. `now`: the clock
        its times are counted from (tests pin it)."""
        path = home / "orders.sqlite"
        store = cls(path)
        moment = now or datetime.now()
        if not path.exists() or store._demo_day() != moment.date().isoformat():
            try:
                _create_demo_database(path, moment)
            except StoreError:
                if path.is_file():
                    return store  # yesterday's demo data beats none
                return cls._demo_elsewhere()
        return store

    @classmethod
    def _demo_elsewhere(cls) -> "OrderStore":
        """The data directory cannot be written: the demo orders in a private temporary
        directory for this run, so the answer still comes (the store reports the directory)."""
        scratch = Path(tempfile.mkdtemp(prefix="triage-demo-"))
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        _create_demo_database(scratch / "orders.sqlite", datetime.now())
        return cls(scratch / "orders.sqlite")

    def _demo_day(self) -> str | None:
        try:
            rows = self._query("SELECT value FROM demo_meta WHERE key = 'created'")
        except StoreError:
            return None
        return rows[0][0] if rows else None

    @classmethod
    def open(cls, path: Path) -> "OrderStore":
        """A user's own database; checked now so a wrong path fails before any question."""
        if not path.is_file():
            raise StoreError(f"order database not found: {path}")
        store = cls(path)
        store.columns()
        return store

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        try:
            connection = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=self.busy_timeout)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open order database {self.path}: {exc}") from None
        connection.row_factory = sqlite3.Row
        try:
            return connection.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"order database {self.path}: {exc}") from None
        finally:
            connection.close()

    def columns(self) -> tuple[str, ...]:
        if self._columns is None:
            found = {row["name"] for row in self._query("PRAGMA table_info(orders)")}
            missing = {"order_id", "status"} - found
            if missing:
                raise StoreError(
                    f"{self.path} has no usable 'orders' table (missing: {', '.join(sorted(missing))})"
                )
            self._columns = tuple(c for c in COLUMNS if c in found)
        return self._columns

    def lookup(self, order_id: str) -> dict[str, str | None] | None:
        """The order's columns, or None when there is no such order. Always a bound parameter."""
        columns = self.columns()
        rows = self._query(
            f"SELECT {', '.join(columns)} FROM orders WHERE order_id = ? COLLATE NOCASE",
            (order_id.strip(),),
        )
        if not rows:
            return None
        return {column: rows[0][column] if column in columns else None for column in COLUMNS}

    def order_ids(self, limit: int = 1000) -> list[str]:
        """Known order ids, for completion."""
        return [row[0] for row in self._query("SELECT order_id FROM orders ORDER BY order_id LIMIT ?", (limit,))]


def _create_demo_database(path: Path, moment: datetime) -> None:
    """Build the demo database beside its final place, then move it in atomically, so two
    processes starting at once never see a half-written file. Its times are coherent for the
    moment it is built, one clock reading for the rows and the day it is marked with."""
    try:
        make_home(path.parent)
        # mkstemp creates the file 0600, and os.replace keeps that mode: the demo data is private too.
        handle, temp_name = tempfile.mkstemp(prefix=".orders-", suffix=".sqlite", dir=path.parent)
    except OSError as exc:
        raise StoreError(f"cannot create the data directory {path.parent}: {exc.strerror}") from None
    os.close(handle)
    try:
        connection = sqlite3.connect(temp_name)
        with connection:
            connection.execute(_SCHEMA)
            connection.execute("CREATE TABLE demo_meta (key TEXT PRIMARY KEY, value TEXT)")
            connection.execute("INSERT INTO demo_meta VALUES ('created', ?)", (moment.date().isoformat(),))
            connection.executemany(
                f"INSERT INTO orders ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                [tuple(row[c] for c in COLUMNS) for row in demo_rows(moment)],
            )
        connection.close()
        os.replace(temp_name, path)
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
