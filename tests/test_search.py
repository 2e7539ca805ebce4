"""Finding a conversation by what was said (issue 27): the store's full-text index on both
backends (SQLite FTS5, PostgreSQL text search), kept current as turns and ticket notes are written
and filled by its migration for a database from before; `triage history search` through the real
CLI, on this machine's store and a team server's (`GET /v1/conversations?q=`); chat's /search."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from triage_cli.engine.events import TriageRecord
from triage_cli.errors import InvalidValue
from triage_cli.store.database import DATABASE_NAME, MIGRATIONS, connect
from triage_cli.store.search import search
from triage_cli.store.sessions import SessionStore
from triage_cli.store.tickets import TicketStore

from helpers import OFFLINE_END, PROMPT, plain
from serve_helpers import TEAM_TOKEN

LOST = TriageRecord("A1009", "lost parcel", "lost", "escalate", "lost in transit")


def said(store: SessionStore, question: str, reply: str, conversation_id: int | None = None) -> int:
    """One finished turn; its conversation's id."""
    turn = store.begin_turn(conversation_id, source="ask", provider="offline", model="",
                            question={"role": "user", "content": question})
    store.finish_turn(turn, complete=True, messages=[{"role": "assistant", "content": reply}], partial=reply,
                      tool_calls=(), record=None, usage=None, error=None, order_ids=())
    return turn.conversation_id


def where(hits) -> list[tuple]:
    return [(hit.conversation_id, hit.turn, hit.ticket_id, hit.kind) for hit in hits]


def test_questions_replies_and_notes_are_found_by_every_word_in_any_form_best_first(database):
    store = SessionStore(database)
    refund = said(store, "I was promised a refund for A1002", "A colleague will look at the refund.")
    said(store, "Where is A1003?", "It was delivered yesterday and signed for.")
    again = said(store, "refund refund refund, where is my refund", "Noted.")
    ticket = TicketStore(database).open_ticket(LOST, question="q", reply="r", conversation_id=refund)
    TicketStore(database).close(ticket.id, "Refunded in full after the carrier's claim", agent="ana")

    hits = search(database, "refunds", 10)
    assert where(hits)[0] == (again, 1, None, "question")  # three times the word: the best match
    assert set(where(hits)) == {(again, 1, None, "question"), (refund, 1, None, "question"),
                                (refund, 1, None, "reply"), (refund, None, ticket.id, "note")}
    note = next(hit for hit in hits if hit.kind == "note")
    assert note.matched == ["Refunded"] and "carrier's claim" in note.context  # the context, the word marked
    assert where(search(database, "carrier A1009", 10)) == [(refund, None, ticket.id, "note")]  # the ticket's order
    assert where(search(database, "refund A1002", 10)) == [(refund, 1, None, "question")]  # every word
    assert search(database, "signed delivered", 10)[0].kind == "reply"
    assert search(database, "chargeback", 10) == []


def test_the_context_is_the_text_as_stored_and_common_words_are_said_on_postgresql(database):
    store = SessionStore(database)
    said(store, "my <b>kettle</b> & <lid> came cracked", "Noted: <i>cracked</i> kettle.")
    said(store, "is it the right one?", "Yes.")
    [hit] = [h for h in search(database, "kettle", 10) if h.kind == "question"]
    assert hit.context == "my <b>kettle</b> & <lid> came cracked" and hit.matched == ["kettle"]
    if type(database).__name__ == "PostgresDatabase":
        with pytest.raises(InvalidValue, match="leaves out common words"):
            search(database, "the it", 10)
    else:
        assert [h.context for h in search(database, "the it", 10)] == ["is it the right one?"]  # SQLite: every word


def test_what_is_found_is_what_a_screen_shows_never_a_hidden_escape(database):
    store = SessionStore(database)
    said(store, "Refund approved \x1b[31mRED\x1b]52;c;aGVsbG8=\x07 thanks", "ok")
    assert [h.context for h in search(database, "red", 10)] == ["Refund approved RED thanks"]
    assert search(database, "aGVsbG8", 10) == []  # the clipboard payload is not text anyone saw


def test_a_deleted_conversation_leaves_the_index_and_its_tickets_notes_stay(database):
    store = SessionStore(database)
    gone = said(store, "the parcel was stolen from my porch", "I have opened a ticket.")
    ticket = TicketStore(database).open_ticket(LOST, question="q", reply="r", conversation_id=gone)
    TicketStore(database).close(ticket.id, "stolen parcel, police report attached")

    store.delete(gone)

    assert where(search(database, "stolen", 10)) == [(gone, None, ticket.id, "note")]  # the ticket's conversation
    if type(database).__name__ == "SqliteDatabase":  # the FTS index itself, not just what joins to a row
        with database.opened("test") as db:
            assert db.execute("SELECT count(*) FROM search_index WHERE search_index MATCH 'stolen'").fetchone()[0] == 1
            db.execute("INSERT INTO search_index (search_index) VALUES ('integrity-check')")


# What a database from before the search migration held: a question, its reply, a ticket's note.
HELD_BEFORE = (
    "INSERT INTO conversations (created_at, updated_at, source, provider, title)"
    " VALUES ('2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00', 'ask', 'offline', 't')",
    "INSERT INTO turns (conversation_id, number, started_at, state, provider, question, partial)"
    " VALUES (1, 1, '2026-01-01T00:00:00+00:00', 'complete', 'offline', 'my kettle arrived cracked',"
    " 'Sorry about the damaged kettle')",
    "INSERT INTO ticket_events (ticket_id, at, action, note)"
    " VALUES (4, '2026-01-02T00:00:00+00:00', 'closed', 'sent a replacement kettle')",
)


