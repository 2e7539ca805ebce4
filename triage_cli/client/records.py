"""A team server's history and ticket queue with the methods of session/records.py's `Records`,
for a command that runs once (`triage tickets --server URL`): each call opens a client, asks
the API and closes it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from triage_cli.client import stored as remote
from triage_cli.client.http import ServerClient
from triage_cli.record_types import SearchHit, StoredConversation
from triage_cli.record_types import Ticket, TicketEvent

T = TypeVar("T")


class RemoteRecords:
    def __init__(self, url: str, token: str | None) -> None:
        self.url, self.token = url, token

    def _call(self, read: Callable[[ServerClient], Awaitable[T]]) -> T:
        async def run() -> T:
            client = ServerClient(self.url, self.token)
            try:
                return await read(client)
            finally:
                await client.aclose()

        return asyncio.run(run())

    def tickets(self, status: str, limit: int, assignee: str | None = None) -> list[Ticket]:
        return self._call(lambda c: remote.tickets(c, status=status, limit=limit, assignee=assignee))

    def ticket(self, ticket_id: int) -> tuple[Ticket, list[TicketEvent]]:
        return self._call(lambda c: remote.ticket_with_events(c, ticket_id))

    def claim(self, agent: str, ticket_id: int | None) -> Ticket:
        return self._call(lambda c: remote.claim(c, agent, ticket_id))

    def release(self, ticket_id: int, agent: str, *, force: bool) -> Ticket:
        return self._call(lambda c: remote.release(c, ticket_id, agent, force=force))

    def close(self, ticket_id: int, note: str | None, *, agent: str | None, force: bool) -> Ticket:
        return self._call(lambda c: remote.close(c, ticket_id, note, agent=agent, force=force))

    def conversations(self, limit: int, order: str | None) -> list[StoredConversation]:
        return self._call(lambda c: remote.conversations(c, limit=limit, order=order))

    def search(self, text: str, limit: int) -> list[SearchHit]:
        return self._call(lambda c: remote.search(c, text, limit))

    def stats(self, since: str) -> dict[str, Any]:
        async def read(client: ServerClient) -> dict[str, Any]:
            found = await client.get("/v1/stats", {"since": since})
            return found if isinstance(found, dict) else {}

        return self._call(read)

    def conversation(self, which: str | None) -> tuple[StoredConversation, dict[int, str]]:
        async def read(client: ServerClient) -> tuple[StoredConversation, dict[int, str]]:
            stored = await remote.conversation(client, which)
            return stored, await remote.ticket_states(client, stored)

        return self._call(read)
