"""`fallback = "offline"` (issue 27): when the model cannot be reached or fails before its answer
begins, the rules answer, said in a notice, with `provider: offline` in `--json` and in the
stored turn; never when the model had begun its answer; off by default. The real CLI and the real
openai SDK, against an address nothing listens on or the scripted server."""

from __future__ import annotations

import json

from scripted_server import Reply, ScriptedServer, error

AWAY = {"OPENAI_API_KEY": "sk-test-not-a-real-key", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "TRIAGE_RETRIES": "0"}


def test_an_unreachable_model_gets_the_rules_answer_marked_as_such(run_triage):
    result = run_triage("ask", "--json", "--order", "A1002", "where is it?", env={**AWAY, "TRIAGE_FALLBACK": "offline"})

    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["provider"] == "offline" and report["model"] is None and report["error"] is None
    assert report["triage"]["order_id"] == "A1002" and report["triage"]["next_step"] == "answer"
    assert "A1002" in report["reply"] and report["tool_calls"][0]["name"] == "get_order_status"
    [notice] = report["notices"]
    assert notice.startswith("The model failed, so the offline rules engine answered: cannot connect to openai")
    [stored] = json.loads(run_triage("history", "--json").out)
    assert stored["turns"][0]["state"] == "complete"
    shown = json.loads(run_triage("history", "export", str(stored["id"]), "--format", "json").out)
    assert shown["turns"][0]["provider"] == "offline"


def test_events_say_who_answered_and_a_server_error_falls_back_too(run_triage):
    with ScriptedServer([error(503, "overloaded")]) as server:
        env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url, "TRIAGE_RETRIES": "0",
               "TRIAGE_FALLBACK": "offline"}
        result = run_triage("ask", "--events", "--order", "A1009", "where is my watch?", env=env)
    assert result.code == 0, result.err
    events = [json.loads(line) for line in result.out.splitlines()]
    assert events[0]["type"] == "notice" and "503" in events[0]["message"]
    done = next(e for e in events if e["type"] == "done")
    assert done["answered_by"] == "offline"
    record = next(e for e in events if e["type"] == "triage")
    assert record["next_step"] == "escalate"  # the rules' answer: a lost parcel
    assert not any(e["type"] == "error" for e in events)


def test_without_the_setting_the_failure_is_the_answer(run_triage):
    result = run_triage("ask", "--json", "--order", "A1002", "where is it?", env=AWAY)
    assert result.code == 1 and json.loads(result.out)["provider"] == "openai"


def test_never_after_the_model_began_its_answer(run_triage):
    failing = Reply(content=json.dumps({"reply": "Order A1002 is " + "late " * 40}), error_after=10)
    with ScriptedServer([failing]) as server:
        env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url, "TRIAGE_FALLBACK": "offline"}
        result = run_triage("ask", "--json", "--order", "A1002", "where is it?", env=env)
    report = json.loads(result.out)
    assert result.code == 1 and report["provider"] == "openai" and report["error"]
    assert report["reply"].startswith("Order A1") and not any("offline" in n for n in report["notices"])


def test_a_failure_after_a_tool_round_counts_the_calls_and_keeps_one_answer_in_the_history(run_triage):
    from scripted_server import tools

    with ScriptedServer([tools(("get_order_status", {"order_id": "A1002"})), error(503, "overloaded")]) as server:
        env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url, "TRIAGE_RETRIES": "0",
               "TRIAGE_FALLBACK": "offline"}
        result = run_triage("ask", "--json", "where is A1002?", env=env)
    report = json.loads(result.out)
    assert result.code == 0 and report["provider"] == "offline" and report["triage"]["order_id"] == "A1002"
    assert report["usage"]["model_calls"] == 2 and report["usage"]["prompt_tokens"] > 0  # the model's calls count
    [stored] = json.loads(run_triage("history", "--json").out)
    turn = json.loads(run_triage("history", "export", str(stored["id"]), "--format", "json").out)["turns"][0]
    roles = [m["role"] for m in turn["messages"]]
    assert roles.count("user") == 1 and roles[-1] == "assistant" and "[interrupted]" not in turn["reply"]
    assert roles.count("tool") == 1  # the rules' own lookup; the model's unanswered round is gone
