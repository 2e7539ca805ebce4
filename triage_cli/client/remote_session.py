"""A conversation answered by a team's `triage serve` instead of a local engine.

`RemoteSession` has the surface the front ends use of a `TriageSession` (`ask`, the order in
context, the usage totals, the last record, /history and /resume), so `triage ask` and
`triage chat` render a server's answer with the same views. The server's SSE events are turned
back into the engine's Event objects here; the server builds the engine, stores the turn and
files the ticket, so this machine needs no model key, no order data and no database.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from typing import Any

from triage_cli.client.http import ServerClient
from triage_cli.closing import AsyncClosing
from triage_cli.config import Settings
from triage_cli.engine.events import Error, Event, EventStream, Notice
from triage_cli.engine.session_state import SessionState
from triage_cli.engine.turn_summary import tally
from triage_cli.engine.wire import decode
from triage_cli.errors import TriageError
from triage_cli.client.stored import conversation, conversations, int_of as _int, search, tickets
from triage_cli.record_types import Ticket
from triage_cli.record_types import SearchHit, StoredConversation
from triage_cli.redaction import Redactor


class RemoteSession(SessionState, AsyncClosing):
    """One conversation on the server at `client.url`. `settings` are this machine's, with the
    server's provider and model once `open` has asked its /healthz."""

    def __init__(self, settings: Settings, client: ServerClient, *, order: str | None = None) -> None:
        super().__init__(settings.order_id_pattern)
        self.settings = settings
        self.client = client
        self.conversation_id: int | None = None
        if order is not None:
            self.set_order(order, flag="--order")

    @classmethod
    async def open(cls, settings: Settings, client: ServerClient, *, source: str = "chat", resume: str | None = None,
                   order: str | None = None) -> RemoteSession:
        """A session on the server; an unreachable server is an error now, before any prompt. As
        with a local session, `ask` asks about the order it is given only, even when resuming."""
        session = cls(settings, client, order=order)
        try:
            health = await client.get("/healthz")
            if isinstance(health, dict) and health.get("provider"):
                model = health.get("model")
                session.settings = dataclasses.replace(settings, provider=str(health["provider"]),
                                                       model=str(model) if model else None)
            if resume is not None:
                await session.resume(resume)
                if order is not None or source == "ask":
                    session.set_order(order, flag="--order")
        except BaseException:
            await client.aclose()
            raise
        return session

    async def aclose(self) -> None:
        await self.client.aclose()

    # what a TriageSession also offers ----------------------------------------------------------

    async def ready(self) -> None:
        """Nothing to build here: the server holds the engine."""

    async def warm_up(self) -> None:
        """Nothing to load: the server holds the engine."""

    def modes(self) -> tuple[str, str]:
        return ("the server's", "the server's")

    async def switch(self, settings: Settings | Mapping[str, Any]) -> Settings:
        raise TriageError(f"the model is the server's setting ({self.client.url}); "
                          "leave --server out to answer with a local one")

    async def tool_catalog(self) -> dict[str, Any]:
        raise TriageError(f"the tools are the server's ({self.client.url}): `triage tools` on that machine lists them")

    def order_ids(self) -> list[str]:
        return []  # the order data is the server's: completion offers none

    def redact(self, text: str) -> str:
        """`text` without the token this terminal sends, or anything shaped like an agent's token."""
        return Redactor([self.client.token]).text(text)

    def new(self) -> None:
        self.conversation_id = None
        self.forget()

    async def resume(self, which: str | None) -> StoredConversation:
        """Continue a conversation the server stores: `which` is its id, or None/'last'."""
        stored = await conversation(self.client, which)
        self.conversation_id = stored.id
        self.resumed_from(stored)
        return stored

    def where(self) -> tuple[str, str]:
        """Where the conversation is kept: the team's server."""
        return "server", self.client.url

    async def open_tickets(self, limit: int) -> list[Ticket]:
        """The open tickets of the team's queue, on the server."""
        return await tickets(self.client, status="open", limit=limit)

    async def stored_conversations(self, limit: int) -> list[StoredConversation]:
        return await conversations(self.client, limit=limit)

    async def search(self, text: str, limit: int) -> list[SearchHit]:
        return await search(self.client, text, limit)

    # the turn ----------------------------------------------------------------------------------

    def ask(self, text: str) -> EventStream:
        """One turn answered by the server, its events as the engine's."""
        self.turns.append((text, None))
        body = {"message": text, "conversation_id": self.conversation_id, "order": self.order}
        return self._turn(len(self.turns) - 1, body)

    async def _turn(self, index: int, body: dict[str, Any]) -> EventStream:
        started = False
        stream = self.client.stream("/v1/chat/stream", body)
        async with contextlib.aclosing(stream):
            try:
                async for name, data in stream:
                    started = True
                    if name == "conversation":
                        self.conversation_id = _int(data.get("conversation_id"), self.conversation_id)
                        continue
                    event = to_event(name, data)
                    if event is None:
                        continue
                    tally(self, index, event)
                    yield event
            except TriageError as exc:
                if not started:  # unreachable, 401, 429: one line, nothing to keep
                    raise
                # A stream dropped mid-answer: the reply so far stays on screen, then the error.
                yield Error(str(exc), kind="server")


def to_event(name: str, data: dict[str, Any]) -> Event | None:
    """The engine's event for one of the server's (engine/wire.py decodes it); None for a kind
    this client does not know (a newer server's). A notice's hint is left out: the server's hints
    ("set OPENAI_API_KEY or pass --provider") are about its own settings, not this machine's."""
    event = decode(name, data)
    return Notice(event.text) if isinstance(event, Notice) else event
