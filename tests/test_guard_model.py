"""Triage owns the decision (issue 23): whatever a careless model says, the record's order id and
status are the lookups', a refund, damage or wrong-item request escalates, and the summary is
never the lookup's raw JSON. The real CLI and the real openai SDK against the scripted server."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from scripted_server import Reply, ScriptedServer, answer, text, tools
from triage_cli.config import load_settings
from triage_cli.engine.intents import topics
from triage_cli.eval.cases import load_cases
from triage_cli.eval.runner import run_cases

TOOL = "get_order_status"
_ID = re.compile(r"\b[A-Z]\d{4}\b")
# What an offline escalation names when it needs no classifier: a topic the rules read, or the data.
NAMED = {topic.name for topic in topics()} | {"order not found", "lost parcel", "order system unavailable"}


def careless(step: str, *, status: str = "status value", structured: bool = True):
    """A model that looks up every id in the question, then says `step` whatever it found,
    with a made-up status."""

    def reply(body: dict, index: int) -> Reply:
        messages = body["messages"]
        if messages[-1]["role"] != "tool":
            question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
            ids = list(dict.fromkeys(_ID.findall(question)))
            if ids:
                return tools(*((TOOL, {"order_id": order_id}) for order_id in ids))
        prose = f"Here is what the order system says.\n\n**Next step:** {step}"
        if not structured:
            return text(prose)
        return answer(prose, order_id="A0000", issue="order status", status=status, next_step=step,
                      summary="Nothing to worry about.")

    return reply


def ask_json(run_triage, env: dict[str, str], *args: str) -> dict:
    result = run_triage("ask", "--json", *args, env=env)
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.fixture
def env_for():
    servers: list[ScriptedServer] = []

    def start(script) -> dict[str, str]:
        server = ScriptedServer(script).start()
        servers.append(server)
        return {"OPENAI_API_KEY": "sk-test-not-a-real-key", "OPENAI_BASE_URL": server.base_url}

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("message, topics", [
    ("A1002 please refund now", {"refund"}),
    ("The headphones from A1003 arrived broken, I want my money back", {"refund", "damage"}),
    ("You sent me the wrong jacket in A1008", {"wrong item"}),
])
def test_a_model_that_always_answers_cannot_keep_a_request_from_escalating(run_triage, env_for, message, topics):
    report = ask_json(run_triage, env_for(careless("answer")), message)

    record = report["triage"]
    assert record["next_step"] == "escalate" and record["ticket"] is not None
    assert topics <= set(re.split(r", | and ", record["issue"]))
    assert record["guard"] and all(topic in record["guard"] for topic in topics)
    assert any(notice.startswith("Triage escalated this answer; the model said answer")
               for notice in report["notices"])
    assert "(this overrides the next step above)" in report["reply"]
    [ticket] = json.loads(run_triage("tickets", "--json").out)
    assert ticket["id"] == record["ticket"]
    shown = run_triage("history", "show")  # the stored record says so again when replayed
    assert "Guard: escalated; the model said answer, but the customer asks about" in shown.out


def test_the_guard_off_leaves_the_model_its_answer_but_never_a_missing_order(run_triage, env_for):
    env = {**env_for(careless("answer")), "TRIAGE_POLICY_GUARD": "off"}
    assert ask_json(run_triage, env, "A1002 please refund now")["triage"]["next_step"] == "answer"
    missing = ask_json(run_triage, env, "Where is A9999?")["triage"]
    assert missing["next_step"] == "escalate" and "A9999" in missing["guard"]


def test_a_model_that_always_escalates_is_left_escalating(run_triage, env_for):
    report = ask_json(run_triage, env_for(careless("escalate")), "Where is A1005?")
    assert report["triage"]["next_step"] == "escalate" and report["triage"]["guard"] is None
    assert not any("Triage escalated" in notice for notice in report["notices"])


def test_the_records_status_is_the_lookups_not_the_models(run_triage, env_for):
    record = ask_json(run_triage, env_for(careless("answer", status="shipped and fine")), "Where is A1002?")["triage"]
    assert (record["order_id"], record["status"], record["next_step"]) == ("A1002", "delayed", "answer")


def test_a_model_without_structured_output_or_record_line_gets_triages_summary(run_triage, env_for):
    def pasting(body: dict, index: int) -> Reply:
        if body["messages"][-1]["role"] != "tool":
            return tools((TOOL, {"order_id": "A1005"}))
        lookup = body["messages"][-1]["content"]  # the raw JSON, pasted into the reply, no trailer
        return text(f"{lookup} . It is on its way.")

    env = {**env_for(pasting), "TRIAGE_STRUCTURED_OUTPUT": "off"}
    record = ask_json(run_triage, env, "Where is A1005?")["triage"]
    assert record["summary"] == "A1005 is in transit. Next step: answer."
    assert "{" not in record["summary"] and "found" not in record["summary"]
    assert (record["order_id"], record["status"]) == ("A1005", "in_transit")


def run_part(settings, cases):
    return {result.case.id: result.trials[0] for result in asyncio.run(run_cases(settings, cases, concurrency=8))}


def test_every_clear_escalation_in_the_shipped_sets_escalates_and_status_questions_answer(triage_env):
    """Behind a model that always says answer, triage's guard escalates every case the rules read
    a named request or problem in (or whose order is missing or lost), and adds no escalation to a
    question the rules answer."""
    cases = [case for part in ("test", "blind4") for case in load_cases(part)]
    offline = run_part(load_settings({"provider": "offline"}), cases)
    with ScriptedServer(careless("answer")) as server:
        settings = load_settings({"provider": "custom", "base_url": server.base_url, "model": "careless"})
        guarded = run_part(settings, cases)

    clear = [case for case in cases if case.next_step == "escalate" and offline[case.id].next_step == "escalate"
             and set(re.split(r", | and ", offline[case.id].issue or "")) <= NAMED]
    answered = [case for case in cases if case.next_step == "answer" and offline[case.id].next_step == "answer"]
    assert len(clear) > 100 and len(answered) > 100
    assert [c.id for c in clear if guarded[c.id].next_step != "escalate"] == []
    assert [c.id for c in answered if guarded[c.id].next_step != "answer"] == []
    assert all(guarded[c.id].error is None for c in cases)
