"""Servers people run themselves (llama-cpp-python's): tool rounds that need not stream, and
structured output that steps down json_schema -> json_object -> the text trailer. The Agent runs
in-process with the real openai SDK against the scripted server, which emulates both refusals;
every test counts the model calls each answer took."""

from __future__ import annotations

import pytest

from agent_driver import ask_agent, make_agent, notices, outcome, reply
from scripted_server import ScriptedServer, answer, error, text, tools
from triage_cli.engine.events import Done, Error, TriageRecord, Usage

TOOL = "get_order_status"
REPLY = "Order **A1002** is delayed by a day (weather).\n\n**Next step:** answer"
TRAILER_REPLY = REPLY + '\n<triage>{"order_id": "A1002", "issue": "late", "status": "delayed", ' \
    '"next_step": "answer", "summary": "One day late."}</triage>'
FAST_RETRY = {"retry-after-ms": "10"}


def lookup_then_answer(structured: bool = True) -> list:
    final = answer(REPLY, order_id="A1002", issue="late", status="delayed", summary="One day late.") \
        if structured else text(TRAILER_REPLY)
    return [tools((TOOL, {"order_id": "A1002"})), final]


def calls(events) -> int:
    return next(e for e in events if isinstance(e, Usage)).model_calls


def shape(request: dict) -> tuple[bool, str | None]:
    """(streamed, response_format type) of one request."""
    return bool(request.get("stream")), (request.get("response_format") or {}).get("type")


def answered(events) -> None:
    assert isinstance(outcome(events), Done), outcome(events)
    assert reply(events).startswith(REPLY)
    record = next(e for e in events if isinstance(e, TriageRecord))
    assert record.order_id == "A1002" and record.summary == "One day late."


# --------------------------------------------------------------------------- tool rounds


@pytest.mark.parametrize("how", ["empty", "sse_error", "hang"])
def test_auto_retries_a_tool_call_the_server_cannot_stream_without_streaming_and_keeps_plain(tmp_path, how):
    with ScriptedServer(lookup_then_answer() * 2, stream_tools=how) as srv:
        agent = make_agent(srv.base_url, tmp_path, timeout=1.0)  # "hang": 1 s of pings, then plain
        (first, second), _ = ask_agent(agent, "Where is A1002?", "And now?")
        requests = srv.requests

    answered(first)
    answered(second)
    # The refused streamed call, then the tool round and the answer without streaming...
    assert [shape(r)[0] for r in requests[:3]] == [True, False, False] and calls(first) == 3
    # ...which the session keeps: the next answer costs tool rounds + 1.
    assert [shape(r)[0] for r in requests[3:]] == [False, False] and calls(second) == 2
    assert len(notices(first)) == 1 and "cannot stream tool calls" in notices(first)[0]
    assert notices(second) == []
    assert agent.tool_round_mode == "plain"


def test_plain_never_streams_a_call_that_offers_tools(tmp_path):
    with ScriptedServer(lookup_then_answer(), stream_tools="empty") as srv:
        agent = make_agent(srv.base_url, tmp_path, tool_rounds="plain")
        [events], conversation = ask_agent(agent, "Where is A1002?")
        requests = srv.requests

    answered(events)
    assert [shape(r)[0] for r in requests] == [False, False] and calls(events) == 2
    assert notices(events) == []
    assert all("tools" in r for r in requests)
    assert conversation.messages[-1] == {"role": "assistant", "content": reply(events)}
    usage = next(e for e in events if isinstance(e, Usage))
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0 and usage.ttft_ms is not None


@pytest.mark.parametrize("how", ["empty", "sse_error"])
def test_stream_mode_reports_a_server_that_cannot_stream_tools_after_one_call(tmp_path, how):
    with ScriptedServer(lookup_then_answer(), stream_tools=how) as srv:
        agent = make_agent(srv.base_url, tmp_path, tool_rounds="stream")
        [events], conversation = ask_agent(agent, "Where is A1002?")
        requests = len(srv.requests)

    failure = outcome(events)
    assert isinstance(failure, Error) and 'tool_rounds = "plain"' in failure.message
    if how == "empty":
        assert "ended the stream without an answer" in failure.message
    assert requests == 1  # never retried: the same call would fail the same way
    assert conversation.messages[-1]["content"] == "[interrupted]"


