"""The triage record on the model path: one generation with structured output, the fallbacks, the
not-found guard, and the machine-readable outputs. The real CLI and the real openai SDK talk to
the scripted OpenAI-compatible server over loopback."""

from __future__ import annotations

import json
import os
import re
import sys

import pexpect

from helpers import as_stored
from cli_runner import run_in_process
from scripted_server import Reply, ScriptedServer, answer, error, text, tools

TOOL = "get_order_status"
REPLY = (
    "Order **A1002** is delayed by one day: severe weather at the DHL hub in Manchester. "
    "It should arrive tomorrow.\n\n**Next step:** answer: the order data covers the question."
)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def delayed_answer(**kw) -> Reply:
    return answer(REPLY, order_id="A1002", issue="late delivery", status="delayed (weather)",
                  next_step="answer", summary="A1002 is one day late because of weather.", **kw)


def ask_json(run_triage, env, *args: str) -> tuple[int, dict, str]:
    result = run_triage("ask", "--json", *args, env=env)
    lines = result.out.splitlines()
    assert len(lines) == 1, f"--json must print exactly one line:\n{result.out}\n{result.err}"
    return result.code, json.loads(lines[0]), result.err


def test_one_lookup_costs_two_calls_and_the_json_holds_every_record_field(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), delayed_answer())

    code, report, err = ask_json(run_triage, model_env, "Where is A1002?")

    assert code == 0, err
    assert len(server.requests) == 2
    for request in server.requests:  # structured output is asked for on every call
        assert request["response_format"]["type"] == "json_schema"
        assert request["response_format"]["json_schema"]["strict"] is True
    assert report["reply"] == REPLY  # the reply field, decoded; no JSON around it
    assert report["triage"] == {  # the order id and status are the lookup's, the rest the model's
        "order_id": "A1002", "issue": "late delivery", "status": "delayed",
        "next_step": "answer", "summary": "A1002 is one day late because of weather.", "ticket": None, "guard": None,
    }
    [call] = report["tool_calls"]
    assert call["name"] == TOOL and call["arguments"] == {"order_id": "A1002"} and call["ok"] is True
    assert call["result"]["status"] == "delayed"
    usage = report["usage"]
    assert usage["model_calls"] == 2 and usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["ttft_ms"] is not None and usage["total_ms"] >= usage["ttft_ms"]
    assert report["provider"] == "openai" and report["model"]


def test_the_system_prompt_states_the_policy_and_the_json_answer(run_triage, server, model_env):
    server.add(delayed_answer())
    run_triage("ask", "--json", "Where is A1002?", env=model_env)

    system = server.requests[0]["messages"][0]["content"]
    assert "escalate" in system and "not found" in system and "refunds" in system
    assert "JSON object" in system and "<triage>" not in system


def test_plain_output_streams_the_reply_field_then_the_record(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), delayed_answer())

    result = run_triage("ask", "Where is A1002?", env=model_env)

    assert result.code == 0, result.err
    reply, record = result.out.split("\n\nOrder: ", 1)
    assert reply.strip() == REPLY
    assert '"reply"' not in result.out and "{" not in result.out
    assert "Status: delayed\n" in record and "Next step: answer\n" in record


def test_a_not_found_lookup_escalates_whatever_the_model_says(run_triage, server, model_env):
    server.add(
        tools((TOOL, {"order_id": "A9999"})),
        answer("I could not see a problem.\n\n**Next step:** answer", order_id="A9999", issue="where is it",
               status="unknown", next_step="answer", summary="Nothing to do."),
    )

    code, report, err = ask_json(run_triage, model_env, "Where is A9999?")

    assert code == 0, err
    assert report["triage"]["next_step"] == "escalate"
    assert report["triage"]["ticket"] == 1
    # What the model got wrong about the order does not reach the record either.
    assert report["triage"]["status"] == "not found"
    assert "A9999 was not found" in report["triage"]["summary"]
    # The reply is corrected, so it never says one thing while the record says another.
    last_line = report["reply"].strip().splitlines()[-1]
    assert last_line.startswith("**Next step:** escalate") and "A9999" in last_line
    tickets = json.loads(run_triage("tickets", "--json").out)
    assert [t["order_id"] for t in tickets] == ["A9999"]


def test_the_model_escalating_an_out_of_scope_problem_opens_a_ticket(run_triage, server, model_env):
    server.add(
        tools((TOOL, {"order_id": "A1003"})),
        answer("A1003 was delivered yesterday, but the customer says it is damaged.\n\n"
               "**Next step:** escalate: damage claims need the returns team.",
               order_id="A1003", issue="damaged item, refund", status="delivered", next_step="escalate",
               summary="Delivered yesterday; customer reports damage and wants a refund."),
    )

    code, report, err = ask_json(run_triage, model_env, "A1003 arrived damaged, refund please")

    assert code == 0, err
    assert report["triage"]["next_step"] == "escalate" and report["triage"]["ticket"] == 1
    assert report["reply"].rstrip().endswith("damage claims need the returns team.")  # no extra line
    [ticket] = json.loads(run_triage("tickets", "--json").out)
    assert ticket["issue"] == "damaged item, refund"
    assert ticket["summary"] in as_stored("Delivered yesterday; customer reports damage and wants a refund.")


