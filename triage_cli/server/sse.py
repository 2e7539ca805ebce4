"""The engine's events as Server-Sent Events: the bytes of one SSE message, its name and payload
as engine/wire.py declares them (the same as `ask --events` writes). Every payload is one line of
JSON with control, C1 and bidi characters escaped, so nothing raw reaches a client; the session
has taken the known secrets out of the events already (session/redacted.py)."""

from __future__ import annotations

from typing import Any

from triage_cli.sanitize import json_text

KEEP_ALIVE = b": keep-alive\n\n"


def frame(name: str, data: dict[str, Any], number: int) -> bytes:
    """One SSE message: `event:`, `id:` (its number in this stream) and one `data:` line."""
    return f"event: {name}\nid: {number}\ndata: {json_text(data)}\n\n".encode()

