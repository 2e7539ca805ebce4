"""The agents and the tickets' events on both backends (SQLite and a real PostgreSQL), and the
migration that brings an older database's tickets their opening and closing events."""

from __future__ import annotations

import sqlite3

import pytest

from triage_cli.engine.events import TriageRecord
from triage_cli.errors import InvalidValue, NotFound
from triage_cli.store.agents import AgentStore
from triage_cli.store.database import MIGRATIONS, SqliteDatabase, migrate
from triage_cli.store.tickets import TicketStore

LATE = TriageRecord(order_id="A1002", issue="late", status="delayed", next_step="escalate", summary="late")


def test_agents_are_found_by_token_and_names_are_one_per_person_whatever_the_case(database):
    store = AgentStore(database)
    ana, token = store.add("Ana")
    with pytest.raises(InvalidValue, match="already an agent called ana"):
        store.add("ana")
    assert store.by_token(token) == ana and store.by_token(token + "x") is None
    assert store.any() and [a.name for a in store.list()] == ["Ana"]
    _, new = store.rotate("ANA")
    assert store.by_token(token) is None and store.by_token(new).name == "Ana"
    store.remove("ana")
    assert not store.any()
    with pytest.raises(NotFound):
        store.remove("ana")


def test_each_queue_action_is_an_event_in_the_same_transaction(database):
    store = TicketStore(database)
    ticket = store.open_ticket(LATE, question="q", reply="r", conversation_id=7).id
    store.open_ticket(LATE, question="q2", reply="r2", conversation_id=7)  # the same conversation: updated
    store.claim("ana", ticket)
    store.release(ticket, "lea", force=True)
    store.claim("ben", ticket)
    store.close(ticket, "done", agent="ben")
    store.reopen(ticket, by="lea")
    assert [(e.action, e.agent, e.forced) for e in store.events(ticket)] == [
        ("opened", None, False), ("updated", None, False), ("claimed", "ana", False), ("released", "lea", True),
        ("claimed", "ben", False), ("closed", "ben", False), ("reopened", "lea", False)]
    with pytest.raises(NotFound):
        store.events(ticket + 100)


def test_tickets_from_before_the_events_get_their_opening_and_closing(tmp_path):
    connection = sqlite3.connect(tmp_path / "old.sqlite", isolation_level=None)
    for statements in MIGRATIONS[:4]:
        for statement in statements:
            connection.execute(statement)
    connection.execute("PRAGMA user_version = 4")
    connection.execute("INSERT INTO tickets (created_at, issue, order_status, summary, question, reply, status,"
                       " closed_at, note, assignee) VALUES ('2026-01-01T00:00:00.000+00:00', 'late', 'delayed', 's',"
                       " 'q', 'r', 'closed', '2026-01-02T00:00:00.000+00:00', 'sent', 'ana')")
    migrate(connection)
    connection.close()
    (tmp_path / "home").mkdir(mode=0o700)
    (tmp_path / "old.sqlite").rename(tmp_path / "home" / "triage.sqlite")
    events = TicketStore(SqliteDatabase(tmp_path / "home")).events(1)
    assert [(e.at[:10], e.action, e.agent, e.note) for e in events] == [
        ("2026-01-01", "opened", None, None), ("2026-01-02", "closed", "ana", "sent")]
