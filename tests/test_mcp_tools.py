"""Tools from MCP servers (issue 18), in-process through the session layer: a real MCP server
(tests/mcp_test_server.py, written with the mcp package) over stdio and over streamable HTTP, the
scripted model asking for its tools, what runs freely and what is refused, and every way a server
fails: one notice each, and the session goes on with the other tools."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import MCP_TEST_SERVER, free_port, start_listening, stop_process
from scripted_server import ScriptedServer, answer, tools
from triage_cli.config import Settings, load_settings
from triage_cli.engine.events import Event, Notice, ToolFinished
from triage_cli.errors import ConfigError
from triage_cli.session import TriageSession
from triage_cli.session.build import mcp_servers
from triage_cli.tools.mcp_client import prefixed_name
from triage_cli.tools.mcp_config import servers_from_json

STDIO = f'command = "{sys.executable}"\nargs = ["{MCP_TEST_SERVER}"]\n'
LONG = "look_up_the_complete_purchase_history_of_a_customer_by_email_address"


@pytest.fixture(scope="module")
def http_mcp() -> Iterator[str]:
    """The test MCP server over streamable HTTP, started once for the module."""
    port = free_port()
    process = start_listening([str(MCP_TEST_SERVER), "--http", str(port)], port)
    yield f"http://127.0.0.1:{port}/mcp"
    stop_process(process)


def settings_with(triage_env: dict[str, str], config: str, extra_env: dict[str, str] | None = None) -> Settings:
    Path(triage_env["TRIAGE_CONFIG"]).write_text(config)
    return load_settings({"provider": "openai"} if extra_env and "OPENAI_API_KEY" in extra_env else {},
                         environ={**triage_env, **(extra_env or {})})


async def one_turn(settings: Settings, question: str, **kw: Any) -> tuple[list[Event], dict[str, Any]]:
    async with await TriageSession.open(settings, source="ask", keep=False, **kw) as session:
        events = [event async for event in session.ask(question)]
        return events, await session.tool_catalog()


def results(events: list[Event]) -> dict[str, ToolFinished]:
    return {e.name: e for e in events if isinstance(e, ToolFinished)}


def notices(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, Notice)]


def test_a_stdio_servers_tools_reach_the_model_and_only_reading_runs_freely(
        triage_env: dict[str, str], server: ScriptedServer, model_env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_SECRET", "s3cret")  # ${CRM_SECRET} is read when the server starts
    monkeypatch.setenv("UNRELATED", "x")
    long_name = prefixed_name("crm", LONG, set())
    server.add(
        tools(("crm__lookup_customer", {"email": "ada@example.com"}), ("crm__notes", {"order_id": "A1002"}),
              ("crm__refund", {"order_id": "A1002"}), ("crm__huge", {}), ("crm__environment", {}),
              (long_name, {"email": "ada@example.com"})),
        answer("Ada is a VIP.", order_id="A1002", issue="vip", status="delayed", summary="VIP."))
    config = f'[mcp_servers.crm]\n{STDIO}env = {{ CRM_TOKEN = "${{CRM_SECRET}}" }}\nread_only = ["notes"]\n'
    settings = settings_with(triage_env, config, model_env)
    events, catalog = asyncio.run(one_turn(settings, "Who is ada@example.com?"))

    offered = [t["function"]["name"] for t in server.requests[0]["tools"]]
    assert {"get_order_status", "crm__lookup_customer", "crm__refund", long_name} <= set(offered)
    assert len(long_name) <= 64 and long_name.startswith("crm__look_up") and long_name != f"crm__{LONG}"
    done = results(events)
    assert done["crm__lookup_customer"].ok and "Ada Lovelace" in done["crm__lookup_customer"].result
    assert done["crm__notes"].ok and "called twice" in done["crm__notes"].result  # listed in read_only
    assert not done["crm__refund"].ok and "not allowed here" in done["crm__refund"].result  # ask: refused
    assert done[long_name].ok and "history of ada@example.com" in done[long_name].result  # mapped back
    assert "[truncated:" in done["crm__huge"].result and len(done["crm__huge"].result) < 20_000
    names = done["crm__environment"].result.split()
    assert "PATH" in names and "CRM_TOKEN" in names and "UNRELATED" not in names and "OPENAI_API_KEY" not in names
    to_model = {m["tool_call_id"]: m["content"] for m in server.requests[1]["messages"] if m["role"] == "tool"}
    assert any("Ada Lovelace" in text for text in to_model.values())
    assert any("not allowed here" in text for text in to_model.values())
    log = (settings.home / "mcp-logs" / "crm.log").read_text()
    assert "a line on stderr from the CRM" in log  # the server's stderr: to its log, not the terminal
    runs = {t["name"]: t["runs"] for t in catalog["tools"]}
    assert (runs["crm__lookup_customer"], runs["crm__notes"], runs["crm__refund"]) == (
        "freely", "freely", "after approval")
    assert catalog["servers"] == [{"name": "crm", "transport": "stdio", "state": "ready", "problem": "",
                                   "tools": 9}]
    assert notices(events) == []


def test_an_http_server_with_headers_from_the_environment_and_an_allow_list(
        triage_env: dict[str, str], server: ScriptedServer, model_env: dict[str, str], http_mcp: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_TOKEN", "t0ken")
    server.add(tools(("shop__refund", {"order_id": "A1002", "amount": 12.5}), ("shop__broken", {})),
               answer("Refunded.", order_id="A1002", issue="refund", status="delayed", summary="Refunded."))
    config = (f'[mcp_servers.shop]\nurl = "{http_mcp}"\nheaders = {{ Authorization = "Bearer ${{SHOP_TOKEN}}" }}\n'
              'allow = ["refund"]\ntools = ["refund", "broken", "lookup_customer"]\n')
    settings = settings_with(triage_env, config, model_env)
    events, catalog = asyncio.run(one_turn(settings, "Refund A1002"))
    done = results(events)
    assert done["shop__refund"].ok and "refunded A1002" in done["shop__refund"].result  # allowed: runs in ask
    assert not done["shop__broken"].ok and done["shop__broken"].result.startswith("error:")  # isError: text
    assert sorted(t["name"] for t in catalog["tools"] if t["server"] == "shop") == [
        "shop__broken", "shop__lookup_customer", "shop__refund"]  # the allowlist
    assert {t["name"]: t["runs"] for t in catalog["tools"]}["shop__refund"] == "allowed"


def test_servers_that_fail_each_give_one_notice_and_the_answer_goes_on(
        triage_env: dict[str, str], server: ScriptedServer, model_env: dict[str, str]) -> None:
    server.add(tools(("crm__crash", {})), tools(("crm__lookup_customer", {"email": "a@b.c"}), ("junk__slow", {})),
               answer("Done.", order_id="A1002", issue="x", status="delayed", summary="x"),
               answer("Again.", order_id="A1002", issue="x", status="delayed", summary="x"))
    script = f'"{sys.executable}"'
    config = (f"tool_timeout = 1\nmcp_connect_timeout = 120\n"
              f"[mcp_servers.crm]\n{STDIO}"
              f'[mcp_servers.junk]\ncommand = {script}\nargs = ["{MCP_TEST_SERVER}", "--mode", "junk"]\n'
              f'[mcp_servers.broken]\ncommand = {script}\nargs = ["{MCP_TEST_SERVER}", "--mode", "fail"]\n'
              '[mcp_servers.missing]\ncommand = "/nonexistent/crm-mcp"\n'
              '[mcp_servers.nokey]\nurl = "http://127.0.0.1:9/mcp"\nheaders = { X = "${NO_SUCH_VAR_XYZ}" }\n'
              '[mcp_servers.off]\ncommand = "/nonexistent/never-started"\nenabled = false\n')
    settings = settings_with(triage_env, config, model_env)

    async def go() -> tuple[list[Event], list[Event], dict[str, Any]]:
        async with await TriageSession.open(settings, source="ask", keep=False) as session:
            first = [e async for e in session.ask("Look it up")]
            second = [e async for e in session.ask("Again")]
            return first, second, await session.tool_catalog()

    first, second, catalog = asyncio.run(go())
    said = notices(first)
    assert sum("'broken' could not start" in n for n in said) == 1
    assert sum("'missing' could not start" in n and "No such file" in n for n in said) == 1
    assert sum("'nokey' could not start" in n and "NO_SUCH_VAR_XYZ is not set" in n for n in said) == 1
    assert sum("'junk' wrote something that is not MCP" in n for n in said) == 1
    assert sum("'crm' stopped" in n for n in said) == 1
    assert not any("'off'" in n for n in said)
    done = results(first)
    assert not done["crm__crash"].ok
    assert not done["crm__lookup_customer"].ok  # its server stopped: the call is refused, as text
    assert not done["junk__slow"].ok and "timed out after 1 s" in done["junk__slow"].result
    assert notices(second) == []  # said once, not at every answer
    offered = {t["function"]["name"] for t in server.requests[-1]["tools"]}
    assert "crm__lookup_customer" not in offered and "junk__lookup_customer" in offered
    states = {s["name"]: s["state"] for s in catalog["servers"]}
    assert states == {"crm": "stopped", "junk": "ready", "broken": "failed", "missing": "failed",
                      "nokey": "failed", "off": "disabled"}
    assert "cannot read its licence file" in (settings.home / "mcp-logs" / "broken.log").read_text()


def test_a_server_that_hangs_at_start_is_given_up_after_mcp_connect_timeout(
        triage_env: dict[str, str]) -> None:
    config = (f'mcp_connect_timeout = 1\n[mcp_servers.stuck]\ncommand = "{sys.executable}"\n'
              f'args = ["{MCP_TEST_SERVER}", "--mode", "hang"]\n')
    settings = settings_with(triage_env, config)  # the offline engine: the order tool still answers
    events, catalog = asyncio.run(one_turn(settings, "Where is A1002?"))
    assert [n for n in notices(events) if "stuck" in n] == [
        "MCP server 'stuck' could not start: did not answer within 1 s (mcp_connect_timeout); "
        "going on without its tools"]
    assert results(events)["get_order_status"].ok
    assert catalog["servers"][0]["state"] == "failed"


def test_both_json_formats_and_the_tables_read_the_same_servers(tmp_path: Path, triage_env: dict[str, str]) -> None:
    desktop = tmp_path / "claude_desktop_config.json"
    desktop.write_text(json.dumps({"mcpServers": {
        "crm": {"command": "crm-mcp", "args": ["--db", "x"], "env": {"TOKEN": "${T}"}},
        "shop": {"url": "https://shop.example/mcp", "headers": {"Authorization": "Bearer ${S}"}}}}))
    editor = tmp_path / "mcp.json"
    editor.write_text(json.dumps({"servers": {
        "crm": {"type": "stdio", "command": "crm-mcp", "args": ["--db", "x"], "env": {"TOKEN": "${T}"}},
        "shop": {"type": "http", "url": "https://shop.example/mcp", "headers": {"Authorization": "Bearer ${S}"}}}}))
    assert servers_from_json(desktop) == servers_from_json(editor)
    crm, shop = servers_from_json(desktop)
    assert (crm.transport, crm.command, crm.args, dict(crm.env)) == ("stdio", "crm-mcp", ("--db", "x"), {"TOKEN": "${T}"})
    assert (shop.transport, shop.url, dict(shop.headers)) == ("http", "https://shop.example/mcp",
                                                              {"Authorization": "Bearer ${S}"})
    # Through the settings: mcp_config from the environment, and a table of the same name wins.
    settings = settings_with(triage_env, '[mcp_servers.crm]\ncommand = "other"\nread_only = ["notes"]\n',
                             {"TRIAGE_MCP_CONFIG": str(editor)})
    assert [(s.name, s.command) for s in mcp_servers(settings)] == [("crm", "other"), ("shop", None)]
    for bad, message in [({"servers": {"x": {"type": "sse", "url": "u"}}}, "type 'sse'"),
                         ({"mcpServers": {"x": {"args": []}}}, "needs either a command"),
                         ([1], "expected")]:
        editor.write_text(json.dumps(bad))
        with pytest.raises(ConfigError, match=message):
            mcp_servers(settings_with(triage_env, "", {"TRIAGE_MCP_CONFIG": str(editor)}))
    editor.unlink()  # a missing file: an error when the session opens, before any prompt
    with pytest.raises(ConfigError, match=r"mcp_config file not found: .*mcp.json \(from TRIAGE_MCP_CONFIG\)"):
        asyncio.run(TriageSession.open(settings_with(triage_env, "", {"TRIAGE_MCP_CONFIG": str(editor)}),
                                       source="ask"))
    with pytest.raises(ConfigError, match=r"unknown key 'comand' in \[mcp_servers.crm\]"):
        settings_with(triage_env, '[mcp_servers.crm]\ncomand = "x"\n')


def test_prefixed_names_are_valid_openai_names_and_unique() -> None:
    import re

    taken: set[str] = set()
    names = [prefixed_name(server, tool, taken) for server, tool in [
        ("crm", "lookup"), ("my crm", "look.up"), ("crm", "x" * 100), ("crm", "x" * 100 + "y")]]
    for name in names:
        taken.add(name)
    assert names[:2] == ["crm__lookup", "my_crm__look_up"]
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", n) for n in names) and len(set(names)) == 4
    assert prefixed_name("my crm", "look_up", {"my_crm__look_up"}) != "my_crm__look_up"  # a clash is hashed apart


def test_with_no_server_configured_the_mcp_package_is_not_imported(run_triage: Any) -> None:
    code = ("import sys, asyncio; from triage_cli.config import load_settings; from triage_cli.session import "
            "TriageSession\nasync def go():\n    async with await TriageSession.open(load_settings({}), source='ask') "
            "as s:\n        [e async for e in s.ask('Where is A1002?')]\nasyncio.run(go()); "
            "print('mcp' in sys.modules, 'anyio' in sys.modules)")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split()[0] == "False"


def test_the_registry_asks_the_approver_before_a_tool_that_acts_and_validates_a_given_schema() -> None:
    from triage_cli.tools.registry import Tool, ToolRegistry

    asked: list[tuple[str, str]] = []
    answers = iter([True, False])

    async def approver(name: str, arguments: str) -> bool:
        asked.append((name, arguments))
        return next(answers)

    async def refund(**arguments: Any) -> str:
        return f"refunded {arguments['order_id']}"

    schema = {"type": "object", "properties": {"order_id": {"type": "string"}, "lines": {"type": "array"}},
              "required": ["order_id"]}
    registry = ToolRegistry()
    registry.add(Tool("crm__refund", "Refund.", schema, refund, read_only=False, server="crm"))
    registry.approver = approver

    async def go() -> list[Any]:
        return [await registry.call("crm__refund", '{"order_id": "A1002", "extra": 1}'),
                await registry.call("crm__refund", '{"order_id": "A1003"}'),
                await registry.call("crm__refund", '{"order_id": "A1004", "lines": "x"}')]

    yes, no, bad = asyncio.run(go())
    assert yes.ok and yes.content == "refunded A1002"  # no additionalProperties: false, so extra is passed on
    assert not no.ok and "did not approve" in no.content
    assert not bad.ok and "'lines' must be an array" in bad.content  # checked before anyone is asked
    assert asked == [("crm__refund", '{"order_id": "A1002", "extra": 1}'), ("crm__refund", '{"order_id": "A1003"}')]
