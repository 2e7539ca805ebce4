"""The team's records, the history and the ticket queue, as the front ends read and work them:
`Records` is what they use, `LocalRecords` this machine's store (SQLite or database_url's
PostgreSQL); client/records.py's `RemoteRecords` is a team server's, with the same methods, so a
command is written once for both."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from triage_cli.ages import period_start
from triage_cli.engine.events import TriageRecord
from triage_cli.record_types import Agent
from triage_cli.store.agents import AgentStore
from triage_cli.store.database import Database, as_database
from triage_cli.record_types import SearchHit, StoredConversation
from triage_cli.store.search import search
from triage_cli.store.stats import stats
from triage_cli.store.sessions import SessionStore
from triage_cli.record_types import Ticket, TicketEvent
from triage_cli.store.tickets import TicketStore


class Records(Protocol):
    def search(self, text: str, limit: int) -> list[SearchHit]: ...
    def stats(self, since: str) -> dict[str, Any]:
        """The figures since `since` (7d, 24h, a date): store/stats.py's object."""
        ...
    def tickets(self, status: str, limit: int, assignee: str | None = None) -> list[Ticket]: ...
    def ticket(self, ticket_id: int) -> tuple[Ticket, list[TicketEvent]]: ...
    def claim(self, agent: str, ticket_id: int | None) -> Ticket: ...
    def release(self, ticket_id: int, agent: str, *, force: bool) -> Ticket: ...
    def close(self, ticket_id: int, note: str | None, *, agent: str | None, force: bool) -> Ticket: ...
    def conversations(self, limit: int, order: str | None) -> list[StoredConversation]: ...
    def conversation(self, which: str | None) -> tuple[StoredConversation, dict[int, str]]:
        """A conversation, and the state now of each ticket its answers filed."""
        ...


class LocalRecords:
    """This machine's store (a data directory means its SQLite file)."""

    def __init__(self, database: Database | Path) -> None:
        self.database = as_database(database)

    def tickets(self, status: str, limit: int, assignee: str | None = None) -> list[Ticket]:
        return TicketStore(self.database).list(status, limit, assignee=assignee)

    def ticket(self, ticket_id: int) -> tuple[Ticket, list[TicketEvent]]:
        store = TicketStore(self.database)
        return store.get(ticket_id), store.events(ticket_id)

    def claim(self, agent: str, ticket_id: int | None) -> Ticket:
        return TicketStore(self.database).claim(agent, ticket_id)

    def release(self, ticket_id: int, agent: str, *, force: bool) -> Ticket:
        return TicketStore(self.database).release(ticket_id, agent, force=force)

    def close(self, ticket_id: int, note: str | None, *, agent: str | None, force: bool) -> Ticket:
        return TicketStore(self.database).close(ticket_id, note, agent=agent, force=force)

    def conversations(self, limit: int, order: str | None) -> list[StoredConversation]:
        return SessionStore(self.database).list(limit=limit, order_id=order)

    def search(self, text: str, limit: int) -> list[SearchHit]:
        return search(self.database, text, limit)

    def stats(self, since: str) -> dict[str, Any]:
        return figures_since(self.database, since)

    def conversation(self, which: str | None) -> tuple[StoredConversation, dict[int, str]]:
        store = SessionStore(self.database)
        stored = store.get(store.resolve(which))
        return stored, TicketStore(self.database).states(filed_tickets(stored))

    # what only this machine's store does (the server's API does not offer it)

    def reopen(self, ticket_id: int, agent: str | None) -> Ticket:
        return TicketStore(self.database).reopen(ticket_id, by=agent)

    def delete(self, which: str) -> StoredConversation:
        store = SessionStore(self.database)
        return store.delete(store.resolve(which))

    def prunable(self, before: datetime) -> int:
        """How many conversations have had no activity since `before`."""
        return len(SessionStore(self.database).prunable(before))

    def prune(self, before: datetime) -> int:
        return SessionStore(self.database).prune(before)


class LocalAgents:
    """The team's agents in this machine's state database (or database_url's PostgreSQL)."""

    def __init__(self, database: Database | Path) -> None:
        self.store = AgentStore(as_database(database))

    def add(self, name: str, *, lead: bool) -> tuple[Agent, str]:
        return self.store.add(name, lead=lead)

    def rotate(self, name: str) -> tuple[Agent, str]:
        return self.store.rotate(name)

    def remove(self, name: str) -> Agent:
        return self.store.remove(name)

    def list(self) -> list[Agent]:
        return self.store.list()


def filed_tickets(stored: StoredConversation) -> set[int]:
    """The tickets a conversation's answers filed."""
    return {record.ticket for turn in stored.turns
            if (record := TriageRecord.from_stored(turn.record)) is not None and record.ticket}


def figures_since(database: Database, since: str, now: datetime | None = None) -> dict[str, Any]:
    """store/stats.py's figures from `since` (an age back from now, or a date) to now."""
    until = now or datetime.now(timezone.utc)
    return stats(database, period_start(since, until), until)
