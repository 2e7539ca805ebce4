"""`triage mcp`'s open_ticket and get_ticket against what a careless or hostile agent may send: a
ticket field within the HTTP API's limits, no secret stored, a ticket id no ticket can have
refused with a clean tool error. A real `triage mcp` process over stdio, the mcp package's client."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from triage_cli.limits import MAX_ISSUE_CHARS, MAX_MESSAGE_CHARS, MAX_ORDER_STATUS_CHARS, MAX_SUMMARY_CHARS
from triage_cli.redaction import new_agent_token

KEY = "sk-mcp-secret-0123456789"
SERVER_TOKEN = "server-token-0123456789"
AGENT_TOKEN = new_agent_token()
TEN_MB = "x" * (10 * 1024 * 1024)


def params(triage_env: dict[str, str]) -> Any:
    from mcp import StdioServerParameters

    # PYTHONPATH too: the server runs the triage_cli this test imports.
    env = {k: triage_env[k] for k in ("TRIAGE_HOME", "TRIAGE_CONFIG", "PATH", "PYTHONPATH") if k in triage_env}
    env |= {"OPENAI_API_KEY": KEY, "TRIAGE_SERVER_TOKEN": SERVER_TOKEN}
    return StdioServerParameters(command=sys.executable, args=["-m", "triage_cli", "mcp"], env=env)


async def calls(server: Any, *called: tuple[str, dict[str, Any]]) -> list[tuple[bool, str]]:
    from mcp import Client

    async with Client(server) as client:
        results = [await client.call_tool(name, arguments) for name, arguments in called]
    return [(bool(result.is_error), result.content[0].text) for result in results]


def test_open_ticket_stores_no_key_token_or_agent_token(triage_env, run_triage):
    fields = {"summary": f"Customer pasted {KEY} in the chat", "issue": f"t {SERVER_TOKEN}",
              "customer_message": f"my token is {AGENT_TOKEN}, key {KEY}", "order_status": f"s {KEY}"}
    [(failed, opened)] = asyncio.run(calls(params(triage_env), ("open_ticket", fields)))
    assert not failed, opened
    listed = run_triage("tickets", "show", str(json.loads(opened)["id"]), "--json")
    stored = listed.out + opened
    assert listed.code == 0 and "[redacted]" in listed.out
    for secret in (KEY, SERVER_TOKEN, AGENT_TOKEN):
        assert secret not in stored


def test_fields_past_the_limits_and_impossible_ticket_ids_are_clean_tool_errors(triage_env, run_triage):
    summary = {"summary": "late parcel"}
    found = asyncio.run(calls(
        params(triage_env),
        ("open_ticket", {"summary": TEN_MB}),
        ("open_ticket", {**summary, "customer_message": TEN_MB}),
        ("open_ticket", {**summary, "issue": "x" * (MAX_ISSUE_CHARS + 1)}),
        ("open_ticket", {**summary, "order_status": "x" * (MAX_ORDER_STATUS_CHARS + 1)}),
        ("open_ticket", {**summary, "order_id": TEN_MB}),
        ("get_ticket", {"ticket_id": 10**30}), ("get_ticket", {"ticket_id": -1}), ("get_ticket", {"ticket_id": 0}),
        ("open_ticket", {"summary": "x" * MAX_SUMMARY_CHARS, "customer_message": "x" * MAX_MESSAGE_CHARS}),
    ))
    *refused, (at_limits_failed, _) = found
    prefix = "Error executing tool "
    assert [text.split(":", 1)[1].split("(")[0].strip() for _, text in refused] == [
        f"summary is longer than {MAX_SUMMARY_CHARS:,} characters",
        f"customer_message is longer than {MAX_MESSAGE_CHARS:,} characters",
        f"issue is longer than {MAX_ISSUE_CHARS} characters",
        f"order_status is longer than {MAX_ORDER_STATUS_CHARS} characters",
        "order_id is longer than 100 characters",
        *["ticket_id must be a ticket's number, from 1 to 9223372036854775807"] * 3]
    assert all(failed and text.startswith(prefix) and "Traceback" not in text for failed, text in refused)
    assert not at_limits_failed
    assert len(json.loads(run_triage("tickets", "--json").out)) == 1  # only the ticket within the limits
