"""The escalation queue: one open ticket per escalated conversation and order, worked through by
a person. A later escalation about the same order in the same conversation updates that ticket.

A team works the queue by claiming: `claim` gives an agent the ticket they name, or the oldest
open one nobody holds, atomically (two agents never get the same ticket); `release` puts it
back; `close` is for its holder (anyone may close a ticket nobody holds), or forced.
"""

from __future__ import annotations

import builtins
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from triage_cli.errors import InvalidValue, NotFound
from triage_cli.errors import QueueEmpty as QueueEmpty  # the queue's own refusal, where it is raised
from triage_cli.record_types import TICKET_STATES, Ticket, TicketEvent
from triage_cli.store.database import Database, as_database, now
from triage_cli.store.dialect import Connection
from triage_cli.store.search import indexed

WHAT = "the ticket database"


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
    """Tickets in the state database (a data directory means its SQLite file); each call takes a
    connection for itself only, so a long REPL session never holds the database."""

    def __init__(self, database: Database | Path) -> None:
        self.database = as_database(database)

    def _connection(self) -> AbstractContextManager[Connection]:
        return self.database.opened(WHAT)

    def open_ticket(self, record: Escalation, *, question: str, reply: str,
                    conversation_id: int | None = None, by: str | None = None) -> Ticket:
        """A new ticket for an escalated answer; or, when the conversation already has an open
        ticket about the same order (or about no order), that ticket with the new summary, order
        status and latest reply, and the question added to the customer's messages."""
        # Looking for the open ticket and filing a new one (and saying so) are one write
        # transaction, so two answers at once cannot both file.
        with self.database.transaction(WHAT) as db:
            if conversation_id is not None:
                row = db.execute(
                    "SELECT id, question FROM tickets WHERE conversation_id = ? AND status = 'open'"
                    " AND UPPER(COALESCE(order_id, '')) = UPPER(COALESCE(?, '')) ORDER BY id DESC LIMIT 1",
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
                    _happened(db, row["id"], "updated", by)
                    return self._get(db, row["id"])
            ticket_id = db.insert(
                "INSERT INTO tickets (created_at, order_id, issue, order_status, summary, question, reply,"
                " conversation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (now(), record.order_id, record.issue, record.status, record.summary, question, reply,
                 conversation_id),
            )
            _happened(db, ticket_id, "opened", by)
            return self._get(db, ticket_id)

    def list(self, status: str = "open", limit: int | None = None, *, assignee: str | None = None) -> list[Ticket]:
        """Tickets, newest first; `status` is open, closed or all; `assignee`, when given, keeps
        the tickets that agent holds (or, for the open ones, held last)."""
        if status not in TICKET_STATES:
            raise InvalidValue(f"ticket status must be one of {', '.join(TICKET_STATES)}, got '{status}'")
        conditions, params = [], list[Any]()
        if status != "all":
            conditions.append("status = ?")
            params.append(status)
        if assignee is not None:
            conditions.append("assignee = ?")
            params.append(assignee)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = f"SELECT * FROM tickets {where} ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
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

    def claim(self, agent: str, ticket_id: int | None = None) -> Ticket:
        """Give `agent` the ticket `ticket_id`, or the oldest open one nobody holds. A ticket
        the agent already holds is theirs again; one another agent holds is refused."""
        with self.database.claiming(WHAT) as db:
            if ticket_id is None:
                row = db.execute("SELECT id FROM tickets WHERE status = 'open' AND assignee IS NULL"
                                 f" ORDER BY id LIMIT 1{db.skip_locked}").fetchone()
                if row is None:
                    raise QueueEmpty("no open ticket is free to claim")
                ticket = self._get(db, int(row[0]))
            else:
                ticket = self._get(db, ticket_id, lock=True)
                if ticket.status == "closed":
                    raise InvalidValue(f"ticket {ticket_id} is closed")
                if ticket.assignee == agent:
                    return ticket
                if ticket.assignee is not None:
                    raise InvalidValue(f"ticket {ticket_id} is held by {ticket.assignee}{_since(ticket.claimed_at)}")
            db.execute("UPDATE tickets SET assignee = ?, claimed_at = ? WHERE id = ?", (agent, now(), ticket.id))
            _happened(db, ticket.id, "claimed", agent)
            return self._get(db, ticket.id)

    def release(self, ticket_id: int, agent: str, *, force: bool = False) -> Ticket:
        """Put a ticket `agent` holds back in the queue (any holder's, with `force`)."""
        with self.database.claiming(WHAT) as db:
            ticket = self._get(db, ticket_id, lock=True)
            if ticket.assignee is None:
                raise InvalidValue(f"ticket {ticket_id} is not claimed by anyone")
            _check_holder(ticket, agent, force, "release")
            db.execute("UPDATE tickets SET assignee = NULL, claimed_at = NULL WHERE id = ?", (ticket_id,))
            _happened(db, ticket_id, "released", agent, forced=ticket.assignee != agent)
            return self._get(db, ticket_id)

    def close(self, ticket_id: int, note: str | None = None, *, agent: str | None = None,
              force: bool = False) -> Ticket:
        """Close a ticket: one another agent holds only with `force`. A ticket nobody held is
        recorded as closed by `agent`."""
        with self.database.claiming(WHAT) as db:
            ticket = self._get(db, ticket_id, lock=True)
            if ticket.status == "closed":
                raise InvalidValue(f"ticket {ticket_id} is already closed{_since(ticket.closed_at)}")
            if ticket.assignee is not None:  # someone holds it: only they close it, unless forced
                _check_holder(ticket, agent, force, "close")
            db.execute(
                "UPDATE tickets SET status = 'closed', closed_at = ?, note = ?, assignee = COALESCE(assignee, ?)"
                " WHERE id = ?",
                (now(), note, agent, ticket_id),
            )
            _happened(db, ticket_id, "closed", agent, note=note,
                      forced=ticket.assignee is not None and ticket.assignee != agent)
            return self._get(db, ticket_id)

    def reopen(self, ticket_id: int, by: str | None = None) -> Ticket:
        """Open a closed ticket again, back in the queue for anyone to claim; its closing note is kept."""
        with self.database.claiming(WHAT) as db:
            ticket = self._get(db, ticket_id, lock=True)
            if ticket.status == "open":
                raise InvalidValue(f"ticket {ticket_id} is already open")
            db.execute("UPDATE tickets SET status = 'open', closed_at = NULL, assignee = NULL, claimed_at = NULL"
                       " WHERE id = ?", (ticket_id,))
            _happened(db, ticket_id, "reopened", by)
            return self._get(db, ticket_id)

    def events(self, ticket_id: int) -> builtins.list[TicketEvent]:
        """What happened to the ticket, oldest first."""
        with self._connection() as db:
            self._get(db, ticket_id)
            rows = db.execute("SELECT at, action, agent, forced, note FROM ticket_events WHERE ticket_id = ?"
                              " ORDER BY id", (ticket_id,)).fetchall()
        return [TicketEvent(row[0], row[1], row[2], bool(row[3]), row[4]) for row in rows]

    @staticmethod
    def _get(db: Connection, ticket_id: int, *, lock: bool = False) -> Ticket:
        row = db.execute(f"SELECT * FROM tickets WHERE id = ?{db.lock_row if lock else ''}", (ticket_id,)).fetchone()
        if row is None:
            raise NotFound(f"no ticket {ticket_id}", kind="ticket")
        return Ticket(**dict(row))


def _happened(db: Connection, ticket_id: int, action: str, agent: str | None, *, forced: bool = False,
              note: str | None = None) -> None:
    db.execute("INSERT INTO ticket_events (ticket_id, at, action, agent, forced, note) VALUES (?, ?, ?, ?, ?, ?)",
               (ticket_id, now(), action, agent, int(forced), note))
    if note:
        order = db.execute("SELECT order_id FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        indexed(db, "note", note, ticket_id=ticket_id, order=order[0] if order else None)


def _check_holder(ticket: Ticket, agent: str | None, force: bool, doing: str) -> None:
    if ticket.assignee != agent and not force:
        raise InvalidValue(f"ticket {ticket.id} is held by {ticket.assignee}{_since(ticket.claimed_at)}; "
                           f"only they can {doing} it, unless forced")


def _since(moment: str | None) -> str:
    return f" (since {moment[:16].replace('T', ' ')} UTC)" if moment else ""
