"""`triage mcp`'s open_ticket and get_ticket against what a careless or hostile agent may send: a
ticket field within the HTTP API's limits, no secret stored, a ticket id no ticket can have
refused with a clean tool error. A real `triage mcp` process over stdio, the mcp package's client."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from typing import Any

from helpers import free_port, start_listening, stop_process
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


RAW = "\u202e \x85 \x9b31m \u2028 \x1b]0;title\x07"


def test_what_the_tools_return_holds_no_control_bidi_or_escape_characters(triage_env):
    [(failed, opened)] = asyncio.run(calls(params(triage_env), ("open_ticket", {"summary": f"late {RAW} parcel"})))
    assert not failed, opened
    [(_, shown), (_, listed)] = asyncio.run(calls(params(triage_env), ("get_ticket", {"ticket_id": json.loads(opened)["id"]}),
                                                  ("list_tickets", {})))
    for text in (opened, shown, listed):
        assert not any(ch in text for ch in "\u202e\x85\x9b\u2028\x1b\x07"), text
        assert "late" in text and "parcel" in text


def test_request_text_in_the_http_servers_log_is_escaped(triage_env, tmp_path):
    port = free_port()
    log = tmp_path / "mcp.log"
    process = start_listening(["-m", "triage_cli", "mcp", "--http", str(port)], port, env=triage_env, log=log)
    try:
        for header in (b"Host: evil\xc2\x9b31mRED\xc2\x85x", b"Origin: http://evil\xc2\x9b2J\xe2\x80\xae"):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(b"POST /mcp HTTP/1.1\r\n" + (header if header.startswith(b"Host") else
                             b"Host: 127.0.0.1\r\n" + header) + b"\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 2\r\n\r\n{}")
                assert sock.recv(4096).split(b" ", 2)[1] in (b"421", b"403", b"400")
    finally:
        stop_process(process)
    written = log.read_bytes()
    assert b"Invalid" in written  # the server said why it refused
    for raw in (b"\xc2\x9b", b"\xc2\x85", b"\xe2\x80\xae", b"\x1b"):
        assert raw not in written
