"""What tools the engine has: `/tools` in chat and `triage tools [--json]`. Each tool with its
server and whether it runs freely, and each MCP server's state."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from triage_cli.config import Settings
from triage_cli.session import TriageSession
from triage_cli.sanitize import one_line


def catalog_lines(catalog: dict[str, Any]) -> list[str]:
    """Plain lines (server text sanitized) for a terminal."""
    tools = catalog["tools"]
    width = max((len(t["name"]) for t in tools), default=4)
    lines = [f"{one_line(t['name']):<{width}}  {one_line(t['server'])} · runs {t['runs']}" for t in tools]
    for server in catalog["servers"]:
        state = server["state"] + (f": {server['problem']}" if server["problem"] else "")
        lines.append(f"MCP server {one_line(server['name'])} ({server['transport']}): {one_line(state)}, "
                     f"{server['tools']} tool{'' if server['tools'] == 1 else 's'}")
    if not catalog["servers"]:
        lines.append("no MCP server configured ([mcp_servers.NAME] or mcp_config in the config file)")
    return lines


def run_tools(settings: Settings, *, as_json: bool) -> int:
    """`triage tools`: connect the configured servers (as an answer would), list, close."""

    async def catalog() -> dict[str, Any]:
        async with TriageSession(settings, source="ask", keep=False) as session:
            return await session.tool_catalog()

    found = asyncio.run(catalog())
    if as_json:
        print(json.dumps(found, indent=2, ensure_ascii=False))
    else:
        print("\n".join(catalog_lines(found)))
    return 0