def test_a_plain_call_that_fails_is_an_error_with_no_second_fallback(tmp_path):
    """Once plain, a failing call is an error as any other (retried as usual: here retries = 0)."""
    with ScriptedServer([error(500, "out of memory")] * 3, stream_tools="empty") as srv:
        agent = make_agent(srv.base_url, tmp_path, retries=0)
        [events], _ = ask_agent(agent, "Where is A1002?")
        requests = srv.requests

    assert [shape(r)[0] for r in requests] == [True, False]
    assert isinstance(outcome(events), Error) and "HTTP 500" in outcome(events).message


# --------------------------------------------------------------------------- structured output


def test_auto_steps_down_to_json_object_on_a_500_naming_the_allowed_types_without_retrying(tmp_path):
    with ScriptedServer(lookup_then_answer() * 2, response_formats=("json_object",)) as srv:
        agent = make_agent(srv.base_url, tmp_path)
        (first, second), _ = ask_agent(agent, "Where is A1002?", "And now?")
        requests = srv.requests

    answered(first)
    answered(second)
    # One refused json_schema call (a 500 whose body names the types: not retried), then JSON mode.
    assert [shape(r)[1] for r in requests] == ["json_schema", "json_object", "json_object",
                                               "json_object", "json_object"]
    assert calls(first) == 3 and calls(second) == 2
    assert agent.structured_mode == "json_object"
    [notice] = notices(first)
    assert "json_object" in notice and notices(second) == []
    system = requests[1]["messages"][0]["content"]
    assert '"next_step"' in system and '"additionalProperties": false' in system  # the schema, in words


def test_auto_steps_down_to_the_trailer_when_json_object_is_refused_too(tmp_path):
    with ScriptedServer(lookup_then_answer(structured=False), response_formats=(), format_status=400) as srv:
        agent = make_agent(srv.base_url, tmp_path)
        [events], _ = ask_agent(agent, "Where is A1002?")
        requests = srv.requests

    answered(events)
    assert [shape(r)[1] for r in requests] == ["json_schema", "json_object", None, None]
    assert calls(events) == 4 and agent.structured_mode == "off"
    assert len(notices(events)) == 2 and "text fallback" in notices(events)[1]
    assert "<triage>" in requests[2]["messages"][0]["content"]


def test_a_fixed_json_object_mode_asks_for_it_from_the_first_call(tmp_path):
    with ScriptedServer(lookup_then_answer(), response_formats=("json_object",)) as srv:
        agent = make_agent(srv.base_url, tmp_path, structured_output="json_object")
        [events], _ = ask_agent(agent, "Where is A1002?")
        requests = srv.requests

    answered(events)
    assert [shape(r)[1] for r in requests] == ["json_object", "json_object"] and notices(events) == []


def test_a_500_about_something_else_is_still_retried(tmp_path):
    script = [error(500, "model overloaded", headers=FAST_RETRY), *lookup_then_answer()]
    with ScriptedServer(script) as srv:
        agent = make_agent(srv.base_url, tmp_path)
        [events], _ = ask_agent(agent, "Where is A1002?")
        requests = srv.requests

    answered(events)
    assert [shape(r)[1] for r in requests] == ["json_schema"] * 3  # the retry, then the round and answer
    assert agent.structured_mode == "json_schema" and notices(events) == []


# --------------------------------------------------------------------------- both, as llama-cpp-python


