"""`triage agents` (issue 24): each agent's token is printed once, as the last line, and only its
hash is kept; `tickets show` says who did what to a ticket and when."""

from __future__ import annotations

import json
from pathlib import Path

from serve_helpers import environment, server_in_thread
from triage_cli.engine.events import TriageRecord
from triage_cli.redaction import new_agent_token
from triage_cli.store.agents import AgentStore
from triage_cli.store.tickets import TicketStore


def test_an_agents_token_is_printed_once_as_the_last_line_and_only_its_hash_is_stored(run_triage, triage_env):
    added = run_triage("agents", "add", "ana", "--lead")
    assert added.code == 0, added.err
    token = added.out.splitlines()[-1]
    assert token.startswith("trg_") and len(token) == 47
    home = Path(triage_env["TRIAGE_HOME"])
    store = AgentStore(home)
    assert store.by_token(token).name == "ana" and store.by_token(token).lead
    stored = b"".join(path.read_bytes() for path in home.glob("triage.sqlite*"))
    assert token.encode() not in stored and token[4:].encode() not in stored

    listed = run_triage("agents", "list", "--json")
    assert [a["name"] for a in json.loads(listed.out)] == ["ana"] and token not in listed.out
    assert token not in run_triage("agents", "list").out

    rotated = run_triage("agents", "rotate", "ANA")
    new = rotated.out.splitlines()[-1]
    assert rotated.code == 0 and new != token
    assert store.by_token(token) is None and store.by_token(new).name == "ana"
    assert run_triage("agents", "remove", "ana").code == 0
    assert store.by_token(new) is None


def test_agent_mistakes_are_one_line_and_exit_2(run_triage):
    assert run_triage("agents", "add", "ana").code == 0
    key = "sk-live-zzzzzzzz12345678"
    for args in (("agents", "add", "Ana"), ("agents", "add", "\x1b[31mred"), ("agents", "add", " "),
                 ("agents", "remove", "bob"), ("agents", "rotate", "bob"), ("agents", "add", key),
                 ("agents", "add", new_agent_token())):
        result = run_triage(*args, env={"OPENAI_API_KEY": key})
        assert result.code == 2 and len(result.err.splitlines()) == 1, (args, result.err)
        assert "\x1b" not in result.err and "Traceback" not in result.err and key not in result.err


def test_tickets_show_says_who_did_what_and_when(run_triage, triage_env):
    home = Path(triage_env["TRIAGE_HOME"])
    tickets = TicketStore(home)
    record = TriageRecord(order_id="A1002", issue="late", status="delayed", next_step="escalate", summary="late")
    ticket = tickets.open_ticket(record, question="Where is it?", reply="Sorry.").id
    tickets.claim("ana", ticket)
    tickets.close(ticket, "refunded", agent="lea", force=True)
    shown = run_triage("tickets", "show", str(ticket))
    history = shown.out.split("History:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split("  ", 1)[1] for line in history] == [
        "opened by triage", "claimed by ana", "closed by lea (forced): refunded"]
    as_json = json.loads(run_triage("tickets", "show", str(ticket), "--json").out)
    assert [e["action"] for e in as_json["events"]] == ["opened", "claimed", "closed"]


def test_a_terminal_with_an_agent_token_acts_as_that_agent_through_the_server(run_triage, tmp_path):
    home = tmp_path / "server-home"
    _, ana = AgentStore(home).add("ana")
    record = TriageRecord(order_id="A1002", issue="late", status="delayed", next_step="escalate", summary="late")
    ticket = TicketStore(home).open_ticket(record, question="Where is it?", reply="Sorry.").id
    with server_in_thread(environment(home, tmp_path / "server.toml", None)) as url:
        terminal = {"TRIAGE_SERVER_URL": url, "TRIAGE_AGENT_TOKEN": ana, "TRIAGE_AGENT_NAME": "bob"}
        claimed = run_triage("tickets", "claim", str(ticket), env=terminal)
        assert claimed.code == 0 and "for ana" in claimed.out, claimed.err
        forced = run_triage("tickets", "close", str(ticket), "--force", env=terminal)
        assert forced.code != 0 and "only a lead" in forced.err and len(forced.err.splitlines()) == 1
        shown = run_triage("tickets", "show", str(ticket), env=terminal)
        assert "claimed by ana" in shown.out
        nobody = run_triage("tickets", env={"TRIAGE_SERVER_URL": url})
        assert nobody.code != 0 and "(401)" in nobody.err
    assert TicketStore(home).get(ticket).assignee == "ana"
