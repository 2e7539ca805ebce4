"""What a team server stores, read (and the queue worked) through its API: conversations and
tickets as the store's own types, so `history` and `tickets` show them with the same views."""

from __future__ import annotations

import dataclasses
from typing import Any

from triage_cli.client.http import ServerClient
from triage_cli.errors import InvalidValue, NotFound
from triage_cli.record_types import parse_row_id
from triage_cli.record_types import LATEST, SEARCHED, SearchHit, StoredConversation, StoredTurn
from triage_cli.record_types import Ticket, TicketEvent
from triage_cli.engine.wire import text_of as text_of  # one reading of a payload's text, for both


async def conversations(client: ServerClient, *, limit: int, order: str | None = None) -> list[StoredConversation]:
    found = await client.get("/v1/conversations", {"limit": limit, "order": order})
    items = found.get("conversations", []) if isinstance(found, dict) else found
    return [stored_conversation(item) for item in items if isinstance(item, dict)]


async def search(client: ServerClient, text: str, limit: int) -> list[SearchHit]:
    """The server's stored texts that say `text`, best match first."""
    found = await client.get("/v1/conversations", {"q": text, "limit": limit})
    hits = found.get("hits", []) if isinstance(found, dict) else []
    return [search_hit(hit) for hit in hits if isinstance(hit, dict)]


def search_hit(data: dict[str, Any]) -> SearchHit:
    parts = tuple((text_of(p[0]), bool(p[1])) for p in data.get("parts") or () if isinstance(p, list) and len(p) == 2)
    kind = text_of(data.get("kind"))
    return SearchHit(kind=kind if kind in SEARCHED else "text", at=text_of(data.get("at")), parts=parts,
                     conversation_id=int_of(data.get("conversation_id"), None), turn=int_of(data.get("turn"), None),
                     ticket_id=int_of(data.get("ticket_id"), None))


async def conversation(client: ServerClient, which: str | None) -> StoredConversation:
    """The conversation `which` names (an id, or None/'last' for the latest)."""
    if which is None or which.strip().lower() in LATEST:
        latest = await conversations(client, limit=1)
        if not latest:
            raise NotFound(f"the triage server at {client.url} stores no conversation yet", kind="conversation")
        return latest[0] if latest[0].turns and latest[0].turns[0].messages else await conversation(client, str(latest[0].id))
    conversation_id = parse_row_id(which)
    if conversation_id is None:
        raise InvalidValue(f"a conversation id is a number like 12 (or 'last'), got '{which[:40]}'")
    return stored_conversation(await client.get(f"/v1/conversations/{conversation_id}"))


def stored_conversation(data: dict[str, Any]) -> StoredConversation:
    """A conversation as the server's JSON has it (the store's `to_dict`), as the store's type."""
    turns = tuple(_stored_turn(t) for t in data.get("turns") or () if isinstance(t, dict))
    return StoredConversation(
        id=int_of(data.get("id"), 0) or 0, created_at=text_of(data.get("created_at")),
        updated_at=text_of(data.get("updated_at")), source=text_of(data.get("source")),
        provider=text_of(data.get("provider")), model=text_of(data.get("model")),
        title=text_of(data.get("first_question") or data.get("title")),
        order_ids=tuple(text_of(i) for i in data.get("order_ids") or ()), turns=turns)


def _stored_turn(data: dict[str, Any]) -> StoredTurn:
    messages = tuple(m for m in data.get("messages") or () if isinstance(m, dict))
    reply = text_of(data.get("reply"))
    if not messages and reply:
        order = {"order": text_of(data["order"])} if data.get("order") else {}
        messages = ({"role": "user", "content": text_of(data.get("question")), **order},
                    {"role": "assistant", "content": reply})
    record = data.get("triage")
    usage = data.get("usage")
    return StoredTurn(
        number=int_of(data.get("number"), 0) or 0, started_at=text_of(data.get("started_at")),
        finished_at=data.get("finished_at"), state=text_of(data.get("state")) or "complete",
        provider=text_of(data.get("provider")), model=text_of(data.get("model")), question=text_of(data.get("question")),
        partial=reply, tool_calls=tuple(c for c in data.get("tool_calls") or () if isinstance(c, dict)),
        record=record if isinstance(record, dict) else None, usage=usage if isinstance(usage, dict) else None,
        error=data.get("error"), messages=messages, order=text_of(data["order"]) if data.get("order") else None)


async def tickets(client: ServerClient, *, status: str, limit: int, assignee: str | None = None) -> list[Ticket]:
    found = await client.get("/v1/tickets", {"status": status, "limit": limit, "assignee": assignee})
    items = found.get("tickets", []) if isinstance(found, dict) else found
    return [stored_ticket(item) for item in items if isinstance(item, dict)]


async def ticket_states(client: ServerClient, stored: StoredConversation) -> dict[int, str]:
    """The state now of the tickets a conversation's answers filed."""
    ids = {t.record["ticket"] for t in stored.turns if t.record and isinstance(t.record.get("ticket"), int)}
    return {i: (await ticket(client, i)).status for i in sorted(ids)}


async def ticket(client: ServerClient, ticket_id: int) -> Ticket:
    return (await ticket_with_events(client, ticket_id))[0]


async def ticket_with_events(client: ServerClient, ticket_id: int) -> tuple[Ticket, list[TicketEvent]]:
    """A ticket and what happened to it, oldest first."""
    data = await client.get(f"/v1/tickets/{ticket_id}")
    events = data.get("events") if isinstance(data, dict) else None
    return stored_ticket(data), [_event(item) for item in events or [] if isinstance(item, dict)]


def _event(data: dict[str, Any]) -> TicketEvent:
    agent, note = data.get("agent"), data.get("note")
    return TicketEvent(text_of(data.get("at")), text_of(data.get("action")), agent if isinstance(agent, str) else None,
                       data.get("forced") is True, note if isinstance(note, str) else None)


async def close(client: ServerClient, ticket_id: int, note: str | None, *, agent: str | None = None,
                force: bool = False) -> Ticket:
    body = {"note": note, "agent": agent, "force": force}
    return stored_ticket(await client.post(f"/v1/tickets/{ticket_id}/close", body))


async def claim(client: ServerClient, agent: str, ticket_id: int | None = None) -> Ticket:
    """The given ticket, or the oldest open one nobody holds."""
    return stored_ticket(await client.post("/v1/tickets/claim", {"ticket_id": ticket_id, "agent": agent}))


async def release(client: ServerClient, ticket_id: int, agent: str, *, force: bool = False) -> Ticket:
    return stored_ticket(await client.post(f"/v1/tickets/{ticket_id}/release", {"agent": agent, "force": force}))


def stored_ticket(data: dict[str, Any]) -> Ticket:
    """A ticket as the server's JSON has it (`{"ticket": {...}}` or the ticket itself)."""
    inner = data.get("ticket")
    fields: dict[str, Any] = inner if isinstance(inner, dict) else data
    known = {f.name for f in dataclasses.fields(Ticket)}
    values = {k: v for k, v in fields.items() if k in known}
    for name in ("created_at", "issue", "order_status", "summary", "question", "reply", "status"):
        values[name] = text_of(values.get(name))
    values.setdefault("order_id", None)
    values.setdefault("closed_at", None)
    values.setdefault("note", None)
    values["id"] = int_of(values.get("id"), 0) or 0
    return Ticket(**values)


def int_of(value: Any, default: int | None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
