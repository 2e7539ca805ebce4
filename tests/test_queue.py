"""The ticket queue (issue 19): claiming, releasing and closing by the holder, on SQLite and on a
real PostgreSQL (the `database` fixture), with several processes claiming at once; the CLI's
`tickets claim / release / close`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers import OPEN_DATABASE, database_argument, run_at_once
from pty_capture import run_in_pty, terminal_lines
from triage_cli.engine.events import TriageRecord
from triage_cli.errors import InvalidValue, NotFound
from triage_cli.store.tickets import QueueEmpty, TicketStore

LATE = TriageRecord(order_id="A1002", issue="late", status="delayed", next_step="escalate", summary="A1002 is late.")


def file_tickets(store: TicketStore, count: int) -> list[int]:
    return [store.open_ticket(LATE, question=f"q{i}", reply="r").id for i in range(count)]


def test_claim_takes_the_oldest_free_ticket_and_only_its_holder_releases_or_closes_it(database):
    store = TicketStore(database)
    first, second, third = file_tickets(store, 3)

    ann = store.claim("ann")
    assert (ann.id, ann.assignee) == (first, "ann") and ann.claimed_at and ann.claimed_at.endswith("+00:00")
    assert store.claim("bob").id == second
    assert store.claim("ann", first) == ann  # already hers: unchanged
    with pytest.raises(InvalidValue, match=f"^ticket {first} is held by ann \\(since "):
        store.claim("bob", first)
    with pytest.raises(InvalidValue, match="held by ann .*only they can release it"):
        store.release(first, "bob")
    with pytest.raises(InvalidValue, match="held by bob .*only they can close it"):
        store.close(second, "done", agent="ann")
    assert [t.id for t in store.list("open", assignee="ann")] == [first]

    forced = store.close(second, "done", agent="ann", force=True)
    assert (forced.status, forced.assignee, forced.note) == ("closed", "bob", "done")
    released = store.release(first, "ann")
    assert (released.assignee, released.claimed_at) == (None, None)
    with pytest.raises(InvalidValue, match=f"^ticket {first} is not claimed by anyone$"):
        store.release(first, "ann")
    unheld = store.close(third, None, agent="cy")  # nobody held it: closed, and by whom is kept
    assert (unheld.status, unheld.assignee) == ("closed", "cy")
    with pytest.raises(InvalidValue, match="is closed"):
        store.claim("ann", third)

    assert store.claim("bob").id == first  # released: back in the queue
    with pytest.raises(QueueEmpty, match="no open ticket is free to claim"):
        store.claim("cy")
    with pytest.raises(NotFound, match="^no ticket 99$"):
        store.claim("cy", 99)
    reopened = store.reopen(second)
    assert (reopened.status, reopened.assignee) == ("open", None)
    assert store.claim("cy").id == second
    assert [t.id for t in store.list("all", assignee="bob")] == [first]


CLAIMER = OPEN_DATABASE + """
import os
from triage_cli.errors import QueueEmpty
from triage_cli.store.tickets import TicketStore
store = TicketStore(DB)
agent = f"agent-{os.getpid()}"
while True:
    try:
        print(store.claim(agent).id, flush=True)
    except QueueEmpty:
        break