def test_a_llama_cpp_like_server_answers_with_default_settings(tmp_path):
    with ScriptedServer(lookup_then_answer() * 2, stream_tools="empty", response_formats=("json_object",)) as srv:
        agent = make_agent(srv.base_url, tmp_path)
        (first, second), _ = ask_agent(agent, "Where is A1002?", "And now?")
        requests = srv.requests

    answered(first)
    answered(second)
    assert [shape(r) for r in requests[:4]] == [
        (True, "json_schema"),  # 500: json_schema refused
        (True, "json_object"),  # an empty 200 stream: tools cannot stream
        (False, "json_object"), (False, "json_object"),  # the tool round and the answer
    ]
    assert calls(first) == 4 and calls(second) == 2
    assert len(notices(first)) == 2 and notices(second) == []
    assert (agent.structured_mode, agent.tool_round_mode) == ("json_object", "plain")
    # llama-cpp-python refuses an assistant message whose content is null or missing (a 500): a
    # message that only calls tools goes with empty content.
    sent = [m for r in requests for m in r["messages"] if m["role"] == "assistant" and m.get("tool_calls")]
    assert sent and all(m["content"] == "" for m in sent)


def test_a_500_for_a_request_the_server_cannot_validate_is_not_retried(tmp_path):
    body = "7 validation errors: messages.2.content: Input should be a valid string"
    with ScriptedServer([error(500, body), *lookup_then_answer()]) as srv:
        agent = make_agent(srv.base_url, tmp_path)
        [events], _ = ask_agent(agent, "Where is A1002?")
        requests = len(srv.requests)

    failure = outcome(events)
    assert isinstance(failure, Error) and "HTTP 500" in failure.message and "tries" not in failure.message
    assert requests == 1


# --------------------------------------------------------------------------- through the CLI


def llama_like(replies: list) -> ScriptedServer:
    return ScriptedServer(replies, stream_tools="empty", response_formats=("json_object",))


def test_ask_json_against_a_llama_cpp_like_server_reports_both_steps_as_notices(run_triage):
    import json

    with llama_like(lookup_then_answer()) as srv:
        result = run_triage("ask", "--json", "--base-url", srv.base_url, "--model", "smollm2", "--order", "A1002",
                            "where is it?")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["reply"].startswith(REPLY) and report["triage"]["order_id"] == "A1002"
    assert report["usage"]["model_calls"] == 4
    assert len(report["notices"]) == 2
    assert any("json_object" in n for n in report["notices"])
    assert any("cannot stream tool calls" in n for n in report["notices"])


def test_chat_answers_two_turns_and_provider_shows_the_modes_kept(triage_env):
    import re
    import sys

    import pexpect

    ansi = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|[\x08\r]")
    with llama_like(lookup_then_answer() * 2) as srv:
        env = {**triage_env, "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1", "TERM": "xterm-256color"}
        child = pexpect.spawn(sys.executable, ["-m", "triage_cli", "chat", "--base-url", srv.base_url,
                                               "--model", "smollm2"],
                              env=env, dimensions=(40, 160), encoding="utf-8", timeout=30)
        try:
            child.expect("›")
            for question in ("Where is A1002?", "And now?"):
                child.sendline(question)
                child.expect("Next step")
                child.expect("›")
            child.sendline("/provider")
            child.expect(r"tool rounds: \w+")
            shown = ansi.sub("", child.before + child.after)
            child.sendline("/quit")
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
        requests = len(srv.requests)
    assert "structured output: json_object" in shown and "tool rounds: plain" in shown, shown
    assert requests == 4 + 2


# --------------------------------------------------------------------------- settings


def test_tool_rounds_and_json_object_are_settings_per_provider_too(tmp_path):
    from triage_cli.config import load_settings
    from triage_cli.errors import ConfigError

    config = tmp_path / "config.toml"
    config.write_text('[providers.llamacpp]\nbase_url = "http://127.0.0.1:8766/v1"\nmodel = "smollm2"\n'
                      'structured_output = "json_object"\ntool_rounds = "plain"\n')
    base = {"TRIAGE_CONFIG": str(config), "TRIAGE_HOME": str(tmp_path / "home")}
    table = load_settings({"provider": "llamacpp"}, environ=base, cwd=tmp_path)
    assert (table.structured_output, table.tool_rounds) == ("json_object", "plain")
    env = load_settings({"provider": "llamacpp"}, environ={**base, "TRIAGE_TOOL_ROUNDS": "stream"}, cwd=tmp_path)
    assert env.tool_rounds == "stream"  # the setting itself wins over the provider's table
    default = load_settings({"provider": "ollama"}, environ=base, cwd=tmp_path)
    assert (default.structured_output, default.tool_rounds) == ("auto", "auto")
    with pytest.raises(ConfigError, match="tool_rounds must be one of auto, stream, plain"):
        load_settings({"provider": "ollama"}, environ={**base, "TRIAGE_TOOL_ROUNDS": "sometimes"}, cwd=tmp_path)


