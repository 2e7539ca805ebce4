"""`triage mcp` (issue 18) exercised by the mcp package's own client, over stdio and streamable
HTTP; `triage tools`; and chat's approval prompt for a tool that acts, in a pty."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pexpect

from helpers import CHAT_TIMEOUT, MCP_TEST_SERVER, PROMPT, free_port, plain, start_listening, stop_process
from scripted_server import ScriptedServer, text, tools


async def use_triage(server: Any) -> dict[str, Any]:
    from mcp import Client

    async with Client(server) as client:
        listed = (await client.list_tools()).tools
        order = await client.call_tool("get_order_status", {"order_id": "A1002"})
        opened = await client.call_tool("open_ticket", {"summary": "Customer asks for a call back",
                                                        "order_id": "a1002", "issue": "late"})
        missing = await client.call_tool("get_ticket", {"ticket_id": 999})
        not_an_id = await client.call_tool("get_order_status", {"order_id": "!!"})
        empty = await client.call_tool("open_ticket", {"summary": "  "})
        return {
            "refused": [(r.is_error, r.content[0].text) for r in (not_an_id, empty)],
            "tools": {t.name: bool(t.annotations and t.annotations.read_only_hint) for t in listed},
            "described": all(t.description and t.input_schema.get("type") == "object" for t in listed),
            "order": order.content[0].text, "opened": json.loads(opened.content[0].text),
            "missing": (missing.is_error, missing.content[0].text),
        }


def check_served(found: dict[str, Any]) -> None:
    assert found["tools"] == {"get_order_status": True, "list_tickets": True, "get_ticket": True,
                              "open_ticket": False}
    assert found["described"]
    assert "weather" in found["order"] and '"delayed"' in found["order"]
    assert found["opened"]["order_id"] == "A1002" and found["opened"]["status"] == "open"
    assert found["missing"] == (True, "Error executing tool get_ticket: no ticket 999")
    # The reason reaches the client, not only the server's log; an empty ticket is not opened.
    assert found["refused"] == [
        (True, "Error executing tool get_order_status: '!!' is not an order id; order ids look like A1002"),
        (True, "Error executing tool open_ticket: summary must say what happened and what is needed")]


def test_triage_mcp_over_stdio_serves_orders_and_tickets(triage_env: dict[str, str], run_triage: Any) -> None:
    from mcp import StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=["-m", "triage_cli", "mcp"],
                                   env={k: triage_env[k] for k in ("TRIAGE_HOME", "TRIAGE_CONFIG", "PYTHONPATH")
                                        if k in triage_env})
    check_served(asyncio.run(use_triage(params)))
    listed = run_triage("tickets", "--json")
    assert listed.code == 0
    assert [(t["order_id"], t["summary"]) for t in json.loads(listed.out)] == [
        ("A1002", "Customer asks for a call back")]


def test_triage_mcp_over_http_on_loopback(triage_env: dict[str, str], run_triage: Any) -> None:
    port = free_port()
    process = start_listening(["-m", "triage_cli", "mcp", "--http", str(port)], port, env=triage_env)
    try:
        check_served(asyncio.run(use_triage(f"http://127.0.0.1:{port}/mcp")))
        taken = run_triage("mcp", "--http", str(port))  # the port is in use: one line, exit 2
        assert (taken.code, taken.err) == (2, f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n")
    finally:
        stop_process(process)


def test_triage_tools_lists_tools_servers_and_what_runs_freely(
        triage_env: dict[str, str], run_triage: Any) -> None:
    Path(triage_env["TRIAGE_CONFIG"]).write_text(
        f'[mcp_servers.crm]\ncommand = "{sys.executable}"\nargs = ["{MCP_TEST_SERVER}"]\nallow = ["refund"]\n'
        '[mcp_servers.gone]\ncommand = "/nonexistent/mcp"\n')
    result = run_triage("tools", "--json")
    assert result.code == 0, result.err
    found = json.loads(result.out)
    runs = {t["name"]: (t["server"], t["runs"]) for t in found["tools"]}
    assert runs["get_order_status"] == ("triage", "freely")
    assert runs["crm__lookup_customer"] == ("crm", "freely")
    assert runs["crm__refund"] == ("crm", "allowed")
    assert runs["crm__notes"] == ("crm", "after approval")
    assert [(s["name"], s["state"]) for s in found["servers"]] == [("crm", "ready"), ("gone", "failed")]
    assert result.err == ""  # the failed server's notice is in the listing, nothing on the terminal
    lines = run_triage("tools").out
    assert "crm__notes" in lines and "runs after approval" in lines
    assert "MCP server gone (stdio): failed: No such file or directory" in lines


def test_chat_asks_before_a_tool_that_acts_and_no_is_the_default(
        spawn_chat: Any, server: ScriptedServer, model_env: dict[str, str], triage_env: dict[str, str]) -> None:
    Path(triage_env["TRIAGE_CONFIG"]).write_text(
        f'mcp_connect_timeout = 120\n[mcp_servers.crm]\ncommand = "{sys.executable}"\nargs = ["{MCP_TEST_SERVER}"]\n')
    server.add(tools(("crm__refund", {"order_id": "A1002"})), text("Refund done. Next step: answer."),
               tools(("crm__refund", {"order_id": "A1003"})), text("Not refunded. Next step: answer."))
    child = spawn_chat(model_env)

    child.sendline("Refund A1002 please")
    child.expect(r"Run crm__refund with \{\"order_id\": \"A1002\"\}\? \[y/N\]", timeout=CHAT_TIMEOUT * 3)
    child.sendline("y")
    child.expect("Refund done")
    child.expect(PROMPT)
    child.sendline("Refund A1003 too")
    child.expect(r"Run crm__refund with \{\"order_id\": \"A1003\"\}\? \[y/N\]")
    child.sendline("")  # Enter alone: the default, no
    child.expect("Not refunded")
    child.expect(PROMPT)
    shown = plain(child.before)
    child.sendline("/tools")
    child.expect("MCP server crm")
    listing = plain(child.before + child.after)
    child.expect(PROMPT)
    listing += plain(child.before)
    child.sendline("exit")
    child.expect(pexpect.EOF)

    results = [m["content"] for r in server.requests for m in r["messages"] if m["role"] == "tool"]
    assert any("refunded A1002" in r for r in results)
    assert any("did not approve" in r for r in results) and not any("refunded A1003" in r for r in results)
    assert "Traceback" not in shown
    assert "crm__refund" in listing and "runs after approval" in listing and "(stdio): ready" in listing
