"""The state database under TRIAGE_HOME: migrations, WAL, concurrent use, and the ticket store
(the store tests take the `database` fixture: they run on SQLite and on a real PostgreSQL)."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from helpers import run_at_once
from triage_cli.engine.events import TriageRecord
from triage_cli.errors import InvalidValue, NotFound, StoreError, UsageError
from triage_cli.store.database import DATABASE_NAME, MIGRATIONS, connect
from triage_cli.record_types import parse_ticket_id
from triage_cli.store.tickets import TicketStore

RECORD = TriageRecord(order_id="A9999", issue="order not found", status="not found", next_step="escalate",
                      summary="A9999 was not found.")


def test_a_new_database_is_migrated_to_the_latest_schema_in_wal_mode(tmp_path: Path):
    db = connect(tmp_path / "home")
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        assert {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")} >= {"tickets"}
    finally:
        db.close()


def test_an_older_database_keeps_its_data_and_gains_the_missing_tables(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    with sqlite3.connect(home / DATABASE_NAME) as old:  # version 0: something else already there
        old.execute("CREATE TABLE notes (text TEXT)")
        old.execute("INSERT INTO notes VALUES ('kept')")
    db = connect(home)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("SELECT text FROM notes").fetchone()[0] == "kept"
        db.execute("SELECT id, status FROM tickets").fetchall()
    finally:
        db.close()


def test_reconnecting_does_not_migrate_twice(database):
    TicketStore(database).open_ticket(RECORD, question="q", reply="r")
    TicketStore(database).open_ticket(RECORD, question="q", reply="r")
    assert [t.id for t in TicketStore(database).list("all")] == [2, 1]


def test_a_database_from_a_newer_triage_is_refused_in_one_line(tmp_path: Path):
    with sqlite3.connect(tmp_path / DATABASE_NAME) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    with pytest.raises(StoreError, match="newer triage"):
        connect(tmp_path)


def test_a_data_directory_that_is_a_file_is_a_store_error(tmp_path: Path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(StoreError, match="cannot open the data directory"):
        connect(blocked)


def test_processes_migrating_and_writing_at_once_all_succeed(tmp_path: Path):
    home = tmp_path / "shared"
    code = (
        "import sys; from pathlib import Path\n"
        "from triage_cli.engine.events import TriageRecord\n"
        "from triage_cli.store.tickets import TicketStore\n"
        "r = TriageRecord('A1', 'x', 'y', 'escalate', 's')\n"
        "for _ in range(20): TicketStore(Path(sys.argv[1])).open_ticket(r, question='q', reply='r')\n"
    )
    run_at_once(code, str(home), 4, timeout=60)
    assert len(TicketStore(home).list("all")) == 80


def test_tickets_open_list_get_and_close(database):
    store = TicketStore(database)
    first = store.open_ticket(RECORD, question="Where is A9999?", reply="No such order.")
    assert first.status == "open" and first.order_status == "not found" and first.created_at.endswith("+00:00")
    second = store.open_ticket(RECORD, question="again", reply="again")
    closed = store.close(first.id, "typo in the id")
    assert closed.status == "closed" and closed.note == "typo in the id" and closed.closed_at
    assert [t.id for t in store.list("open")] == [second.id]
    assert [t.id for t in store.list("closed")] == [first.id]
    assert [t.id for t in store.list("all", limit=1)] == [second.id]
    assert store.get(first.id).question == "Where is A9999?"


def test_unknown_ids_double_closes_and_bad_states_are_usage_errors(database):
    # Typed errors with plain messages: the CLI adds "(see: …)" and names --status (issue 14).
    store = TicketStore(database)
    with pytest.raises(NotFound, match="^no ticket 4$") as missing:
        store.get(4)
    assert missing.value.kind == "ticket" and isinstance(missing.value, UsageError)
    ticket = store.open_ticket(RECORD, question="q", reply="r")
    store.close(ticket.id)
    with pytest.raises(InvalidValue, match="already closed"):
        store.close(ticket.id)
    with pytest.raises(InvalidValue, match="^ticket status must be one of open, closed, all, got 'pending'$"):
        store.list("pending")


@pytest.mark.parametrize("text, expected", [("12", 12), ("#3", 3), (" 7 ", 7)])
def test_ticket_ids_are_numbers_with_an_optional_hash(text: str, expected: int):
    assert parse_ticket_id(text) == expected


@pytest.mark.parametrize("text", ["abc", "0", "-1", "1.5", "", "99999999999999999999999"])
def test_anything_else_is_not_a_ticket_id(text: str):
    with pytest.raises(UsageError):
        parse_ticket_id(text)


def test_text_is_stored_with_bound_parameters(database):
    nasty = "A1'; DROP TABLE tickets;--"
    store = TicketStore(database)
    record = TriageRecord(order_id=nasty, issue=nasty, status=nasty, next_step="escalate", summary=nasty)
    ticket = store.open_ticket(record, question=nasty, reply=nasty)
    assert store.get(ticket.id).order_id == nasty and len(store.list("all")) == 1


@pytest.fixture
def usual_umask():
    """The common umask (022), under which files are world-readable unless created otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_data_directory_and_every_file_in_it_are_the_users_alone(tmp_path: Path, usual_umask):
    from triage_cli.store.orders import OrderStore
    from triage_cli.ui.prompt_input import open_history

    home = tmp_path / "deep" / "home"
    TicketStore(home).open_ticket(RECORD, question="q", reply="r")
    db = connect(home)  # held open, so the WAL and shared-memory files exist to be checked
    try:
        db.execute("UPDATE tickets SET note = 'n'")
        OrderStore.demo(home).lookup("A1002")
        open_history(home).store_string("Where is A1002?")
        assert mode(home) == 0o700
        names = {p.name for p in home.iterdir()}
        assert {DATABASE_NAME, f"{DATABASE_NAME}-wal", f"{DATABASE_NAME}-shm", "orders.sqlite",
                "chat_history"} <= names
        assert {name: mode(home / name) for name in names} == dict.fromkeys(names, 0o600)
    finally:
        db.close()


def test_a_directory_the_user_made_keeps_its_mode_and_is_reported_when_open(tmp_path: Path, usual_umask):
    from triage_cli.store.database import exposed_home

    home = tmp_path / "mine"
    home.mkdir(mode=0o755)
    connect(home).close()
    assert mode(home) == 0o755  # not ours to change
    assert mode(home / DATABASE_NAME) == 0o600
    warning = exposed_home(home)
    assert warning is not None and "mode 755" in warning and "chmod 700" in warning
    home.chmod(0o700)
    assert exposed_home(home) is None
    assert exposed_home(tmp_path / "not there yet") is None
