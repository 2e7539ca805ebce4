"""`history` and `tickets` with `--server URL` (or `server_url`): what a team's `triage serve`
stores, shown with the same views as this machine's store."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from triage_cli.client import stored as remote
from triage_cli.client.http import ServerClient
from triage_cli.store.sessions import StoredConversation
from triage_cli.store.tickets import parse_ticket_id
from triage_cli.ui import history_view, tickets_view
from triage_cli.ui.session_source import Server

T = TypeVar("T")


def _fetch(server: Server, read: Callable[[ServerClient], Awaitable[T]]) -> T:
    async def run() -> T:
        client = ServerClient(*server)
        try:
            return await read(client)
        finally:
            await client.aclose()

    return asyncio.run(run())


def list_tickets(server: Server, *, status: str, as_json: bool, limit: int, assignee: str | None = None) -> None:
    found = _fetch(server, lambda c: remote.tickets(c, status=status.strip().lower(), limit=limit, assignee=assignee))
    tickets_view.print_tickets(found, status=status.strip().lower(), as_json=as_json)


def show_ticket(server: Server, ticket_id: str, *, as_json: bool) -> None:
    number = parse_ticket_id(ticket_id)
    ticket, events = _fetch(server, lambda c: remote.ticket_with_events(c, number))
    tickets_view.print_ticket(ticket, events, as_json=as_json)


def close_ticket(server: Server, ticket_id: str, *, note: str | None, agent: str | None = None,
                 force: bool = False) -> None:
    number = parse_ticket_id(ticket_id)
    tickets_view.say_closed(_fetch(server, lambda c: remote.close(c, number, note, agent=agent, force=force)))


def claim_ticket(server: Server, ticket_id: str | None, *, agent: str) -> None:
    number = None if ticket_id is None else parse_ticket_id(ticket_id)
    tickets_view.say_claimed(_fetch(server, lambda c: remote.claim(c, agent, number)), agent)


def release_ticket(server: Server, ticket_id: str, *, agent: str, force: bool = False) -> None:
    number = parse_ticket_id(ticket_id)
    tickets_view.say_released(_fetch(server, lambda c: remote.release(c, number, agent, force=force)))


def list_conversations(server: Server, *, limit: int, order: str | None, as_json: bool) -> None:
    found = _fetch(server, lambda c: remote.conversations(c, limit=limit, order=order.strip() if order else None))
    history_view.print_conversations(found, order=order, as_json=as_json)


def show_conversation(server: Server, which: str | None) -> None:
    async def read(client: ServerClient) -> tuple[StoredConversation, dict[int, str]]:
        stored = await remote.conversation(client, which)
        return stored, await remote.ticket_states(client, stored)

    history_view.print_conversation(*_fetch(server, read))
