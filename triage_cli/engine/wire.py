"""The events on the wire, declared once: each Event's name and the fields it carries. The SSE
stream of `triage serve` (server/sse.py), `triage ask --events` (the same names and fields, plus
`type`) and the `--server` client's decoder all go through `encode` and `decode`, so the local
and the remote paths cannot drift apart. The names follow the vocabulary SSE chat clients parse
(`content`, `tool_calls`, `tool_executing`, `tool_result`, `done`, `error`); times are rounded to
a tenth of a millisecond, as `--json` rounds them. `decode(*encode(e))` gives `e` back (times as
rounded), for every kind of event (tests/test_wire.py)."""

from __future__ import annotations

import json
from typing import Any, assert_never

from triage_cli.engine.events import (
    Done, Error, Event, Notice, ReasoningDelta, TextDelta, ToolCall, ToolCallsPlanned, ToolFinished, ToolStarted,
    TriageRecord, Usage,
)
from triage_cli.engine.turn_summary import TurnSummary

LARGE_RESULT_CHARS = 4_000  # a result this long is flagged (`is_large`), so a UI can fold it

# Each event's wire name (its `type`), and the fields its payload carries, in order.
FIELDS: dict[str, tuple[str, ...]] = {
    "content": ("content",),
    "reasoning": ("content",),
    "tool_calls": ("tools", "iteration"),
    "tool_executing": ("tool", "id", "arguments"),
    "tool_result": ("tool", "id", "ok", "result", "duration_ms", "is_large"),
    "triage": ("order_id", "issue", "status", "next_step", "summary", "ticket", "guard"),
    "usage": ("model_calls", "prompt_tokens", "completion_tokens", "tokens", "ttft_ms", "total_ms"),
    "notice": ("message", "hint"),
    "done": ("content", "finish_reason", "answered_by", "conversation_id"),
    "error": ("message", "code"),
}


def encode(event: Event, conversation_id: int | None = None) -> tuple[str, dict[str, Any]]:
    """The wire name of `event` and its payload; `conversation_id` goes with `done` (None when
    the turn is not stored)."""
    match event:
        case TextDelta(text=text) | ReasoningDelta(text=text):
            return event.type, {"content": text}
        case ToolCallsPlanned():
            tools = [{"id": c.id, "name": c.name, "arguments": _as_data(c.arguments)} for c in event.calls]
            return event.type, {"tools": tools, "iteration": event.round}
        case ToolStarted():
            return event.type, {"tool": event.name, "id": event.call_id, "arguments": _as_data(event.arguments)}
        case ToolFinished():
            return event.type, {"tool": event.name, "id": event.call_id, "ok": event.ok, "result": event.result,
                                "duration_ms": _ms(event.duration_ms), "is_large": len(event.result) > LARGE_RESULT_CHARS}
        case TriageRecord():
            return event.type, {key: getattr(event, key) for key in FIELDS["triage"]}
        case Usage():
            return event.type, {"model_calls": event.model_calls, "prompt_tokens": event.prompt_tokens,
                                "completion_tokens": event.completion_tokens,
                                "tokens": event.prompt_tokens + event.completion_tokens,
                                "ttft_ms": None if event.ttft_ms is None else _ms(event.ttft_ms),
                                "total_ms": _ms(event.total_ms)}
        case Notice():
            return event.type, {"message": event.text, "hint": event.hint}
        case Done():
            return event.type, {"content": event.reply, "finish_reason": event.finish_reason,
                                "answered_by": event.answered_by, "conversation_id": conversation_id}
        case Error():
            return event.type, {"message": event.message, "code": event.kind}
        case _:
            assert_never(event)


def line(event: Event, conversation_id: int | None = None) -> dict[str, Any]:
    """One `--events` line: the wire name as `type`, then the same fields as the SSE payload."""
    name, fields = encode(event, conversation_id)
    return {"type": name, **fields}


def decode(name: str, data: dict[str, Any]) -> Event | None:
    """The event a payload stands for; None for a name this triage does not know (a newer
    server's), which a client skips. Missing or mistyped fields take their defaults."""
    match name:
        case "content":
            return TextDelta(text_of(data.get("content")))
        case "reasoning":
            return ReasoningDelta(text_of(data.get("content")))
        case "tool_calls":
            calls = tuple(ToolCall(text_of(c.get("id")), text_of(c.get("name")), _as_text(c.get("arguments")))
                          for c in data.get("tools") or () if isinstance(c, dict))
            return ToolCallsPlanned(round=_int(data.get("iteration")) or 1, calls=calls)
        case "tool_executing":
            return ToolStarted(text_of(data.get("id")), text_of(data.get("tool")), _as_text(data.get("arguments")))
        case "tool_result":
            ok = data.get("ok")
            return ToolFinished(text_of(data.get("id")), text_of(data.get("tool")), ok if isinstance(ok, bool) else True,
                                text_of(data.get("result")), _float(data.get("duration_ms")))
        case "triage":
            return TriageRecord.from_stored(data)
        case "usage":
            return Usage(model_calls=_int(data.get("model_calls")), prompt_tokens=_int(data.get("prompt_tokens")),
                         completion_tokens=_int(data.get("completion_tokens")),
                         ttft_ms=None if data.get("ttft_ms") is None else _float(data.get("ttft_ms")),
                         total_ms=_float(data.get("total_ms")))
        case "notice":
            return Notice(text_of(data.get("message")), text_of(data.get("hint")))
        case "done":
            return Done(text_of(data.get("content")), text_of(data.get("finish_reason")) or "stop",
                        answered_by=text_of(data.get("answered_by")) or None)
        case "error":
            return Error(text_of(data.get("message")) or "the server failed", kind=text_of(data.get("code")) or "error")
    return None


def turn_report(turn: TurnSummary, provider: str, model: str | None) -> dict[str, Any]:
    """A whole turn as one object: `ask --json`, and `POST /v1/chat` (plus its conversation id)."""
    usage, error = turn.usage, turn.error
    if turn.finish_reason is None and error is None:
        error = "interrupted"  # cut short before the answer was complete
    return {
        "reply": turn.reply,
        "triage": TurnSummary.fields(turn.record),
        "tool_calls": [
            {"name": call.name, "arguments": _as_data(call.arguments, objects_only=False),
             "result": None if call.result is None else _as_data(call.result, objects_only=False), "ok": call.ok,
             "duration_ms": call.duration_ms}
            for call in turn.tool_calls.values() if call.started
        ],
        "usage": None if usage is None else {
            "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "model_calls": usage.model_calls, "ttft_ms": None if usage.ttft_ms is None else _ms(usage.ttft_ms),
            "total_ms": _ms(usage.total_ms),
        },
        **({"provider": "offline", "model": None} if turn.done and turn.done.answered_by == "offline"
           else {"provider": provider, "model": model}),
        "finish_reason": turn.finish_reason,
        "notices": [notice.text for notice in turn.notices], "error": error,
    }


def _ms(value: float) -> float:
    return round(value, 1)


def _as_data(text: str, *, objects_only: bool = True) -> Any:
    """Tool arguments (or results) as data when they are JSON (with `objects_only`, a JSON
    object), else the text as it was."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return text
    return value if isinstance(value, dict) or not objects_only else text


def _as_text(value: Any) -> str:
    """Arguments back as the JSON text the engine's events carry."""
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def text_of(value: Any) -> str:
    """A payload's field as text: a string as it is, nothing as "", anything else as its str."""
    return value if isinstance(value, str) else "" if value is None else str(value)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
