"""One conversation and order have at most one open ticket (issue 12, item 3): a later escalation
about the same order in the same conversation updates it, and a short "thanks" gets a short reply,
not another lookup and another escalation."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from helpers import OPEN_DATABASE, database_argument, run_at_once
from scripted_server import answer, tools
from triage_cli.config import load_settings
from triage_cli.session.build import build_engine
from triage_cli.engine.conversation import Conversation
from triage_cli.engine.events import ToolCallsPlanned, TriageRecord
from triage_cli.session.journal import Journal
from triage_cli.session.turn import run_turn
from triage_cli.engine.offline import OfflineEngine
from triage_cli.engine.policy import is_acknowledgement
from triage_cli.store.database import DATABASE_NAME, MIGRATIONS, connect
from triage_cli.store.orders import OrderStore
from triage_cli.store.sessions import SessionStore
from triage_cli.store.tickets import TicketStore
from triage_cli.tools.orders import order_registry

LOST = TriageRecord(order_id="A1009", issue="lost parcel", status="lost", next_step="escalate",
                    summary="A1009 is lost.")


def test_a_later_escalation_in_the_same_conversation_updates_the_open_ticket(database):
    store = TicketStore(database)
    first = store.open_ticket(LOST, question="A1009 where is it?", reply="lost", conversation_id=7)
    later = replace(LOST, summary="Still lost; customer asks when.")
    again = store.open_ticket(later, question="ok and when will it come?", reply="still lost", conversation_id=7)

    assert again.id == first.id and first.updated_at is None and again.updated_at is not None
    assert again.summary == "Still lost; customer asks when." and again.reply == "still lost"
    assert again.question == "A1009 where is it?\n\nok and when will it come?"
    assert again.conversation_id == 7 and again.created_at == first.created_at
    # Another order, another conversation, no conversation, or a closed ticket: a new ticket.
    other = store.open_ticket(TriageRecord("A1002", "x", "delayed", "escalate", "s"), question="q", reply="r",
                              conversation_id=7)
    elsewhere = store.open_ticket(LOST, question="q", reply="r", conversation_id=8)
    unstored = store.open_ticket(LOST, question="q", reply="r")
    store.close(first.id)
    reopened = store.open_ticket(LOST, question="q", reply="r", conversation_id=7)
    assert len({first.id, other.id, elsewhere.id, unstored.id, reopened.id}) == 5
    assert len(store.list("open")) == 4


def test_escalations_at_once_in_one_conversation_still_share_one_ticket(database):
    code = OPEN_DATABASE + (
        "from triage_cli.engine.events import TriageRecord\n"
        "from triage_cli.store.tickets import TicketStore\n"
        "r = TriageRecord('A1009', 'lost parcel', 'lost', 'escalate', 's')\n"
        "for i in range(10): TicketStore(DB).open_ticket(r, question=f'q{i}', reply='r', conversation_id=3)\n"
    )
    run_at_once(code, database_argument(database), 3)
    [ticket] = TicketStore(database).list("all")
    assert ticket.question.split("\n\n") == [f"q{i}" for i in range(10)]  # each question once


def test_migration_3_adds_the_conversation_to_existing_tickets(tmp_path: Path):
    home = tmp_path
    with sqlite3.connect(home / DATABASE_NAME) as old:  # a database from before migration 3
        for migration in MIGRATIONS[:2]:
            for statement in migration:
                old.execute(statement)
        old.execute("PRAGMA user_version = 2")
        old.execute("INSERT INTO tickets (created_at, order_id, issue, order_status, summary, question, reply)"
                    " VALUES ('2026-01-01T00:00:00.000+00:00', 'A1009', 'lost', 'lost', 's', 'q', 'r')")
    old.close()
    db = connect(home)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) >= 3
    finally:
        db.close()
    [kept] = TicketStore(home).list("all")
    assert (kept.order_id, kept.conversation_id, kept.updated_at) == ("A1009", None, None)
    # An old ticket has no conversation: a new escalation never merges into it.
    assert TicketStore(home).open_ticket(LOST, question="q", reply="r", conversation_id=1).id != kept.id


@pytest.mark.parametrize("text", ["thanks", "ok", "ok thanks!", "great, cheers", "👍", "Thank you so much!", "k thx"])
def test_short_acknowledgements(text):
    assert is_acknowledgement(text)


@pytest.mark.parametrize("text", ["ok and when will it come?", "thanks?", "I want a refund thanks", "A1009",
                                  "Kind regards", "okey"])
def test_not_acknowledgements(text):
    assert not is_acknowledgement(text)


def test_the_offline_engine_follow_ups_share_one_ticket_and_thanks_gets_a_short_reply(tmp_path: Path):
    engine = OfflineEngine(order_registry(OrderStore.demo(tmp_path)), today=date.today())
    journal = Journal(SessionStore(tmp_path), source="ask", provider="offline", model="")
    conversation = Conversation()

    async def turn(message: str) -> list:
        return [e async for e in run_turn(engine, conversation, message, journal)]

    turns = [asyncio.run(turn(m)) for m in ("A1009 where is it?", "ok and when will it come?", "thanks")]
    records = [next(e for e in events if isinstance(e, TriageRecord)) for events in turns]

    [ticket] = TicketStore(tmp_path).list("all")
    assert [r.next_step for r in records] == ["escalate", "escalate", "answer"]
    assert records[0].ticket == records[1].ticket == ticket.id and records[2].ticket is None
    assert ticket.conversation_id == journal.conversation_id
    assert ticket.question == "A1009 where is it?\n\nok and when will it come?" and ticket.updated_at
    thanks = turns[2]
    assert not any(isinstance(e, ToolCallsPlanned) for e in thanks)  # no new lookup
    assert conversation.messages[-1]["content"] == "You're welcome — anything else about A1009?\n"
    assert (records[2].order_id, records[2].status) == ("A1009", "lost")


def test_the_model_path_files_one_ticket_for_two_escalations_about_one_order(server, model_env, tmp_path: Path):
    lookup = tools(("get_order_status", {"order_id": "A1009"}))
    for reply in ("A1009 was lost by Evri; a replacement needs approval.", "Still lost; I have passed it on."):
        server.add(lookup, answer(reply, order_id="A1009", issue="lost parcel", status="lost",
                                  next_step="escalate", summary=reply))
    config = tmp_path / "config.toml"
    config.write_text("")
    settings = load_settings(environ={**model_env, "TRIAGE_HOME": str(tmp_path / "home"),
                                      "TRIAGE_CONFIG": str(config)})
    engine = build_engine(settings)
    journal = Journal.for_settings(settings, "chat")
    conversation = Conversation()

    async def go():
        try:
            records = []
            for message in ("A1009 where is it?", "ok and when will it come?"):
                events = [e async for e in run_turn(engine, conversation, message, journal)]
                records.append(next(e for e in events if isinstance(e, TriageRecord)))
            return records
        finally:
            await engine.aclose()

    first, second = asyncio.run(go())
    [ticket] = TicketStore(settings.home).list("all")
    assert first.ticket == second.ticket == ticket.id
    assert ticket.summary == "Still lost; I have passed it on." and "passed it on" in ticket.reply


def test_the_issue_scenario_through_the_cli_leaves_one_open_ticket(run_triage, triage_env):
    asked = run_triage("ask", "--json", "A1009 where is it?")
    follow_up = run_triage("ask", "--json", "--resume", "last", "ok and when will it come?")
    thanks = run_triage("ask", "--resume", "last", "thanks")

    for result in (asked, follow_up, thanks):
        assert result.code == 0, result.err
    first, second = json.loads(asked.out)["triage"], json.loads(follow_up.out)["triage"]
    assert first["ticket"] is not None and second["ticket"] == first["ticket"]
    assert thanks.out.startswith("You're welcome — anything else about A1009?")
    assert "Next step: answer" in thanks.out and "Ticket" not in thanks.out
    tickets = TicketStore(Path(triage_env["TRIAGE_HOME"])).list("open")
    assert [t.id for t in tickets] == [first["ticket"]]
