"""The Database API the stores use, whichever backend holds the rows: SQLite (database.py) or
PostgreSQL (postgres.py). Its own module, so neither backend imports the other."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager

from triage_cli.store.dialect import Connection


class Database(ABC):
    """Where the stores keep their rows. Every error of the backend inside `opened` or
    `transaction` becomes a StoreError naming `what` failed."""

    @abstractmethod
    def opened(self, what: str) -> AbstractContextManager[Connection]:
        """A connection for one operation, given back after it."""

    @abstractmethod
    def transaction(self, what: str) -> AbstractContextManager[Connection]:
        """One write transaction that no other writer interleaves with (BEGIN IMMEDIATE on SQLite;
        a transaction-level advisory lock on PostgreSQL)."""

    @abstractmethod
    def claiming(self, what: str) -> AbstractContextManager[Connection]:
        """A write transaction for claiming queue rows: on PostgreSQL it takes only the rows it
        locks (`Connection.skip_locked`), so claimers run side by side."""

    @abstractmethod
    def describe(self) -> str:
        """Where the data is, for messages (a PostgreSQL URL without its password)."""

    def close(self) -> None:
        """Give back what the database holds (a connection pool); it can be used again after."""
