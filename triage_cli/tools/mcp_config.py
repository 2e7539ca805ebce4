"""Which MCP servers to connect to: `[mcp_servers.NAME]` tables from config.toml and the JSON files
other assistants use, read as they are. Plain data only: the mcp package is not imported here.

The two JSON formats:

    {"mcpServers": {"crm": {"command": "crm-mcp", "args": [], "env": {}} | {"url": "...", "headers": {}}}}
    {"servers": {"crm": {"type": "stdio" | "http", "command": ..., "url": ...}}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage_cli.errors import ConfigError

TABLE_KEYS = {"command", "args", "env", "cwd", "url", "headers", "tools", "read_only", "allow", "enabled"}


@dataclass(frozen=True)
class McpServer:
    """One server: stdio (`command`) or streamable HTTP (`url`). `tools`: the allowlist (None:
    all); `read_only`: tools that run freely though not annotated read-only; `allow`: tools that
    act and may run without asking (in `ask` and `serve` too)."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    tools: frozenset[str] | None = None
    read_only: frozenset[str] = frozenset()
    allow: frozenset[str] = frozenset()
    enabled: bool = True

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"


def servers_from_tables(tables: Mapping[str, Any], where: str) -> list[McpServer]:
    """The `[mcp_servers.NAME]` tables of config.toml (`where`: the file, for messages)."""
    servers = []
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: [mcp_servers.{name}] must be a table")
        unknown = sorted(set(table) - TABLE_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key '{unknown[0]}' in [mcp_servers.{name}] "
                              f"(one of: {', '.join(sorted(TABLE_KEYS))})")
        servers.append(_server(name, table, f"{where}: [mcp_servers.{name}]"))
    return servers


def servers_from_json(path: Path) -> list[McpServer]:
    """The servers of a desktop assistant's / `.mcp.json` file (`mcpServers`) or an editor's
    (`servers` with a `type`)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"mcp_config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read mcp_config file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno})") from None
    entries = data.get("mcpServers", data.get("servers")) if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise ConfigError(f'{path}: expected {{"mcpServers": {{...}}}} or {{"servers": {{...}}}}')
    servers = []
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: server '{name}' must be an object")
        kind = entry.get("type")
        if kind not in (None, "stdio", "http", "streamable-http", "streamableHttp"):
            raise ConfigError(f"{path}: server '{name}' has type {kind!r}; triage speaks stdio and http")
        known = {key: entry[key] for key in ("command", "args", "env", "cwd", "url", "headers") if key in entry}
        known["enabled"] = not entry.get("disabled", False)
        servers.append(_server(name, known, f"{path}: server '{name}'"))
    return servers


def _server(name: str, table: Mapping[str, Any], where: str) -> McpServer:
    command, url = table.get("command"), table.get("url")
    if bool(command) == bool(url):
        raise ConfigError(f"{where} needs either a command (stdio) or a url (streamable HTTP)")
    for key in ("command", "url", "cwd"):
        if key in table and not isinstance(table[key], str):
            raise ConfigError(f"{where}: '{key}' must be a string")
    if "enabled" in table and not isinstance(table["enabled"], bool):
        raise ConfigError(f"{where}: 'enabled' must be true or false")
    tools = _strings(table, "tools", where)
    return McpServer(
        name=name, command=command, args=tuple(_strings(table, "args", where) or ()),
        env=_string_table(table, "env", where), cwd=table.get("cwd"), url=url,
        headers=_string_table(table, "headers", where), tools=None if tools is None else frozenset(tools),
        read_only=frozenset(_strings(table, "read_only", where) or ()),
        allow=frozenset(_strings(table, "allow", where) or ()), enabled=table.get("enabled", True),
    )


def _strings(table: Mapping[str, Any], key: str, where: str) -> list[str] | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: '{key}' must be a list of strings")
    return value


def _string_table(table: Mapping[str, Any], key: str, where: str) -> dict[str, str]:
    value = table.get(key) or {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"{where}: '{key}' must be a table of strings")
    return dict(value)
