"""Tools the engine may call: a schema from each function's signature and docstring (or one given,
for a remote tool), argument validation, a timeout, approval for a tool that acts, and errors
turned into text a model can act on."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, get_type_hints

from triage_cli.nested import map_strings

_JSON_TYPES: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
MAX_RESULT_CHARS = 16_000


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]
    read_only: bool = True  # it only looks things up; a tool that acts runs only once approved
    server: str = ""  # the MCP server it comes from ("" for triage's own)
    approved: bool = False  # listed in its server's `allow`: runs without asking

    def schema(self) -> dict[str, Any]:
        """The entry for the `tools` list of a chat-completion request."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass(frozen=True)
class ToolOutcome:
    ok: bool
    content: str  # what the model reads: JSON data, or one sentence saying what went wrong
    duration_ms: float


# Asked before a tool that acts runs: (tool name, its arguments as JSON) -> run it?
Approver = Callable[[str, str], Awaitable[bool]]


class ToolRegistry:
    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.approver: Approver | None = None  # None: nobody to ask (ask, serve), so refused
        self._tools: dict[str, Tool] = {}

    def register(self, function: Callable[..., Any], *, name: str | None = None) -> Tool:
        tool = describe(function, name=name)
        self._tools[tool.name] = tool
        return tool

    def add(self, tool: Tool) -> Tool:
        """A tool with its own JSON schema (a remote tool's)."""
        self._tools[tool.name] = tool
        return tool

    def remove(self, name: str) -> None:
        self._tools.pop(name, None)

    def tools(self) -> list[Tool]:
        return list(self._tools.values())

    def schemas(self) -> list[dict[str, Any]]:
        return [tool.schema() for tool in self._tools.values()]

    async def call(self, name: str, arguments: str) -> ToolOutcome:
        """Run one tool call. Never raises for the call's own faults: they come back as text."""
        started = time.perf_counter()
        try:
            tool = self._tools.get(name)
            if tool is None:
                raise _CallError(f"unknown tool '{name}'; available tools: {', '.join(self._tools)}")
            kwargs = _validate(tool, arguments)
            await self._check_approval(tool, arguments)
            result = await asyncio.wait_for(_invoke(tool.function, kwargs), self.timeout)
            ok, content = True, _to_text(result)
        except _CallError as exc:
            ok, content = False, f"error: {exc}"
        except TimeoutError:
            ok, content = False, f"error: tool '{name}' timed out after {self.timeout:g} s"
        except Exception as exc:  # a tool's own failure is data for the model, not a crash
            ok, content = False, f"error: tool '{name}' failed: {exc}"
        return ToolOutcome(ok, content, (time.perf_counter() - started) * 1000)

    async def _check_approval(self, tool: Tool, arguments: str) -> None:
        """A tool that acts runs once the user says yes (chat) or its server's `allow` lists it."""
        if tool.read_only or tool.approved:
            return
        if self.approver is None:
            raise _CallError(f"'{tool.name}' changes data and is not allowed here: only tools that read run "
                             "without approval (its server's allow list can permit it)")
        if not await self.approver(tool.name, arguments):
            raise _CallError(f"the user did not approve running '{tool.name}'; do not retry it, "
                             "say what you could not do")


class _CallError(Exception):
    pass


def describe(function: Callable[..., Any], *, name: str | None = None) -> Tool:
    """Build a Tool from a function: its docstring's first paragraph is the description, an
    `Args:` section describes the parameters, and the type hints give their JSON types."""
    doc = inspect.getdoc(function) or ""
    summary, _, rest = doc.partition("\n\n")
    arg_docs = dict(re.findall(r"^\s{2,}(\w+)(?:\s*\([^)]*\))?:\s*(.+)$", rest, flags=re.MULTILINE))
    hints = get_type_hints(function)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in inspect.signature(function).parameters.values():
        json_type = _JSON_TYPES.get(hints.get(parameter.name, str), "string")
        properties[parameter.name] = {"type": json_type}
        if parameter.name in arg_docs:
            properties[parameter.name]["description"] = arg_docs[parameter.name].strip()
        if parameter.default is inspect.Parameter.empty:
            required.append(parameter.name)
    parameters = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    return Tool(name or function.__name__, " ".join(summary.split()), parameters, function)


def _validate(tool: Tool, arguments: str) -> dict[str, Any]:
    try:
        kwargs = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError as exc:
        raise _CallError(f"arguments are not valid JSON ({exc.msg}); send a JSON object") from None
    if not isinstance(kwargs, dict):
        raise _CallError("arguments must be a JSON object")
    properties: dict[str, Any] = tool.parameters.get("properties") or {}
    unknown = sorted(set(kwargs) - set(properties))
    if unknown and tool.parameters.get("additionalProperties") is False:
        raise _CallError(f"unknown argument(s) {', '.join(unknown)}; expected {', '.join(properties)}")
    missing = [p for p in tool.parameters.get("required") or () if p not in kwargs]
    if missing:
        raise _CallError(f"missing required argument(s): {', '.join(missing)}")
    for key, value in kwargs.items():
        expected = (properties.get(key) or {}).get("type") if isinstance(properties.get(key), dict) else None
        if isinstance(expected, str) and not _has_json_type(value, expected):
            article = "an" if expected[0] in "aeiou" else "a"
            raise _CallError(f"argument '{key}' must be {article} {expected}, got {json.dumps(value)[:40]}")
    return kwargs


def _has_json_type(value: Any, expected: str) -> bool:
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    python_type = {"string": str, "boolean": bool, "object": dict, "array": list}.get(expected)
    return python_type is None or isinstance(value, python_type)


async def _invoke(function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(function):
        return await function(**kwargs)
    # Blocking tools (SQLite) run in threads, so the calls of one round overlap.
    return await asyncio.to_thread(function, **kwargs)


def _to_text(result: Any) -> str:
    """The result as the model reads it, at most about MAX_RESULT_CHARS long. Data stays valid
    JSON: its longest strings are shortened (a 10 MB note), never the JSON text itself."""
    if isinstance(result, str):
        return _cut(result, MAX_RESULT_CHARS)
    text = json.dumps(result, ensure_ascii=False, default=str)
    budget = MAX_RESULT_CHARS // 2
    while len(text) > MAX_RESULT_CHARS and budget >= 64:
        text = json.dumps(map_strings(result, partial(_cut, limit=budget)), ensure_ascii=False, default=str)
        budget //= 2
    return _cut(text, MAX_RESULT_CHARS)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [truncated: {len(text) - limit} more characters]"