# --------------------------------------------------------------------------- remembered between runs


def test_what_an_endpoint_refused_is_remembered_so_the_next_run_starts_at_the_right_step(run_triage, triage_env):
    import json
    from datetime import datetime, timedelta, timezone
    from pathlib import Path

    ask = ("ask", "--json", "--model", "smollm2", "--order", "A1002", "where is it?")
    # Both refusals said in so many words: a 500 for json_schema, an SSE error for streamed tools.
    with ScriptedServer(lookup_then_answer() * 4, stream_tools="sse_error", response_formats=("json_object",)) as srv:
        first = json.loads(run_triage(*ask, "--base-url", srv.base_url).out)
        second = json.loads(run_triage(*ask, "--base-url", srv.base_url).out)
        shown = json.loads(run_triage("config", "--json", "--base-url", srv.base_url, "--model", "smollm2").out)
        again = json.loads(run_triage(*ask, "--base-url", srv.base_url, "--reprobe").out)
        memory = Path(triage_env["TRIAGE_HOME"]) / "endpoints.json"
        kept = json.loads(memory.read_text())
        [key] = kept
        kept[key]["at"] = (datetime.now(timezone.utc) - timedelta(days=1, minutes=1)).isoformat()
        memory.write_text(json.dumps(kept))  # learned over a day ago
        stale = json.loads(run_triage(*ask, "--base-url", srv.base_url).out)
        requests, url = srv.requests, srv.base_url

    assert first["usage"]["model_calls"] == 4 and len(first["notices"]) == 2
    assert second["usage"]["model_calls"] == 2 and second["notices"] == []  # no refused request, no note
    assert [shape(r) for r in requests[4:6]] == [(False, "json_object"), (False, "json_object")]
    row = shown["settings"]["endpoint_memory"]
    assert row["value"] == "structured_output json_object, tool_rounds plain" and "--reprobe forgets" in row["source"]
    assert again["usage"]["model_calls"] == 4 and len(again["notices"]) == 2  # probed afresh
    assert stale["usage"]["model_calls"] == 4  # a day on: probed afresh
    assert key == f"{url} smollm2" and (memory.stat().st_mode & 0o777) == 0o600


def test_a_fixed_mode_is_never_overridden_by_what_was_remembered(run_triage):
    import json

    with llama_like(lookup_then_answer() * 2) as srv:
        run_triage("ask", "--base-url", srv.base_url, "--model", "m", "--order", "A1002", "x")
        fixed = run_triage("ask", "--json", "--base-url", srv.base_url, "--model", "m", "--order", "A1002", "x",
                           env={"TRIAGE_STRUCTURED_OUTPUT": "off", "TRIAGE_TOOL_ROUNDS": "plain"})
        last = srv.requests[-2:]
    assert json.loads(fixed.out)["usage"]["model_calls"] == 2
    assert [shape(r) for r in last] == [(False, None), (False, None)]  # "off": no response_format at all


def test_a_stream_that_broke_after_its_headers_is_remembered_only_when_it_happens_again(run_triage, triage_env):
    import json

    # llama-cpp-python hangs up after its headers ("empty"): so does a passing network fault, once.
    ask = ("ask", "--json", "--model", "smollm2", "--order", "A1002", "where is it?")
    with ScriptedServer(lookup_then_answer() * 3, stream_tools="empty") as srv:
        calls = [json.loads(run_triage(*ask, "--base-url", srv.base_url).out)["usage"]["model_calls"] for _ in range(3)]
        shown = json.loads(run_triage("config", "--json", "--base-url", srv.base_url, "--model", "smollm2").out)
    assert calls == [3, 3, 2]  # probed in the first two runs (one broken stream each); plain from the third
    assert shown["settings"]["endpoint_memory"]["value"] == "tool_rounds plain"
