"""A turn's events as a front end may show them: every string a model, a tool or a customer wrote
with the known secrets replaced (redaction.py). The reply and the reasoning arrive in pieces, so
each goes through a stream redactor, which holds back a tail that may begin a secret until the
next piece settles it; what is held goes out before any other event."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import assert_never

from triage_cli.engine.events import (
    EventStream,
    Done, Error, Event, Notice, ReasoningDelta, TextDelta, ToolCallsPlanned, ToolFinished, ToolStarted, TriageRecord,
    Usage,
)
from triage_cli.redaction import Redactor


async def redacted_events(events: EventStream, redactor: Redactor) -> EventStream:
    reply, reasoning = redactor.stream(), redactor.stream()
    async with contextlib.aclosing(events):
        async for event in events:
            if isinstance(event, TextDelta):
                event = TextDelta(reply.feed(event.text))
            elif isinstance(event, ReasoningDelta):
                event = ReasoningDelta(reasoning.feed(event.text))
            else:
                for held in (TextDelta(reply.flush()), ReasoningDelta(reasoning.flush())):
                    if held.text:
                        yield held
                event = redacted(event, redactor)
            if not isinstance(event, (TextDelta, ReasoningDelta)) or event.text:
                yield event


def redacted(event: Event, redactor: Redactor) -> Event:
    """`event` with the secrets in its text replaced (the whole text: not for pieces of a stream)."""
    text = redactor.text
    match event:
        case TextDelta() | ReasoningDelta():
            return replace(event, text=text(event.text))
        case ToolCallsPlanned():
            return replace(event, calls=tuple(replace(c, arguments=text(c.arguments)) for c in event.calls))
        case ToolStarted():
            return replace(event, arguments=text(event.arguments))
        case ToolFinished():
            return replace(event, result=text(event.result))
        case TriageRecord():
            return replace(event, order_id=None if event.order_id is None else text(event.order_id),
                           issue=text(event.issue), status=text(event.status), summary=text(event.summary),
                           guard=None if event.guard is None else text(event.guard))
        case Notice():
            return replace(event, text=text(event.text), hint=text(event.hint))
        case Done():
            return replace(event, reply=text(event.reply))
        case Error():
            return replace(event, message=text(event.message))
        case Usage():
            return event
        case _:
            assert_never(event)
