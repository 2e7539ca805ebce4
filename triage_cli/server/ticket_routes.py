"""The ticket queue over HTTP: list (by status and holder), show (with what happened to it), claim,
release and close. The store decides (store/tickets.py: claims are atomic on both backends); a
ticket someone else holds, or one already closed, is a 409 naming who holds it. Who acts is the
caller (identity.py): an agent acts as themselves, and only a lead may force."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query, Request

from triage_cli.errors import InvalidValue
from triage_cli.server.identity import acting_as, check_force
from triage_cli.server.problems import ApiError
from triage_cli.server.requests import json_body, optional_flag, optional_text, whole_number
from triage_cli.store.database import Database
from triage_cli.record_types import parse_ticket_id, Ticket
from triage_cli.store.tickets import TicketStore


def ticket_routes(database: Database, redact: Callable[[str], str]) -> APIRouter:
    """The routes; `redact` takes known secrets out of what a request would store (a note)."""
    router = APIRouter()

    @router.get("/v1/tickets", summary="The escalation queue, newest first; ?assignee= for one agent's")
    async def tickets(status: str = "open", limit: int = Query(50, ge=1, le=1000),
                      assignee: str | None = None) -> dict[str, Any]:
        found = await asyncio.to_thread(TicketStore(database).list, status.strip().lower(), limit,
                                        assignee=assignee.strip() if assignee else None)
        return {"tickets": [t.to_dict() for t in found]}

    @router.get("/v1/tickets/{ticket_id}", summary="One ticket, with who did what to it and when (`events`)")
    async def ticket(ticket_id: str) -> dict[str, Any]:
        number, store = parse_ticket_id(ticket_id), TicketStore(database)
        found, events = await asyncio.to_thread(lambda: (store.get(number), store.events(number)))
        return {**found.to_dict(), "events": [event.to_dict() for event in events]}

    @router.post("/v1/tickets/claim", summary="Claim a ticket (`ticket_id`), or the oldest open one nobody holds")
    async def claim(request: Request) -> dict[str, Any]:
        body = await json_body(request)
        wanted = whole_number(body, "ticket_id")
        agent = _who(request, body)
        assert agent is not None
        return await _queue(lambda store: store.claim(agent, wanted))

    @router.post("/v1/tickets/{ticket_id}/release", summary="Put a ticket you hold back in the queue")
    async def release(ticket_id: str, request: Request) -> dict[str, Any]:
        number = parse_ticket_id(ticket_id)
        body = await json_body(request)
        agent, force = _who(request, body), optional_flag(body, "force")
        check_force(request, force)
        assert agent is not None
        return await _queue(lambda store: store.release(number, agent, force=force))

    @router.post("/v1/tickets/{ticket_id}/close", summary="Close a ticket (yours or nobody's; a lead's `force`: another's)")
    async def close(ticket_id: str, request: Request) -> dict[str, Any]:
        number = parse_ticket_id(ticket_id)
        body = await json_body(request, optional=True)
        note, force = optional_text(body, "note"), optional_flag(body, "force")
        agent = _who(request, body, required=False)
        check_force(request, force)
        note = None if note is None else redact(note)
        return await _queue(lambda store: store.close(number, note, agent=agent, force=force))

    def _who(request: Request, body: dict[str, Any], *, required: bool = True) -> str | None:
        """The agent acting; a name the operator's script sends that holds a key or token is refused."""
        agent = acting_as(request, body, required=required)
        if agent is not None and redact(agent) != agent:
            raise ApiError(400, "invalid", "agent holds a key or a token: send the agent's name")
        return agent

    async def _queue(change: Callable[[TicketStore], Ticket]) -> dict[str, Any]:
        try:
            return (await asyncio.to_thread(change, TicketStore(database))).to_dict()
        except InvalidValue as exc:  # held by another, closed already: the queue moved on
            raise ApiError(409, "conflict", str(exc)) from None

    return router
