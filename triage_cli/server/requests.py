"""Reading what a client sent: a JSON object body of at most 64 KiB, and the fields of a turn."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request

from triage_cli.limits import MAX_BODY_BYTES, MAX_MESSAGE_CHARS, MAX_TICKET_ID
from triage_cli.sanitize import LONE_SURROGATE
from triage_cli.server.problems import ApiError

MAX_DEPTH = 32


@dataclass(frozen=True)
class TurnRequest:
    message: str
    conversation_id: int | None
    order: str | None


async def json_body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object; 413 past the limit (counted as it arrives, whatever
    Content-Length says), 400 when the client went away mid-body, when it does not parse, or holds what no field takes (nesting past MAX_DEPTH, a lone
    surrogate, a number past 64 bits). `optional`: an empty body is an empty object. (The guard
    has refused a body that is not `Content-Type: application/json`.)"""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    try:
        raw = await _read(request)
    except ClientDisconnect:  # it left, or dripped its body past body_seconds (connections.py)
        raise ApiError(400, "body_incomplete", "the client went away before its request body ended") from None
    if optional and not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    _check_values(value)
    return value


async def _read(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _check_values(body: dict[str, Any]) -> None:
    """Refuse, as a 400, what parses as JSON but no field can hold and the stores cannot keep."""
    pending: list[tuple[Any, int]] = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(value, str) and LONE_SURROGATE.search(value):
            raise ApiError(400, "invalid_text", "the body holds a lone UTF-16 surrogate (\\ud800-\\udfff), "
                                                "which is not a character")
        if isinstance(value, int) and not -MAX_TICKET_ID <= value <= MAX_TICKET_ID:
            raise ApiError(400, "invalid_number", "a number in the body is larger than 64 bits")
        if isinstance(value, dict):
            pending.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)


def _too_deep() -> ApiError:
    return ApiError(400, "too_deep", f"the body is nested more than {MAX_DEPTH} levels deep")


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
    conversation_id = whole_number(body, "conversation_id")
    order = body.get("order")
    if order is not None and not isinstance(order, str):
        raise _wrong("order", "an order id (a string) or null", order)
    return TurnRequest(message, conversation_id, order)


def whole_number(body: dict[str, Any], key: str) -> int | None:
    """An id field: a whole number from 1, or null."""
    value = body.get(key)
    if value is not None and (type(value) is not int or value < 1):
        raise _wrong(key, "an id (a whole number from 1) or null", value)
    return value


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
