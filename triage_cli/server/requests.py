"""Reading what a client sent: a JSON object body of at most 64 KiB, and the fields of a turn."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from triage_cli.server.limits import MAX_BODY_BYTES, MAX_MESSAGE_CHARS
from triage_cli.server.problems import ApiError


@dataclass(frozen=True)
class TurnRequest:
    message: str
    conversation_id: int | None
    order: str | None


async def json_body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object; 413 past the limit (counted as it arrives, whatever
    Content-Length says), 415 when it is not JSON, 400 when it does not parse. `optional`: an
    empty body is an empty object."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    raw = b"".join(chunks)
    if optional and not raw.strip():
        return {}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as JSON, with Content-Type: application/json")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return value


def _too_large() -> ApiError:
    return ApiError(413, "body_too_large", f"the body is larger than {MAX_BODY_BYTES // 1024} KiB")


def turn_request(body: dict[str, Any]) -> TurnRequest:
    """`{"message": str, "conversation_id": int | null, "order": str | null}`, checked field by field."""
    message = body.get("message")
    if not isinstance(message, str):
        raise _wrong("message", "a string", message)
    message = message.strip()  # as the CLI reads a question: a piped one's newline is not a character of it
    if not message and not body.get("order"):
        raise ApiError(400, "invalid", "message is empty: send the customer's message (or an order)")
    if len(message) > MAX_MESSAGE_CHARS:
        raise ApiError(413, "message_too_long", f"message is {len(message):,} characters; at most "
                                                f"{MAX_MESSAGE_CHARS:,}: send only the customer's message")
    conversation_id = body.get("conversation_id")
    if conversation_id is not None and (type(conversation_id) is not int or conversation_id < 1):
        raise _wrong("conversation_id", "a conversation id (a whole number) or null", conversation_id)
    order = body.get("order")
    if order is not None and not isinstance(order, str):
        raise _wrong("order", "an order id (a string) or null", order)
    return TurnRequest(message, conversation_id, order)


def optional_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise _wrong(key, "a string or null", value)
    if value is not None and len(value) > MAX_MESSAGE_CHARS:
        raise ApiError(413, "too_long", f"{key} is longer than {MAX_MESSAGE_CHARS:,} characters")
    return value


def optional_flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise _wrong(key, "true or false", value)
    return value


def _wrong(key: str, expected: str, value: object) -> ApiError:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array", dict: "an object"}
    got = "missing" if value is None else f"got {names.get(type(value), type(value).__name__)}"
    return ApiError(400, "invalid", f"{key} must be {expected} ({got})")
