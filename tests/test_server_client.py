"""The terminal as a client of a team's `triage serve` (issue 19, part 3): `ask`, `chat`,
`history` and `tickets` with --server (or TRIAGE_SERVER_URL) answer and read through the server's
API, with the same output as a local run; this machine has no model key and stores nothing. A
real `triage serve` process answers with the real openai SDK against the scripted model."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pexpect
import pytest

from helpers import plain, turn
from scripted_server import ScriptedServer, answer, tools
from serve_helpers import TEAM_TOKEN as TOKEN
from serve_helpers import ServeProcess, environment, eventually, start_serve

WAIT = 30  # generous bound for anything this test waits on


def client(server: ServeProcess, token: str = TOKEN) -> dict[str, str]:
    return {"TRIAGE_SERVER_URL": server.url, "TRIAGE_SERVER_TOKEN": token}


def escalation(model: ScriptedServer, order: str = "A1002") -> None:
    """One lookup, then an answer that escalates (so the server files a ticket)."""
    model.add(tools(("get_order_status", {"order_id": order})),
              answer("Your parcel is **delayed** by weather; I have asked a colleague to check.", order_id=order,
                     issue="delayed_delivery", status="delayed", next_step="escalate", summary="late parcel"))


def test_ask_with_a_server_gives_the_same_events_json_and_text_and_stores_nothing_here(
        run_triage, team, team_model, triage_env):
    escalation(team_model)
    events = run_triage("ask", "--events", "--order", "A1002", "Where is my parcel?", env=client(team))
    assert events.code == 0, events.err
    kinds = [json.loads(line)["type"] for line in events.out.splitlines()]
    assert kinds[:3] == ["tool_calls", "tool_executing", "tool_result"]
    assert kinds.index("content") > kinds.index("tool_result")
    assert kinds[-3:] == ["triage", "usage", "done"]
    lines = [json.loads(line) for line in events.out.splitlines()]
    assert lines[0]["tools"][0]["name"] == "get_order_status"
    assert lines[0]["tools"][0]["arguments"] == {"order_id": "A1002"}
    assert "".join(e["content"] for e in lines if e["type"] == "content") == lines[-1]["content"]
    assert lines[2]["ok"] is True  # the field the server sends reaches the terminal (it used to default)

    escalation(team_model)
    report = run_triage("ask", "--json", "--order", "A1002", "Where is my parcel?", env=client(team))
    assert report.code == 0, report.err
    data = json.loads(report.out)
    assert (data["provider"], data["error"], data["finish_reason"]) == ("openai", None, "stop")
    assert data["triage"]["next_step"] == "escalate" and isinstance(data["triage"]["ticket"], int)
    assert [(c["name"], c["arguments"]) for c in data["tool_calls"]] == [("get_order_status", {"order_id": "A1002"})]
    assert data["usage"]["model_calls"] == 2 and data["reply"].startswith("Your parcel is **delayed**")

    escalation(team_model)
    text = run_triage("ask", "--plain", "--order", "A1002", "Where is my parcel?", env=client(team))
    assert text.code == 0, text.err
    assert text.out.startswith("Your parcel is **delayed** by weather")
    assert "Next step: escalate" in text.out and "Ticket: #" in text.out

    # No model key here, and nothing stored here: the server keeps the turns and the tickets.
    assert not any(k.endswith("_API_KEY") for k in triage_env)
    assert not (Path(triage_env["TRIAGE_HOME"]) / "triage.sqlite").exists()


def test_history_and_tickets_read_and_close_on_the_server(run_triage, team, team_model):
    escalation(team_model, "A1003")
    asked = run_triage("ask", "--json", "--order", "A1003", "My order A1003 is late", env=client(team))
    ticket = json.loads(asked.out)["triage"]["ticket"]

    listed = run_triage("tickets", "--json", env=client(team))
    assert ticket in [t["id"] for t in json.loads(listed.out)]
    shown = run_triage("tickets", "show", str(ticket), "--json", env=client(team))
    assert json.loads(shown.out)["question"].endswith("My order A1003 is late")
    history = run_triage("history", "--json", "--limit", "1", env=client(team))
    latest = json.loads(history.out)[0]
    assert latest["order_ids"] == ["A1003"] and latest["source"] == "serve"
    transcript = run_triage("history", "show", str(latest["id"]), env=client(team))
    assert "My order A1003 is late" in transcript.out and f"Ticket: #{ticket} (open)" in transcript.out

    # A follow-up continues the server's conversation: the model sees the earlier turn.
    team_model.add(answer("It should arrive on Friday.", order_id="A1003", issue="delayed_delivery",
                          status="delayed", summary="eta asked"))
    follow = run_triage("ask", "--json", "--resume", str(latest["id"]), "And when will it arrive?", env=client(team))
    assert json.loads(follow.out)["reply"].startswith("It should arrive on Friday."), follow.err
    assert "My order A1003 is late" in json.dumps(team_model.requests[-1]["messages"])
    again = json.loads(run_triage("history", "--json", "--limit", "1", env=client(team)).out)[0]
    assert (again["id"], [t["state"] for t in again["turns"]]) == (latest["id"], ["complete", "complete"])

    # The queue, as two agents on two machines: claims and releases go to the server.
    ana, ben = {**client(team), "TRIAGE_AGENT_NAME": "ana"}, {**client(team), "TRIAGE_AGENT_NAME": "ben"}
    claimed = run_triage("tickets", "claim", str(ticket), env=ana)
    assert claimed.code == 0 and claimed.out.startswith(f"Claimed ticket #{ticket} (A1003) for ana"), claimed.err
    taken = run_triage("tickets", "claim", str(ticket), env=ben)
    assert taken.code == 2 and "held by ana" in taken.err and taken.err.count("\n") == 1  # as without a server
    assert run_triage("tickets", "close", "999999", env=ben).code == 2
    held = json.loads(run_triage("tickets", "list", "--json", "--assignee", "ana", env=ben).out)
    assert [t["id"] for t in held] == [ticket]
    assert run_triage("tickets", "release", str(ticket), env=ana).code == 0
    assert run_triage("tickets", "claim", str(ticket), env=ben).out.startswith(f"Claimed ticket #{ticket}")
    refused = run_triage("tickets", "close", str(ticket), env=ana)
    assert refused.code != 0 and "held by ben" in refused.err

    closed = run_triage("tickets", "close", str(ticket), "--note", "refunded", env=ben)
    assert (closed.code, closed.out.strip()) == (0, f"Closed ticket #{ticket} (A1003).")
    after = run_triage("tickets", "show", str(ticket), "--json", "--server", team.url,
                       env={"TRIAGE_SERVER_TOKEN": TOKEN})
    assert (json.loads(after.out)["status"], json.loads(after.out)["note"]) == ("closed", "refunded")


def test_commands_on_this_machines_store_are_refused_while_a_server_is_set(run_triage, team):
    # They would quietly export or change local data while `history` and `tickets` show the server's.
    for args in (["history", "export", "1"], ["history", "delete", "1"], ["history", "prune", "--older-than", "1d"],
                 ["tickets", "reopen", "1"]):
        result = run_triage(*args, env=client(team))
        assert result.code == 2 and result.err.count("\n") == 1, (args, result.err)
        assert "works on this machine's store, and a server is set" in result.err


def one_error_line(result, phrase: str) -> None:
    assert result.code == 1 and result.out == ""
    assert result.err.count("\n") == 1 and result.err.startswith("error: ") and phrase in result.err, result.err


def test_an_unreachable_server_and_a_wrong_token_are_one_line_each(run_triage, team):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    one_error_line(run_triage("ask", "--server", closed, "Where is A1002?"), f"cannot reach the triage server at {closed}")
    one_error_line(run_triage("history", "--server", closed), "cannot reach the triage server")
    wrong = client(team, token="not-the-token-at-all")
    one_error_line(run_triage("ask", "Where is A1002?", env=wrong), "refused the token (TRIAGE_AGENT_TOKEN or agent_token, else TRIAGE_SERVER_TOKEN) (401)")
    one_error_line(run_triage("tickets", env=wrong), "(401)")
    bad = run_triage("ask", "--server", "team-box", "hi")
    assert bad.code == 2 and "the server URL must look like http://host:port" in bad.err
    mixed = run_triage("ask", "--server", team.url, "--provider", "groq", "hi")
    assert mixed.code == 2 and "leave out --provider" in mixed.err


def _ask_process(env: dict[str, str], question: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "triage_cli", "ask", "--plain", question], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _read_until(proc: subprocess.Popen[bytes], text: str) -> str:
    """stdout until `text` shows (the answer has started streaming)."""
    assert proc.stdout is not None
    seen, deadline = b"", time.monotonic() + WAIT
    while text.encode() not in seen:
        assert time.monotonic() < deadline, seen
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            assert chunk, seen  # the process ended before the answer began
            seen += chunk
    return seen.decode()


def _stalling(model: ScriptedServer) -> threading.Event:
    """An answer that streams a few words, then goes quiet until the event is set (the tests cut
    it short first; setting it lets the model's thread go)."""
    release = threading.Event()
    model.add(answer("The parcel is on its way and should reach you by Friday at the latest.", order_id="A1002",
                     issue="where_is_my_order", status="in_transit", summary="on its way",
                     stall_after=12, stall_seconds=4 * WAIT, stall_until=release))
    return release


def test_busy_server_is_429_ctrl_c_ends_the_turn_and_a_dropped_stream_keeps_the_partial_reply(
        run_triage, triage_env, tmp_path):
    """A server of its own (one turn at a time), since the end of this test kills it."""
    with ScriptedServer() as model, \
            start_serve(environment(tmp_path / "server-home", tmp_path / "server-config.toml", model.base_url, TRIAGE_SERVER_TOKEN=TOKEN,
                                    TRIAGE_MAX_CONCURRENT_TURNS="1"), tmp_path / "server.log") as server:
        env = {**triage_env, **client(server)}
        release = _stalling(model)
        first = _ask_process(env, "Where is A1002?")
        try:
            _read_until(first, "The parcel is")
            one_error_line(run_triage("ask", "Where is A1003?", env=client(server)),
                           "is answering too many questions at once (429); try again in")

            first.send_signal(signal.SIGINT)  # Ctrl-C: the HTTP stream closes, the server stores the turn
            assert first.wait(WAIT) == 130
        finally:
            release.set()
            first.kill()
            first.wait()
        def interrupted() -> bool:
            stored = json.loads(run_triage("history", "--json", "--limit", "1", env=client(server)).out)
            return bool(stored[0]["turns"][-1]["state"] == "interrupted")

        eventually(interrupted, "the turn to be stored interrupted")

        release = _stalling(model)
        second = _ask_process(env, "Where is A1002?")
        try:
            partial = _read_until(second, "The parcel is")
            server.kill()  # the server is gone mid-answer
            out, err = second.communicate(timeout=WAIT)
        finally:
            release.set()
            second.kill()
        assert second.returncode == 1
        lines = err.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: the connection to the triage server at {server.url} "
                                                       "was lost"), lines
        assert "Where is A1002" not in partial + out.decode()  # stdout holds the partial reply only


