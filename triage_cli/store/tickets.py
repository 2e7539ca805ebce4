"""The escalation queue: one open ticket per escalated conversation and order, worked through by
a person. A later escalation about the same order in the same conversation updates that ticket."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from triage_cli.errors import InvalidValue, NotFound
from triage_cli.store.database import now, opened, parse_row_id, transaction

TICKET_STATES = ("open", "closed", "all")


@dataclass(frozen=True)
class Ticket:
    id: int
    created_at: str
    order_id: str | None
    issue: str
    order_status: str
    summary: str
    question: str
    reply: str
    status: str  # open or closed
    closed_at: str | None
    note: str | None
    conversation_id: int | None = None  # the conversation that escalated, when there was one
    updated_at: str | None = None  # when a later escalation last updated it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Escalation(Protocol):
    """What a ticket takes from a triage record (the engine's TriageRecord is one): the store
    reads these fields and knows nothing else about the record."""

    @property
    def order_id(self) -> str | None: ...
    @property
    def issue(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def summary(self) -> str: ...


class TicketStore:
    """Tickets in the state database under `home`; each call opens and closes its connection,
    so a long REPL session never holds the database."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def _connection(self) -> AbstractContextManager[sqlite3.Connection]:
        return opened(self.home, "the ticket database")

    def open_ticket(self, record: Escalation, *, question: str, reply: str,
                    conversation_id: int | None = None) -> Ticket:
        """A new ticket for an escalated answer; or, when the conversation already has an open
        ticket about the same order (or about no order), that ticket with the new summary, order
        status and latest reply, and the question added to the customer's messages."""
        # Looking for the open ticket and filing a new one are one write transaction, so two
        # answers at once cannot both file; without a conversation a single INSERT needs none.
        with (opened if conversation_id is None else transaction)(self.home, "the ticket database") as db:
            if conversation_id is not None:
                row = db.execute(
                    "SELECT id, question FROM tickets WHERE conversation_id = ? AND status = 'open'"
                    " AND COALESCE(order_id, '') = COALESCE(?, '') COLLATE NOCASE ORDER BY id DESC LIMIT 1",
                    (conversation_id, record.order_id),
                ).fetchone()
                if row is not None:
                    asked = row["question"] if question in row["question"].split("\n\n") else (
                        f"{row['question']}\n\n{question}" if row["question"] else question)
                    db.execute(
                        "UPDATE tickets SET issue = ?, order_status = ?, summary = ?, question = ?, reply = ?,"
                        " updated_at = ? WHERE id = ?",
                        (record.issue, record.status, record.summary, asked, reply, now(), row["id"]),
                    )
                    return self._get(db, row["id"])
            cursor = db.execute(
                "INSERT INTO tickets (created_at, order_id, issue, order_status, summary, question, reply,"
                " conversation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (now(), record.order_id, record.issue, record.status, record.summary, question, reply,
                 conversation_id),
            )
            return self._get(db, cursor.lastrowid or 0)

    def list(self, status: str = "open", limit: int | None = None) -> list[Ticket]:
        """Tickets, newest first; `status` is open, closed or all."""
        if status not in TICKET_STATES:
            raise InvalidValue(f"ticket status must be one of {', '.join(TICKET_STATES)}, got '{status}'")
        where = "" if status == "all" else "WHERE status = ?"
        params: tuple[Any, ...] = () if status == "all" else (status,)
        sql = f"SELECT * FROM tickets {where} ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        with self._connection() as db:
            return [Ticket(**dict(row)) for row in db.execute(sql, params)]

    def get(self, ticket_id: int) -> Ticket:
        with self._connection() as db:
            return self._get(db, ticket_id)

    def states(self, ticket_ids: set[int]) -> dict[int, str]:
        """Each ticket's status now (open or closed); ids not stored are left out."""
        if not ticket_ids:
            return {}
        ids = sorted(ticket_ids)
        with self._connection() as db:
            rows = db.execute(f"SELECT id, status FROM tickets WHERE id IN ({','.join('?' * len(ids))})", ids)
            return {int(row[0]): str(row[1]) for row in rows}

    def close(self, ticket_id: int, note: str | None = None) -> Ticket:
        with self._connection() as db:
            ticket = self._get(db, ticket_id)
            if ticket.status == "closed":
                raise InvalidValue(f"ticket {ticket_id} is already closed (since {(ticket.closed_at or '')[:16].replace('T', ' ')} UTC)")
            db.execute(
                "UPDATE tickets SET status = 'closed', closed_at = ?, note = ? WHERE id = ?",
                (now(), note, ticket_id),
            )
            return self._get(db, ticket_id)

    def reopen(self, ticket_id: int) -> Ticket:
        """Open a closed ticket again; its closing note is kept."""
        with self._connection() as db:
            ticket = self._get(db, ticket_id)
            if ticket.status == "open":
                raise InvalidValue(f"ticket {ticket_id} is already open")
            db.execute("UPDATE tickets SET status = 'open', closed_at = NULL WHERE id = ?", (ticket_id,))
            return self._get(db, ticket_id)

    @staticmethod
    def _get(db: sqlite3.Connection, ticket_id: int) -> Ticket:
        row = db.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        if row is None:
            raise NotFound(f"no ticket {ticket_id}", kind="ticket")
        return Ticket(**dict(row))


def parse_ticket_id(text: str) -> int:
    """`12` or `#12` -> 12; anything else is a usage error."""
    ticket_id = parse_row_id(text)
    if ticket_id is None:
        raise InvalidValue(f"a ticket id is a number like 12, got '{text[:40]}'")
    return ticket_id