def test_a_reply_without_a_next_step_line_gets_one_that_matches_the_record(run_triage, server, model_env):
    server.add(answer("A1002 is a day late.", order_id="A1002", issue="late", status="delayed",
                      next_step="answer", summary="Late."))

    result = run_triage("ask", "Where is A1002?", env=model_env)

    assert result.code == 0, result.err
    reply = result.out.split("\n\nOrder: ", 1)[0]
    assert reply.strip().splitlines()[-1] == "**Next step:** answer."


# --------------------------------------------------------------------------- fallbacks


TRAILER_REPLY = (
    "Order A1002 is delayed by a day because of weather.\n\n**Next step:** answer\n"
    '<triage>{"order_id": "A1002", "issue": "late delivery", "status": "delayed", '
    '"next_step": "answer", "summary": "One day late (weather)."}</triage>'
)


def test_with_structured_output_off_the_record_comes_from_a_hidden_trailer(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), text(TRAILER_REPLY))
    env = {**model_env, "TRIAGE_STRUCTURED_OUTPUT": "off"}

    code, report, err = ask_json(run_triage, env, "Where is A1002?")

    assert code == 0, err
    assert len(server.requests) == 2
    assert all("response_format" not in r for r in server.requests)
    assert "<triage>" in server.requests[0]["messages"][0]["content"]  # the prompt asks for the trailer
    assert "<triage" not in report["reply"] and "{" not in report["reply"]
    assert report["reply"].strip().endswith("**Next step:** answer")
    assert report["triage"]["summary"] == "One day late (weather)." and report["triage"]["status"] == "delayed"


def test_the_trailer_never_reaches_plain_output_even_split_across_chunks(run_triage, model_env):
    with ScriptedServer([text(TRAILER_REPLY)], chunk_chars=3) as srv:
        env = {**model_env, "OPENAI_BASE_URL": srv.base_url, "TRIAGE_STRUCTURED_OUTPUT": "off"}
        result = run_triage("ask", "Where is A1002?", env=env)
    assert result.code == 0, result.err
    assert "triage>" not in result.out and "One day late (weather)." in result.out  # summary in the record


def test_a_plain_text_answer_without_a_record_gets_one_from_the_rules(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), text("A1002 is delayed by a day.\n\n**Next step:** answer"))
    env = {**model_env, "TRIAGE_STRUCTURED_OUTPUT": "off"}

    code, report, err = ask_json(run_triage, env, "Where is A1002?")

    assert code == 0, err
    record = report["triage"]
    assert record["order_id"] == "A1002" and record["status"] == "delayed" and record["next_step"] == "answer"
    assert record["summary"] == "A1002 is delayed. Next step: answer."  # from the lookup, not the reply


def rejects_response_format(replies: list[Reply]):
    """A server without structured output: a 400 for any request carrying response_format."""
    answers = iter(replies)

    def script(body: dict, index: int) -> Reply:
        if "response_format" in body:
            return error(400, "response_format json_schema is not supported by this model")
        return next(answers)

    return script


def test_auto_falls_back_once_when_the_server_rejects_structured_output(run_triage, model_env):
    script = rejects_response_format([tools((TOOL, {"order_id": "A1002"})), text(TRAILER_REPLY)])
    with ScriptedServer(script) as srv:
        env = {**model_env, "OPENAI_BASE_URL": srv.base_url}
        code, report, err = ask_json(run_triage, env, "Where is A1002?")
        requests = srv.requests

    assert code == 0, err
    # json_schema and json_object refused (one try each), then the tool round and the answer
    # without response_format.
    assert [(r.get("response_format") or {}).get("type") for r in requests] == [
        "json_schema", "json_object", None, None]
    assert "<triage>" in requests[2]["messages"][0]["content"]
    assert report["usage"]["model_calls"] == 4
    assert report["triage"]["summary"] == "One day late (weather)."
    assert any("text fallback" in n for n in report["notices"])


def test_json_schema_mode_reports_a_server_without_structured_output(run_triage, model_env):
    with ScriptedServer(rejects_response_format([])) as srv:
        env = {**model_env, "OPENAI_BASE_URL": srv.base_url, "TRIAGE_STRUCTURED_OUTPUT": "json_schema"}
        result = run_triage("ask", "Where is A1002?", env=env)
        assert len(srv.requests) == 1
    assert result.code == 1
    assert len(result.err.strip().splitlines()) == 1
    assert 'structured_output = "off"' in result.err and "HTTP 400" in result.err


def test_a_server_that_ignores_response_format_and_writes_markdown_still_works(run_triage, server, model_env):
    server.add(text("A1002 is late.\n\n**Next step:** answer"))
    code, report, err = ask_json(run_triage, model_env, "Where is A1002?")
    assert code == 0, err
    assert report["reply"].strip() == "A1002 is late.\n\n**Next step:** answer"
    assert report["triage"]["next_step"] == "answer"


