"""Connections that send nothing, or drip a request a byte at a time, are closed: uvicorn closes an
idle connection only after a response (its keep-alive timeout), so a client that opens a socket
and never finishes a request would hold it for ever, and a few hundred such would use up
`max_connections`. Here a request's head must arrive within `header_seconds` of the connection
opening (or of the last response), and its body within `body_seconds` of its head; and a client
that stops reading (its socket's buffer full, so every write waits) for `send_seconds` is closed
too, so piping requests without reading the answers holds nothing for long."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's arrival."""

    header_seconds = 10.0
    body_seconds = 30.0
    send_seconds = 60.0
    _deadline: asyncio.TimerHandle | None = None
    _stalled: asyncio.TimerHandle | None = None  # armed while the client reads nothing we send
    _waiting_for: object = None  # the peer state the deadline is for: IDLE (a head) or SEND_BODY

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._stalled is not None:
            self._stalled.cancel()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stalled is None:
            self._stalled = self.loop.call_later(self.send_seconds, self._reset)

    def _reset(self) -> None:
        """Drop the connection and what it has not read: a close would leave the kernel sending
        the unread megabytes after it, for a client that takes none."""
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def resume_writing(self) -> None:
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None
        super().resume_writing()

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
        if state is h11.IDLE or state is h11.SEND_BODY:
            seconds = self.header_seconds if state is h11.IDLE else self.body_seconds
            self._waiting_for = state
            self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._waiting_for = None, None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def deadline_protocol(header_seconds: float, body_seconds: float, send_seconds: float) -> type[DeadlineH11Protocol]:
    """The protocol class uvicorn is given, with these deadlines."""
    return type("DeadlineH11Protocol", (DeadlineH11Protocol,),
                {"header_seconds": header_seconds, "body_seconds": body_seconds, "send_seconds": send_seconds})
