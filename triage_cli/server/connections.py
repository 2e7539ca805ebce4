"""Connections that send nothing, or drip a request a byte at a time, are closed: uvicorn closes an
idle connection only after a response (its keep-alive timeout), so a client that opens a socket
and never finishes a request would hold it for ever, and a few hundred such would use up
`max_connections`. Here a request's head must arrive within `header_seconds` of the connection
opening (or of the last response), and its body within `body_seconds` of its head; and a client
that stops reading (its socket's buffer full, so every write waits) for `send_seconds` is closed
too, so piping requests without reading the answers holds nothing for long.

The same deadlines ride on either of uvicorn's HTTP/1.1 parsers: httptools (C, llhttp: the
faster, used when installed, as it is with triage) or h11 (pure Python)."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class _Deadlines(asyncio.Protocol):
    """What both protocols add: one deadline for what the peer owes now, and the reset of a
    client that reads nothing. Mixed in before uvicorn's protocol class (its super())."""

    header_seconds = 10.0
    body_seconds = 30.0
    send_seconds = 60.0
    _deadline: asyncio.TimerHandle | None = None
    _stalled: asyncio.TimerHandle | None = None  # armed while the client reads nothing we send
    loop: asyncio.AbstractEventLoop
    transport: Any

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _stall_began(self) -> None:
        if self._stalled is None:
            self._stalled = self.loop.call_later(self.send_seconds, self._reset)

    def _stall_ended(self) -> None:
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None

    def _reset(self) -> None:
        """Drop the connection and what it has not read: a close would leave the kernel sending
        the unread megabytes after it, for a client that takes none."""
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._stall_ended()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._stall_began()

    def resume_writing(self) -> None:
        self._stall_ended()
        super().resume_writing()


class DeadlineH11Protocol(_Deadlines, H11Protocol):
    """uvicorn's h11 protocol with the deadlines, read from h11's idea of the peer's state."""

    _waiting_for: object = None  # the peer state the deadline is for: IDLE (a head) or SEND_BODY

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._watch()

    def handle_events(self) -> None:
        super().handle_events()
        self._watch()

    def _watch(self) -> None:
        """Arm a deadline for what the peer owes now (a head, or the rest of a body); none once
        the request is in."""
        state = self.conn.their_state
        if state is self._waiting_for:
            return
        self._disarm()
        self._waiting_for = None
        if state is h11.IDLE or state is h11.SEND_BODY:
            self._waiting_for = state
            self._arm(self.header_seconds if state is h11.IDLE else self.body_seconds)


def _httptools_protocol() -> type[Any] | None:
    """uvicorn's httptools protocol with the deadlines, from llhttp's callbacks; None without httptools."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return None

    class DeadlineHttpToolsProtocol(_Deadlines, HttpToolsProtocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm(self.header_seconds)  # a head is owed

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._arm(self.body_seconds)  # the body is owed (none: it completes at once)

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._disarm()  # the request is in

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.pipeline and not self.transport.is_closing():
                self._arm(self.header_seconds)  # the next request's head is owed

    return DeadlineHttpToolsProtocol


def deadline_protocol(header_seconds: float, body_seconds: float, send_seconds: float,
                      parser: str = "auto") -> type[Any]:
    """The protocol class uvicorn is given, with these deadlines: httptools' when installed (or
    `parser` = "httptools"), else h11's (or `parser` = "h11")."""
    base = _httptools_protocol() if parser in ("auto", "httptools") else None
    if base is None and parser == "httptools":
        raise RuntimeError("httptools is not installed")
    base = base or DeadlineH11Protocol
    return type(base.__name__, (base,), {"header_seconds": header_seconds, "body_seconds": body_seconds,
                                         "send_seconds": send_seconds})
