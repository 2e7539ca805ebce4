"""One turn, composed in one place: the question (the customer's words, the named order beside
them) joins the conversation; the engine answers; the conversation keeps the answer's record
(stored or not, so `triage eval` answers a follow-up as `ask` and `chat` do); and, when the
conversation is kept, an escalation files its ticket and the journal stores the turn.

    engine.run → remembering the record → filing escalations → the journal → the front end
"""

from __future__ import annotations

import contextlib

from triage_cli.engine.base import Engine
from triage_cli.engine.conversation import Conversation
from triage_cli.engine.events import EventStream, TriageRecord
from triage_cli.session.escalation import filing_escalations
from triage_cli.session.journal import Begun, Journal


def run_turn(engine: Engine, conversation: Conversation, question: str, journal: Journal | None, *,
             order: str | None = None) -> EventStream:
    """Ask `question` (about `order`, the order the agent named with --order or /order, if any)
    in `conversation`; with no journal nothing is stored and no ticket is filed."""
    conversation.add_user(question, order)
    return answer_turn(engine, conversation, journal)


def answer_turn(engine: Engine, conversation: Conversation, journal: Journal | None,
                begun: Begun | None = None) -> EventStream:
    """Answer the conversation's last question; `begun`: the journal stored it already."""
    events = _remembering_record(engine.run(conversation), conversation)
    if journal is None:
        return events
    tickets = journal.ticket_desk(str(conversation.messages[-1].get("content") or ""))
    return journal.record(filing_escalations(events, tickets), conversation, begun)


async def _remembering_record(events: EventStream, conversation: Conversation) -> EventStream:
    """The events, the conversation keeping the last record (the offline engine's follow-ups
    and the policy guard read it)."""
    async with contextlib.aclosing(events):
        async for event in events:
            if isinstance(event, TriageRecord):
                conversation.last_record = event
            yield event
