"""The triage record, `--json`, `--events` and the escalation queue, through the real CLI on the
offline engine (no model, no network)."""

from __future__ import annotations

import json
import os
import sys

import pexpect

RECORD_KEYS = {"order_id", "issue", "status", "next_step", "summary", "ticket", "guard"}


def ask_json(run_triage, *args: str) -> dict:
    result = run_triage("ask", "--json", *args)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert len(lines) == 1, f"--json must print exactly one line of JSON:\n{result.out}"
    return json.loads(lines[0])


def tickets_json(run_triage, *args: str) -> list[dict]:
    result = run_triage("tickets", "--json", *args)
    assert result.code == 0, result.err
    return json.loads(result.out)


# --------------------------------------------------------------------------- the record


def test_a_missing_order_escalates_and_opens_a_ticket(run_triage):
    report = ask_json(run_triage, "--order", "A9999", "Where is my parcel?")

    assert report["triage"]["next_step"] == "escalate"
    assert report["triage"]["order_id"] == "A9999"
    assert report["triage"]["status"] == "not found"
    [ticket] = tickets_json(run_triage)
    assert ticket["order_id"] == "A9999" and ticket["status"] == "open"
    assert ticket["id"] == report["triage"]["ticket"]
    assert ticket["reply"] == report["reply"]
    assert "Where is my parcel?" in ticket["question"]


def test_a_delayed_order_is_answered_with_a_status_about_the_delay(run_triage):
    report = ask_json(run_triage, "--order", "A1002", "My order still has not arrived")

    record = report["triage"]
    assert set(record) == RECORD_KEYS
    assert record["next_step"] == "answer" and record["ticket"] is None
    assert "delay" in record["status"]
    assert record["issue"] and record["summary"]
    assert tickets_json(run_triage, "--status", "all") == []  # an answer opens no ticket


def test_damage_and_a_refund_request_escalate_even_when_the_order_is_fine(run_triage):
    report = ask_json(run_triage, "--order", "A1003", "It arrived damaged and I want a refund")

    assert report["triage"]["next_step"] == "escalate"
    assert "refund" in report["triage"]["issue"] and "damage" in report["triage"]["issue"]
    assert report["triage"]["status"] == "delivered"


def test_the_json_report_holds_the_reply_tool_calls_usage_and_engine(run_triage):
    report = ask_json(run_triage, "Where is A1002?")

    assert "delayed" in report["reply"] and "Next step:** answer" in report["reply"]
    [call] = report["tool_calls"]
    assert call["name"] == "get_order_status" and call["arguments"] == {"order_id": "A1002"}
    assert call["ok"] is True and call["result"]["status"] == "delayed"
    assert isinstance(call["duration_ms"], float)
    assert report["usage"]["model_calls"] == 0 and report["usage"]["total_ms"] > 0
    assert set(report["usage"]) == {"prompt_tokens", "completion_tokens", "model_calls", "ttft_ms", "total_ms"}
    assert report["provider"] == "offline" and report["model"] is None
    assert report["error"] is None


def test_plain_output_ends_with_the_record_as_key_value_lines_after_a_blank_line(run_triage):
    result = run_triage("ask", "--order", "A9999", "Where is it?")

    reply, record = result.out.split("\n\nOrder: ", 1)
    assert "no order A9999" in reply
    lines = ("Order: " + record).splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["Order", "Issue", "Status", "Next step", "Summary", "Ticket"]
    assert "Next step: escalate" in lines and "Ticket: #1 (open)" in lines


def test_on_a_terminal_the_record_is_a_panel_under_the_reply(triage_env):
    child = pexpect.spawn(sys.executable, ["-m", "triage_cli", "ask", "--order", "A9999", "Where is it?"],
                          env=triage_env, cwd=os.getcwd(), dimensions=(40, 100), encoding="utf-8", timeout=20)
    child.expect(pexpect.EOF)
    child.close()
    screen = child.before
    assert child.exitstatus == 0
    panel = screen[screen.index("╭"):]
    assert screen.index("no order A9999") < screen.index("╭")  # under the reply
    assert "triage" in panel and "escalate" in panel and "Ticket" in panel and "#1" in panel


# --------------------------------------------------------------------------- --events


def test_events_are_ndjson_one_per_line_ending_with_done(run_triage):
    result = run_triage("ask", "--events", "--order", "A1002")

    assert result.code == 0, result.err
    events = [json.loads(line) for line in result.out.splitlines()]
    types = [e["type"] for e in events]
    assert types[-1] == "done"
    assert types.index("tool_calls") < types.index("tool_executing") < types.index("tool_result")
    assert types.index("tool_result") < types.index("content") < types.index("triage") < types.index("done")
    assert "".join(e["content"] for e in events if e["type"] == "content") == events[-1]["content"]
    [record] = [e for e in events if e["type"] == "triage"]
    assert record["next_step"] == "answer"
    assert all(set(e) >= {"type"} for e in events)


def test_json_and_events_together_are_a_usage_error(run_triage):
    result = run_triage("ask", "--json", "--events", "Where is A1002?")
    assert result.code == 2
    assert result.err.strip() == "error: use only one of --json, --events and --plain"
    assert result.out == ""


