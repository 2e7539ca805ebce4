"""One turn streamed to one client: the ASGI response that relays `session.ask`'s events as SSE.

Three things end it besides the answer: the client hanging up (the turn is cancelled, so the
model stream closes and the journal stores it interrupted, as Ctrl-C does), the server shutting
down (the same, then an `error` event with code `shutdown`), and a bug (an `error` event, code
`internal`). While the turn is quiet a keep-alive comment goes out every 15 s, so proxies keep
the connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from triage_cli.engine.events import EventStream
from triage_cli.engine.wire import encode
from triage_cli.server.limits import Slot
from triage_cli.server.sse import KEEP_ALIVE, frame
from triage_cli.session import TriageSession


KEEP_ALIVE_SECONDS = 15.0
HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store"),
           (b"x-accel-buffering", b"no")]
SHUTDOWN = {"message": "the server is shutting down; the answer so far is stored as interrupted", "code": "shutdown"}
INTERNAL = {"message": "triage failed while answering; the answer so far is stored as interrupted",
            "code": "internal"}

log = logging.getLogger("triage.serve")


class _Writer:
    """Numbered SSE messages to one client, one write at a time (the events and the keep-alives)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._lock = asyncio.Lock()
        self.number = 0
        self.last = asyncio.get_running_loop().time()

    async def event(self, name: str, data: dict[str, Any]) -> None:
        async with self._lock:
            self.number += 1
            await self._write(frame(name, data, self.number))

    async def keep_alive(self) -> None:
        async with self._lock:
            await self._write(KEEP_ALIVE)

    async def _write(self, data: bytes) -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": True})
        self.last = asyncio.get_running_loop().time()


class TurnStream(Response):
    """The response for one turn; `slot` is released and `session` closed when it ends."""

    def __init__(self, session: TriageSession, events: EventStream, slot: Slot,
                 stopping: asyncio.Event) -> None:
        super().__init__(media_type="text/event-stream")
        self.session, self.events, self.slot, self.stopping = session, events, slot, stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            writer = _Writer(send)
            pump = asyncio.create_task(self._pump(writer))
            hangup = asyncio.create_task(_hung_up(receive))
            stop = asyncio.create_task(self.stopping.wait())
            keep_alive = asyncio.create_task(_keep_alive(writer))
            try:
                done, _ = await asyncio.wait({pump, hangup, stop}, return_when=asyncio.FIRST_COMPLETED)
                if pump not in done:  # the client left, or the server is stopping: cancel the turn
                    pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump  # the journal has stored the turn when this returns
                if hangup in done:
                    return
                if pump not in done:
                    await writer.event("error", SHUTDOWN)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            finally:
                for task in (hangup, stop, keep_alive):
                    task.cancel()
        except OSError:
            pass  # the client is gone; the turn has been stored already
        finally:
            await close_turn(self.session, self.slot)

    async def _pump(self, writer: _Writer) -> None:
        """Relay the turn's events (the session has taken the known secrets out of them); the
        `conversation` event first, once the turn is stored (its id is known then), and `done`
        with that id."""
        announced = False
        try:
            async with contextlib.aclosing(self.events):
                async for event in self.events:
                    if not announced:
                        announced = await self._announce(writer)
                    await writer.event(*encode(event, self.session.conversation_id))
        except OSError:
            raise  # the client is gone
        except Exception as exc:  # a bug in triage: the type only, as a message might be in the text
            log.error("a turn failed: %s", type(exc).__name__)
            if not announced:
                announced = await self._announce(writer)
            await writer.event("error", INTERNAL)
        if not announced:
            await self._announce(writer)

    async def _announce(self, writer: _Writer) -> bool:
        conversation_id = self.session.conversation_id
        self.slot.claim(conversation_id)
        await writer.event("conversation", {"conversation_id": conversation_id})
        return True


async def _hung_up(receive: Receive) -> None:
    """Return when the client disconnects (the request body has been read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _keep_alive(writer: _Writer) -> None:
    loop = asyncio.get_running_loop()
    with contextlib.suppress(OSError):  # the client left: the turn ends by its own path
        while True:
            await asyncio.sleep(max(0.05, writer.last + KEEP_ALIVE_SECONDS - loop.time()))
            if loop.time() - writer.last >= KEEP_ALIVE_SECONDS:
                await writer.keep_alive()


async def close_turn(session: TriageSession, slot: Slot | None) -> None:
    """The turn's session closed (a turn stored but never answered is ended interrupted then),
    and only then its place in the gate freed: whoever finds the place free finds the turn stored."""
    try:
        await session.aclose()
    finally:
        if slot is not None:
            slot.release()