# --------------------------------------------------------------------------- --events


def test_events_stream_the_reply_field_as_content_then_triage_usage_done(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), delayed_answer())
    server.tokens_per_second = 100  # as a model sends them: chunks a reader finds queued are one event

    result = run_triage("ask", "--events", "Where is A1002?", env=model_env)

    assert result.code == 0, result.err
    events = [json.loads(line) for line in result.out.splitlines()]
    types = [e["type"] for e in events]
    assert types[-3:] == ["triage", "usage", "done"]
    assert {"tool_calls", "tool_executing", "tool_result", "content"} <= set(types)
    content = [e["content"] for e in events if e["type"] == "content"]
    assert len(content) > 10  # streamed in pieces, not in one block at the end
    assert "".join(content) == REPLY == events[-1]["content"]  # the names and fields SSE uses


def test_an_api_error_ends_the_events_with_an_error_event_and_exit_1(run_triage, server, model_env):
    server.add(error(401, "invalid api key"))
    result = run_triage("ask", "--events", "Where is A1002?", env=model_env)
    assert result.code == 1
    events = [json.loads(line) for line in result.out.splitlines()]
    assert events[-1]["type"] == "error" and "check the key" in events[-1]["message"]


def test_json_output_of_a_failed_run_is_still_one_object_with_the_error(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), error(500, "boom"), error(500, "boom"), error(500, "boom"))
    code, report, _ = ask_json(run_triage, model_env, "Where is A1002?")
    assert code == 1
    assert "HTTP 500" in report["error"] and report["triage"] is None
    assert report["tool_calls"][0]["ok"] is True


def test_control_sequences_in_model_text_are_escaped_in_json_output(run_triage, server, model_env):
    server.add(answer("Hi\x1b[2J\x1b]0;pwned\x07 \x9b31m there", order_id=None, issue="x", status="x",
                      next_step="answer", summary="s\x1b]52;c;Zm9v\x07"))
    result = run_triage("ask", "--json", "hello", env=model_env)
    assert result.code == 0, result.err
    assert "\x1b" not in result.out and "\x9b" not in result.out and "\x07" not in result.out
    report = json.loads(result.out)
    assert report["reply"].startswith("Hi\x1b[2J")  # the data itself is kept, as escaped JSON


# --------------------------------------------------------------------------- on a terminal


def test_on_a_terminal_the_reply_appears_while_the_json_still_streams(triage_env, model_env):
    long_reply = "Order **A1002** is delayed by one day. " * 40 + "\n\n**Next step:** answer"
    with ScriptedServer([answer(long_reply, order_id="A1002", issue="late", status="delayed",
                                next_step="answer", summary="Late.")],
                        tokens_per_second=200, chunk_chars=4) as srv:
        env = {**triage_env, **model_env, "OPENAI_BASE_URL": srv.base_url}
        child = pexpect.spawn(sys.executable, ["-m", "triage_cli", "ask", "Where is A1002?"], env=env,
                              cwd=os.getcwd(), dimensions=(40, 100), encoding="utf-8", timeout=30)
        child.expect("delayed by one day")
        # The order of events, not a timing: when the first words are on the screen, the record
        # panel (drawn once the whole object has arrived, some 2 s of streaming later) is not yet.
        assert "╭" not in child.before + child.after + child.buffer
        child.expect("╭")
        child.expect(pexpect.EOF)
        child.close()
    screen = ANSI.sub("", child.before)
    assert '"reply"' not in screen and "next_step" not in screen
    assert child.exitstatus == 0


def test_interrupted_events_still_end_with_an_error_event_and_no_ticket(triage_env, model_env):
    import signal
    import subprocess

    import threading

    release = threading.Event()  # the answer goes quiet after a few words until the test is done
    slow = answer("word " * 400, order_id="A9999", issue="x", status="x", next_step="escalate", summary="s",
                  stall_after=3, stall_seconds=240, stall_until=release)
    with ScriptedServer([slow]) as srv:
        env = {**triage_env, **model_env, "OPENAI_BASE_URL": srv.base_url}
        child = subprocess.Popen([sys.executable, "-m", "triage_cli", "ask", "--events", "Where is A9999?"],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert child.stdout is not None
        try:
            lines = []
            for line in child.stdout:  # wait until the answer is streaming
                lines.append(line)
                if '"type":"content"' in line:
                    break
            child.send_signal(signal.SIGINT)
            out, err = child.communicate(timeout=20)
        finally:
            release.set()
            child.kill()
    events = [json.loads(line) for line in lines + out.splitlines()]
    assert events[-1] == {"type": "error", "message": "interrupted", "code": "interrupted"}
    assert not [e for e in events if e["type"] in ("triage", "done")]
    assert child.returncode == 130 and "Traceback" not in err
    tickets = run_in_process(("tickets", "--json"), b"", env)
    assert json.loads(tickets.out) == []
