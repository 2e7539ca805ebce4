"""Running one round of tool calls: concurrently, reporting each call as it starts and ends."""

from __future__ import annotations

import asyncio
from typing import Any

from triage_cli.engine.events import EventStream, ToolCall, ToolFinished, ToolStarted
from triage_cli.tools.registry import ToolRegistry


async def run_tool_round(
    registry: ToolRegistry, calls: tuple[ToolCall, ...], results: dict[str, str]
) -> EventStream:
    """Run `calls` at once; fill `results` (call id -> text for the model) as each finishes."""
    for call in calls:
        yield ToolStarted(call.id, call.name, call.arguments)
    pending = {asyncio.ensure_future(registry.call(c.name, c.arguments)): c for c in calls}
    try:
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                call = pending.pop(task)
                outcome = task.result()
                results[call.id] = outcome.content
                yield ToolFinished(call.id, call.name, outcome.ok, outcome.content, outcome.duration_ms)
    finally:
        for task in pending:
            task.cancel()


def round_messages(text: str, calls: tuple[ToolCall, ...], results: dict[str, str]) -> list[dict[str, Any]]:
    """The assistant message asking for `calls` and one tool message per result, in call order."""
    assistant = {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
        ],
    }
    return [assistant] + [{"role": "tool", "tool_call_id": c.id, "content": results[c.id]} for c in calls]