def test_chat_with_a_server_renders_its_answer_and_reads_its_queue(spawn_chat, team, team_model):
    escalation(team_model, "A1004")
    child = spawn_chat(client(team))
    assert f"server: {team.url}" in plain(child.before)  # not this machine's data directory
    shown = turn(child, "Where is A1004?", r"model calls · [^\r\n]*\d s")
    assert "get_order_status" in shown and "delayed" in shown  # the lookup line, then the reply
    assert "Next step" in shown and "escalate" in shown  # the record panel
    queue = turn(child, "/tickets", r"Open tickets[\s\S]*?A1004")
    assert "late parcel" in queue or "A1004" in queue
    turn(child, "/model gpt-x", "the model is the server's setting")  # then the prompt again
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_a_servers_notice_reaches_the_terminal_without_the_servers_own_hint():
    from triage_cli.client.remote_session import to_event
    from triage_cli.engine.events import Notice

    event = to_event("notice", {"message": "Answered offline.", "hint": "To use a model: pass --provider."})
    assert event == Notice("Answered offline.")


def test_a_failed_lookup_and_a_cut_answer_read_the_same_through_the_server(run_triage, team, team_model):
    team_model.add(tools(("no_such_tool", {"order_id": "A1002"})),
                   answer("Your parcel is on its way and should arrive", order_id="A1002", issue="where",
                          status="in_transit", finish_reason="length"))
    remote = run_triage("ask", "--json", "Where is A1002?", env=client(team))
    data = json.loads(remote.out)
    assert data["tool_calls"][0]["ok"] is False, data  # not a green tick: the server said it failed
    assert data["finish_reason"] == "length", data  # cut at the model's limit, not finished
