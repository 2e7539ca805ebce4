"""The ticket queue over HTTP: list (by status and holder), show, claim, release and close. The
store decides (store/tickets.py: claims are atomic on both backends); a ticket someone else
holds, or one already closed, is a 409 naming who holds it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Query, Request

from triage_cli.errors import InvalidValue
from triage_cli.server.problems import ApiError
from triage_cli.server.requests import json_body, optional_flag, optional_text
from triage_cli.store.database import Database
from triage_cli.store.tickets import Ticket, TicketStore, parse_ticket_id

T = TypeVar("T")
MAX_AGENT_CHARS = 100


def ticket_routes(database: Database) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/tickets", summary="The escalation queue, newest first; ?assignee= for one agent's")
    async def tickets(status: str = "open", limit: int = Query(50, ge=1, le=1000),
                      assignee: str | None = None) -> dict[str, Any]:
        found = await asyncio.to_thread(TicketStore(database).list, status.strip().lower(), limit,
                                        assignee=assignee.strip() if assignee else None)
        return {"tickets": [t.to_dict() for t in found]}

    @router.get("/v1/tickets/{ticket_id}", summary="One ticket")
    async def ticket(ticket_id: str) -> dict[str, Any]:
        return (await asyncio.to_thread(TicketStore(database).get, parse_ticket_id(ticket_id))).to_dict()

    @router.post("/v1/tickets/claim", summary="Claim a ticket (`ticket_id`), or the oldest open one nobody holds")
    async def claim(request: Request) -> dict[str, Any]:
        body = await json_body(request)
        wanted = body.get("ticket_id")
        if wanted is not None and (type(wanted) is not int or wanted < 1):
            raise ApiError(400, "invalid", "ticket_id must be a ticket id (a whole number) or null")
        agent = _agent(body)
        return await _queue(lambda store: store.claim(agent, wanted))

    @router.post("/v1/tickets/{ticket_id}/release", summary="Put a ticket you hold back in the queue")
    async def release(ticket_id: str, request: Request) -> dict[str, Any]:
        number = parse_ticket_id(ticket_id)
        body = await json_body(request)
        agent, force = _agent(body), optional_flag(body, "force")
        return await _queue(lambda store: store.release(number, agent, force=force))

    @router.post("/v1/tickets/{ticket_id}/close", summary="Close a ticket (yours or nobody's; `force`: another's)")
    async def close(ticket_id: str, request: Request) -> dict[str, Any]:
        number = parse_ticket_id(ticket_id)
        body = await json_body(request, optional=True)
        note, force = optional_text(body, "note"), optional_flag(body, "force")
        agent = _agent(body) if body.get("agent") is not None else None
        return await _queue(lambda store: store.close(number, note, agent=agent, force=force))

    async def _queue(change: Callable[[TicketStore], Ticket]) -> dict[str, Any]:
        try:
            return (await asyncio.to_thread(change, TicketStore(database))).to_dict()
        except InvalidValue as exc:  # held by another, closed already: the queue moved on
            raise ApiError(409, "conflict", str(exc)) from None

    return router


def _agent(body: dict[str, Any]) -> str:
    agent = body.get("agent")
    if not isinstance(agent, str) or not agent.strip() or len(agent) > MAX_AGENT_CHARS:
        raise ApiError(400, "invalid", f"agent must be your name in the queue (1 to {MAX_AGENT_CHARS} characters)")
    return agent.strip()