def test_a_failing_run_ends_the_events_with_an_error_and_exits_1(run_triage, triage_env):
    # Nothing listens on port 9: the model call fails after the events have started.
    env = {"TRIAGE_PROVIDER": "custom", "TRIAGE_BASE_URL": "http://127.0.0.1:9/v1", "TRIAGE_MODEL": "m",
           "TRIAGE_TIMEOUT": "5"}
    result = run_triage("ask", "--events", "Where is A1002?", env=env)

    assert result.code == 1
    events = [json.loads(line) for line in result.out.splitlines()]
    assert events[-1]["type"] == "error" and "cannot connect" in events[-1]["message"]
    assert not [e for e in events if e["type"] == "done"]


# --------------------------------------------------------------------------- tickets


def test_tickets_can_be_shown_and_closed_with_a_note(run_triage):
    ask_json(run_triage, "--order", "A9999", "Where is my parcel?")
    ask_json(run_triage, "--order", "A1003", "It arrived damaged")

    shown = run_triage("tickets", "show", "1")
    assert shown.code == 0, shown.err
    assert "Order: A9999" in shown.out and "Where is my parcel?" in shown.out and "no order A9999" in shown.out

    closed = run_triage("tickets", "close", "1", "--note", "Customer had a typo: A9998")
    assert closed.code == 0 and "Closed ticket #1" in closed.out

    assert [t["id"] for t in tickets_json(run_triage)] == [2]  # open ones by default
    assert [t["id"] for t in tickets_json(run_triage, "--status", "closed")] == [1]
    everything = tickets_json(run_triage, "--status", "all")
    assert [t["id"] for t in everything] == [2, 1]  # newest first
    assert everything[1]["note"] == "Customer had a typo: A9998" and everything[1]["closed_at"]
    assert json.loads(run_triage("tickets", "show", "1", "--json").out)["status"] == "closed"


def test_the_plain_ticket_list_is_tab_separated_with_a_header(run_triage):
    ask_json(run_triage, "--order", "A9999", "Where is my parcel?")
    result = run_triage("tickets")
    header, row = result.out.splitlines()
    assert header.split("\t") == ["id", "created", "status", "order", "issue", "summary", "holder"]
    assert row.split("\t")[0] == "1" and row.split("\t")[2:4] == ["open", "A9999"] and row.split("\t")[6] == ""
    assert run_triage("tickets", "claim", env={"TRIAGE_AGENT_NAME": "ana"}).code == 0
    assert run_triage("tickets").out.splitlines()[1].split("\t")[6] == "ana"
    shown = run_triage("tickets", "show", "1").out
    assert "Held by: ana (since " in shown


def test_the_ticket_list_on_a_terminal_is_a_table(run_triage, triage_env):
    ask_json(run_triage, "--order", "A9999", "Where is my parcel?")
    child = pexpect.spawn(sys.executable, ["-m", "triage_cli", "tickets"], env=triage_env, cwd=os.getcwd(),
                          dimensions=(30, 120), encoding="utf-8", timeout=20)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Open tickets" in child.before and "A9999" in child.before and "┃" in child.before


def test_an_unknown_ticket_id_is_one_line_and_exit_2(run_triage):
    for command in (["show", "7"], ["close", "7"]):
        result = run_triage("tickets", *command)
        assert result.code == 2
        assert result.err.strip() == "error: no ticket 7 (see: triage tickets --status all)"


def test_bad_ticket_ids_statuses_and_double_closes_are_one_line_errors(run_triage):
    ask_json(run_triage, "--order", "A9999", "Where is my parcel?")
    assert run_triage("tickets", "close", "1").code == 0
    for args, message in [
        (("tickets", "show", "abc"), "a ticket id is a number like 12"),
        (("tickets", "--status", "pending"), "--status must be one of open, closed, all"),
        (("tickets", "close", "1"), "ticket 1 is already closed"),
    ]:
        result = run_triage(*args)
        assert result.code == 2, args
        assert len(result.err.strip().splitlines()) == 1 and message in result.err, result.err


def test_ticket_commands_need_no_model_configuration(run_triage):
    # A provider without its key breaks `ask`, but the queue is still readable.
    result = run_triage("tickets", env={"TRIAGE_PROVIDER": "groq"})
    assert result.code == 0, result.err


def test_an_unwritable_home_still_prints_the_answer_with_a_notice(run_triage, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the data directory should be")
    orders = tmp_path / "orders.sqlite"
    # The demo orders live in the home too, so point the order store elsewhere.
    import sqlite3

    with sqlite3.connect(orders) as db:
        db.execute("CREATE TABLE orders (order_id TEXT PRIMARY KEY, status TEXT NOT NULL)")
    result = run_triage("ask", "--order", "A9999", "Where?", env={"TRIAGE_HOME": str(blocked),
                                                                   "TRIAGE_ORDERS_DB": str(orders)})
    assert result.code == 0
    assert "no order A9999" in result.out and "Next step: escalate" in result.out
    # One line says that neither the conversation nor the ticket could be saved, and why.
    [saved] = [line for line in result.err.splitlines() if "saved" in line]
    assert "no ticket" in saved and str(blocked) in saved
    assert "Traceback" not in result.err


def test_list_options_before_a_ticket_command_are_refused_not_ignored(run_triage):
    result = run_triage("tickets", "--status", "closed", "list")
    assert result.code == 2
    assert result.err.strip() == "error: put the options after the command: triage tickets list [OPTIONS]"
    assert run_triage("tickets", "list", "--status", "closed").code == 0