"""


def test_eight_processes_claiming_until_the_queue_is_empty_claim_every_ticket_exactly_once(database):
    store = TicketStore(database)
    filed = file_tickets(store, 160)

    outputs = run_at_once(CLAIMER, database_argument(database), 8)

    claims = [int(line) for out in outputs for line in out.split()]
    assert sorted(claims) == sorted(filed)  # each ticket once: none twice, none lost
    holders = {t.id: t.assignee for t in store.list("open")}
    for out in outputs:
        agents = {holders[int(line)] for line in out.split()}
        assert len(agents) <= 1  # each ticket is held by the process that said it claimed it


def tickets_env(triage_env: dict[str, str], agent: str, **extra: str) -> dict[str, str]:
    return {**triage_env, "TRIAGE_AGENT_NAME": agent, **extra}


def test_the_cli_claims_releases_and_closes_with_one_line_for_each_mistake(run_triage, triage_env):
    store = TicketStore(Path(triage_env["TRIAGE_HOME"]))
    first, second = file_tickets(store, 2)
    ann, bob = tickets_env(triage_env, "ann"), tickets_env(triage_env, "bob")

    claimed = run_triage("tickets", "claim", env=ann)
    assert claimed.code == 0 and claimed.out == f"Claimed ticket #{first} (A1002) for ann: A1002 is late.\n"
    for args, message in [
        (("tickets", "claim", str(first)), f"ticket {first} is held by ann"),
        (("tickets", "close", str(first)), f"ticket {first} is held by ann"),
        (("tickets", "release", str(first)), "only they can release it"),
        (("tickets", "claim", "99"), "no ticket 99"),
        (("tickets", "release", str(second)), f"ticket {second} is not claimed by anyone"),
    ]:
        refused = run_triage(*args, env=bob)
        assert refused.code == 2 and refused.out == "", args
        assert len(refused.err.splitlines()) == 1 and message in refused.err and "Traceback" not in refused.err, args

    forced = run_triage("tickets", "close", str(first), "--force", "--note", "refunded", env=bob)
    assert forced.code == 0 and forced.out == f"Closed ticket #{first} (A1002).\n"
    assert run_triage("tickets", "claim", env=bob).out.startswith(f"Claimed ticket #{second} ")
    empty = run_triage("tickets", "claim", env=ann)
    assert empty.code == 1 and empty.err.count("\n") == 1 and "no open ticket is free to claim" in empty.err
    released = run_triage("tickets", "release", str(second), env=bob)
    assert released.code == 0 and released.out == f"Released ticket #{second} (A1002): back in the queue.\n"
    listed = json.loads(run_triage("tickets", "list", "--status", "all", "--assignee", "ann", "--json", env=bob).out)
    assert [(t["id"], t["assignee"], t["note"]) for t in listed] == [(first, "ann", "refunded")]


def test_the_cli_works_the_queue_and_the_history_in_postgresql(run_triage, triage_env, postgres_url):
    env = tickets_env(triage_env, "ann", TRIAGE_DATABASE_URL=postgres_url)
    asked = run_triage("ask", "A1009 is lost, I want a refund", env=env)
    assert asked.code == 0 and "not saved" not in asked.err + asked.out

    claimed = run_triage("tickets", "claim", env=env)
    assert claimed.code == 0 and claimed.out.startswith("Claimed ticket #1 (A1009) for ann")
    history = run_triage("history", "--json", env=env)
    [conversation] = json.loads(history.out)
    assert conversation["first_question"] == "A1009 is lost, I want a refund"
    assert not (Path(triage_env["TRIAGE_HOME"]) / "triage.sqlite").exists()  # all of it went to PostgreSQL

    wrong = run_triage("tickets", env={**env, "TRIAGE_DATABASE_URL": "mysql://db/triage"})
    assert wrong.code == 2 and wrong.err.count("\n") == 1 and "must be a postgresql:// URL" in wrong.err


def test_the_sqlite_default_never_loads_psycopg(run_triage):
    shown = run_triage("tickets", "claim", env={"PYTHONPROFILEIMPORTTIME": "1"}, process=True)
    assert shown.code == 1 and "no open ticket is free to claim" in shown.err
    assert not re.search(r"\|\s+psycopg", shown.err)  # the import log: psycopg is for database_url only


def test_the_tickets_table_shows_who_holds_a_ticket_once_someone_does(triage_env):
    store = TicketStore(Path(triage_env["TRIAGE_HOME"]))
    file_tickets(store, 2)
    store.claim("ann")
    _, _, output = run_in_pty(["tickets"], {**triage_env, "NO_COLOR": "1"}, 24, 100)
    screen = "\n".join(terminal_lines(output, 24, 100))
    header = next(line for line in screen.splitlines() if "Holder" in line)
    assert [cell.strip() for cell in header.strip("┃ ").split("┃")][:5] == ["Id", "Created", "Status", "Order", "Holder"]
    assert "ann" in screen


def test_triage_serve_keeps_its_turns_and_queue_in_postgresql(postgres_url, tmp_path):
    # The team's server on PostgreSQL: a turn streamed over HTTP is stored there, its ticket is
    # claimed over HTTP, and a terminal reading the same database sees both.
    import httpx2 as httpx

    from serve_helpers import environment, server_in_thread
    from triage_cli.store.postgres import PostgresDatabase
    from triage_cli.store.sessions import SessionStore

    env = environment(tmp_path / "home", tmp_path / "config.toml", None, TRIAGE_DATABASE_URL=postgres_url)
    with server_in_thread(env) as url, httpx.Client(base_url=url, timeout=60) as http:
        with http.stream("POST", "/v1/chat/stream", json={"message": "Where is my order?", "order": "A9999"}) as answer:
            events = [json.loads(line[6:]) for line in answer.iter_lines() if line.startswith("data: ")]
        ticket = next(e["ticket"] for e in events if "next_step" in e)
        claimed = http.post("/v1/tickets/claim", json={"agent": "ana"}).json()
        assert claimed["id"] == ticket and claimed["assignee"] == "ana"
    assert not (tmp_path / "home" / "triage.sqlite").exists()  # nothing went to SQLite
    database = PostgresDatabase(postgres_url)
    try:
        [conversation] = SessionStore(database).list(limit=5)
        assert [t.state for t in SessionStore(database).get(conversation.id).turns] == ["complete"]
        assert TicketStore(database).get(ticket).assignee == "ana"
    finally:
        database.close()


def test_claiming_from_an_empty_queue_is_exit_1_here_and_through_a_server(run_triage, triage_env, tmp_path):
    from serve_helpers import environment, server_in_thread

    here = run_triage("tickets", "claim", env=tickets_env(triage_env, "ann"))
    assert (here.code, here.out, here.err) == (1, "", "error: no open ticket is free to claim\n")

    with server_in_thread(environment(tmp_path / "server-home", tmp_path / "config.toml", "http://127.0.0.1:9/v1")) as url:
        remote = run_triage("tickets", "claim", "--server", url, env=tickets_env(triage_env, "ann"))
    assert remote.code == 1 and remote.out == "" and remote.err.count("\n") == 1
    assert "no open ticket is free to claim" in remote.err and url in remote.err


def test_tickets_export_writes_every_ticket_as_csv_or_json_and_defuses_spreadsheet_formulas(run_triage, triage_env):
    import csv
    import io

    assert run_triage("ask", "--order", "A9999", '=HYPERLINK("http://evil.test") where is it').code == 0
    assert run_triage("ask", "A1009 is lost, I want a refund").code == 0
    assert run_triage("tickets", "close", "1", "--note", "@sum(1) checked").code == 0

    exported = run_triage("tickets", "export")  # csv, every status
    assert exported.code == 0, exported.err
    rows = list(csv.DictReader(io.StringIO(exported.out)))
    assert [(r["id"], r["status"], r["order_id"]) for r in rows] == [("2", "open", "A1009"), ("1", "closed", "A9999")]
    assert rows[1]["question"] == '\'=HYPERLINK("http://evil.test") where is it'  # not a formula in a spreadsheet
    assert rows[1]["note"] == "'@sum(1) checked" and rows[0]["closed_at"] == ""
    as_json = json.loads(run_triage("tickets", "export", "--format", "json", "--status", "closed").out)
    assert [t["id"] for t in as_json] == [1] and as_json[0]["question"].startswith("=HYPERLINK")
    assert as_json == json.loads(run_triage("tickets", "--json", "--status", "closed").out)
    wrong = run_triage("tickets", "export", "--format", "xml")
    assert wrong.code == 2 and wrong.err == "error: --format must be csv or json, got 'xml'\n"
