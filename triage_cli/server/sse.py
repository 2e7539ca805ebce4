"""The engine's events as Server-Sent Events: the name and payload each one has on the wire, and
the bytes of one SSE message. Payload keys follow the common vocabulary SSE chat clients parse
(`content`, `tool_calls`, `tool_executing`, `tool_result`, `done`, `error`). Every payload is one
line of JSON with control, C1 and bidi characters escaped, so nothing raw reaches a client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, assert_never

from triage_cli.engine.events import (
    Done, Error, Event, Notice, ReasoningDelta, TextDelta, ToolCallsPlanned, ToolFinished, ToolStarted, TriageRecord,
    Usage,
)
from triage_cli.sanitize import json_text

KEEP_ALIVE = b": keep-alive\n\n"
LARGE_RESULT_CHARS = 4_000  # a result this long is flagged, so a UI can fold it


def frame(name: str, data: dict[str, Any], number: int) -> bytes:
    """One SSE message: `event:`, `id:` (its number in this stream) and one `data:` line."""
    return f"event: {name}\nid: {number}\ndata: {json_text(data)}\n\n".encode()


def payload(event: Event, conversation_id: int | None, redact: Callable[[str], str]) -> tuple[str, dict[str, Any]]:
    """The SSE name and data of `event`; every string a model, tool or customer wrote passes `redact`."""
    match event:
        case TextDelta(text=text):
            return "content", {"content": redact(text)}
        case ReasoningDelta(text=text):
            return "reasoning", {"content": redact(text)}
        case ToolCallsPlanned():
            tools = [{"id": call.id, "name": call.name, "arguments": _arguments(redact(call.arguments))}
                     for call in event.calls]
            return "tool_calls", {"tools": tools, "iteration": event.round}
        case ToolStarted():
            return "tool_executing", {"tool": event.name, "id": event.call_id}
        case ToolFinished():
            result = redact(event.result)
            return "tool_result", {"tool": event.name, "id": event.call_id, "result": result,
                                   "is_large": len(result) > LARGE_RESULT_CHARS}
        case TriageRecord():
            record = {key: redact(value) if isinstance(value, str) else value
                      for key, value in event.to_dict().items() if key != "type"}
            return "triage", record
        case Usage():
            fields = event.to_dict()
            fields.pop("type")
            fields["tokens"] = event.prompt_tokens + event.completion_tokens
            return "usage", fields
        case Notice():
            # The hint apart: it is about the server's own settings, which a client may not show.
            return "notice", {"message": redact(event.text), "hint": redact(event.hint)}
        case Done():
            return "done", {"content": redact(event.reply), "conversation_id": conversation_id}
        case Error():
            return "error", {"message": redact(event.message), "code": event.kind}
        case _:
            assert_never(event)


def _arguments(text: str) -> Any:
    """The arguments as data when they are a JSON object, else the model's text as it was."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, dict) else text