def test_the_migration_indexes_what_a_database_held_before_it(tmp_path: Path):
    search_migration = next(n for n, m in enumerate(MIGRATIONS) if m.name == "search")
    with sqlite3.connect(tmp_path / DATABASE_NAME) as old:
        for migration in MIGRATIONS[:search_migration]:
            for statement in migration:
                old.execute(statement)
        old.execute(f"PRAGMA user_version = {search_migration}")
        for statement in HELD_BEFORE:
            old.execute(statement)
    old.close()
    connect(tmp_path).close()  # migrates

    assert sorted(where(search(SessionStore(tmp_path).database, "kettle", 10)), key=str) == [
        (1, 1, None, "question"), (1, 1, None, "reply"), (None, None, 4, "note")]
    assert search(SessionStore(tmp_path).database, "damage", 10)[0].matched == ["damaged"]


def test_history_search_through_the_cli_piped_json_and_refused_without_words(run_triage):
    run_triage("ask", "--order", "A1002", "I want my money back for the shoes")
    run_triage("ask", "Where is A1003? The headphones")

    piped = run_triage("history", "search", "money", "back")
    assert piped.code == 0, piped.err
    header, *rows = piped.out.splitlines()
    assert header.split("\t") == ["conversation", "turn", "ticket", "said in", "at", "matched", "context"]
    assert [row.split("\t")[:4] + row.split("\t")[5:] for row in rows] == [
        ["1", "1", "", "question", "money back", "I want my money back for the shoes (order A1002)"]]
    by_order = json.loads(run_triage("history", "search", "money", "A1002", "--json").out)  # the order named beside
    assert [(h["kind"], h["matched"]) for h in by_order] == [("question", ["money", "A1002"])]

    found = json.loads(run_triage("history", "search", "headphones", "--json").out)
    assert {(h["conversation_id"], h["kind"]) for h in found} == {(2, "question"), (2, "reply")}
    assert all(h["matched"] == ["headphones"] for h in found)

    refused = run_triage("history", "search", "?!")
    assert refused.code == 2 and refused.out == "" and refused.err.startswith("error: search for words")


def test_history_search_on_a_team_server_is_the_same_search(run_triage, team, team_model):
    from scripted_server import answer

    team_model.add(answer("Your lamp is on its way.", order_id="A1004", issue="where", status="shipped",
                          next_step="answer", summary="shipped"))
    env = {"TRIAGE_SERVER_URL": team.url, "TRIAGE_SERVER_TOKEN": TEAM_TOKEN}
    asked = run_triage("ask", "--json", "is my tangerine desk lamp coming", env=env)
    assert asked.code == 0, asked.err

    found = json.loads(run_triage("history", "search", "tangerine", "--json", env=env).out)
    assert [(h["kind"], h["matched"]) for h in found] == [("question", ["tangerine"])]
    latest = json.loads(run_triage("history", "--json", "--limit", "1", env=env).out)[0]
    assert found[0]["conversation_id"] == latest["id"]
    assert run_triage("history", "search", "tangerine", "--json").out.strip() == "[]"  # nothing stored here


def test_the_api_answers_q_with_hits_and_their_conversations(team, team_model):
    import httpx2 as httpx

    team_model.add(answer_about("A1005"))
    headers = {"Authorization": f"Bearer {TEAM_TOKEN}"}
    turn = httpx.post(f"{team.url}/v1/chat", json={"message": "my aubergine yoga mat?"}, headers=headers, timeout=30)
    assert turn.status_code == 200, turn.text

    found = httpx.get(f"{team.url}/v1/conversations", params={"q": "aubergine"}, headers=headers, timeout=30).json()
    assert [h["context"] for h in found["hits"]] == ["my aubergine yoga mat?"]
    assert [c["id"] for c in found["conversations"]] == [turn.json()["conversation_id"]]
    bad = httpx.get(f"{team.url}/v1/conversations", params={"q": "..."}, headers=headers, timeout=30)
    assert bad.status_code == 400 and "search for words" in bad.json()["error"]["message"]


def answer_about(order: str):
    from scripted_server import answer

    return answer("It is at the depot.", order_id=order, issue="where", status="in transit", next_step="answer",
                  summary="in transit")


def test_chat_search_shows_the_hits_with_where_they_were_said(spawn_chat):
    child = spawn_chat()
    child.sendline("A1009 my smartwatch never arrived")
    child.expect(OFFLINE_END)
    child.expect(PROMPT)
    child.sendline("/search smartwatch")
    child.expect("question")
    child.expect(PROMPT)
    shown = plain(child.before)
    assert "my smartwatch never arrived" in shown and "/resume" in shown
    child.sendline("/search")
    child.expect("say what to find")


def test_the_migration_indexes_what_a_postgresql_database_held_before_it(postgres_url):
    import psycopg

    from triage_cli.store.dialect import postgres_statement
    from triage_cli.store.postgres import PostgresDatabase

    search_migration = next(n for n, m in enumerate(MIGRATIONS) if m.name == "search")
    with psycopg.connect(postgres_url, autocommit=True) as old:
        old.execute("CREATE TABLE triage_schema (version INTEGER NOT NULL)")
        for migration in MIGRATIONS[:search_migration]:
            for statement in migration.for_postgres():
                old.execute(postgres_statement(statement))
        old.execute("INSERT INTO triage_schema (version) VALUES (%s)", (search_migration,))
        for statement in HELD_BEFORE:
            old.execute(statement)
    database = PostgresDatabase(postgres_url)
    try:
        assert sorted(where(search(database, "kettles", 10)), key=str) == [
            (1, 1, None, "question"), (1, 1, None, "reply"), (None, None, 4, "note")]
    finally:
        database.close()
