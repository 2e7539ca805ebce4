"""Filing escalations: every answer whose record says "escalate" becomes a ticket in the queue,
or updates the open ticket its conversation already has about the same order (store/tickets.py).

It wraps any engine's event stream, so the model agent, the offline rules and every front end
get the same behaviour. The record is passed on with the ticket's id; if the ticket cannot be
saved, the answer still arrives, followed by a notice saying so. The ticket is written in a
thread: a locked database delays this answer's record, never the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace

from triage_cli.engine.events import EventStream, Notice, TextDelta, TriageRecord
from triage_cli.errors import StoreError
from triage_cli.store.tickets import TicketStore


@dataclass(frozen=True)
class TicketDesk:
    """Where a turn's escalation is filed: `queue()` is the ticket store (None: not filed, the
    turn is not stored), `conversation_id()` the stored conversation the answer belongs to
    (None: every escalation is a new ticket), read when the record arrives; `question` is the
    customer's words, already redacted; `redact` removes secrets from the rest."""

    queue: Callable[[], TicketStore | None]
    conversation_id: Callable[[], int | None]
    question: str
    redact: Callable[[str], str] = str


async def filing_escalations(events: EventStream, desk: TicketDesk) -> EventStream:
    reply: list[str] = []
    redact = desk.redact
    async with contextlib.aclosing(events):
        async for event in events:
            if isinstance(event, TextDelta):
                reply.append(event.text)
            elif isinstance(event, TriageRecord) and event.next_step == "escalate" and event.ticket is None:
                if (tickets := desk.queue()) is None:
                    yield event
                    continue
                try:
                    stored = replace(event, order_id=None if event.order_id is None else redact(event.order_id),
                                     issue=redact(event.issue), status=redact(event.status),
                                     summary=redact(event.summary))
                    ticket = await asyncio.to_thread(
                        tickets.open_ticket, stored, question=desk.question, reply=redact("".join(reply)),
                        conversation_id=desk.conversation_id())
                except StoreError as exc:
                    yield event
                    yield Notice(f"The escalation ticket could not be saved: {exc}")
                    continue
                event = replace(event, ticket=ticket.id)
            yield event
