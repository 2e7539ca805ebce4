"""The engine's events as Server-Sent Events: the bytes of one SSE message, its name and payload
as engine/wire.py declares them (the same as `ask --events` writes). Every payload is one line of
JSON with control, C1 and bidi characters escaped, so nothing raw reaches a client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from triage_cli.engine.events import Event
from triage_cli.engine.wire import encode
from triage_cli.nested import map_strings
from triage_cli.sanitize import json_text

KEEP_ALIVE = b": keep-alive\n\n"


def frame(name: str, data: dict[str, Any], number: int) -> bytes:
    """One SSE message: `event:`, `id:` (its number in this stream) and one `data:` line."""
    return f"event: {name}\nid: {number}\ndata: {json_text(data)}\n\n".encode()


def payload(event: Event, conversation_id: int | None, redact: Callable[[str], str]) -> tuple[str, dict[str, Any]]:
    """The SSE name and data of `event` (engine/wire.py declares them); every string a model, tool
    or customer wrote passes `redact`."""
    name, data = encode(event, conversation_id)
    return name, map_strings(data, redact)
