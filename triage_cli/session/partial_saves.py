"""The replies so far of the turns a process is answering, saved together: once a second, one
write for every turn whose reply grew (a server answering 200 turns made 200 writes a second,
each its own transaction, before). A reply that stalls after a chunk is still saved within the
second; a turn that ends is taken out first, and a write that may hold it lands before its last."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable

from triage_cli.errors import StoreError
from triage_cli.store.backend import Database
from triage_cli.store.sessions import SessionStore, TurnHandle

SAVE_PARTIAL_SECONDS = 1.0


class PartialSaves:
    """The turns of one event loop and one database whose reply grew since the last save."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store
        self._due: dict[int, tuple[TurnHandle, Callable[[], str]]] = {}  # read on the loop, written in a thread
        self._timer: asyncio.TimerHandle | None = None
        self._writing: asyncio.Future[None] | None = None

    def soon(self, turn: TurnHandle, text: Callable[[], str]) -> None:
        """Save `turn`'s reply (`text()` when the write starts) within SAVE_PARTIAL_SECONDS."""
        self._due[turn.turn_id] = (turn, text)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(SAVE_PARTIAL_SECONDS, self._fire)

    async def forget(self, turn: TurnHandle) -> None:
        """No more saves of `turn`; a write under way, which may hold it, is waited for."""
        self._due.pop(turn.turn_id, None)
        if self._writing is not None:
            await asyncio.shield(self._writing)

    async def flush(self) -> None:
        """Write what is due now, in one write, and wait for it."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writing is not None:
            await asyncio.shield(self._writing)
        self._fire()
        if self._writing is not None:
            await asyncio.shield(self._writing)

    def _fire(self) -> None:
        self._timer = None
        if not self._due:
            return
        if self._writing is not None and not self._writing.done():  # one write at a time, in order
            self._timer = asyncio.get_running_loop().call_later(SAVE_PARTIAL_SECONDS, self._fire)
            return
        batch = [(turn, text()) for turn, text in self._due.values()]
        self._due.clear()
        self._writing = asyncio.ensure_future(asyncio.to_thread(self._write, batch))

    def _write(self, batch: list[tuple[TurnHandle, str]]) -> None:
        with contextlib.suppress(StoreError):  # the next save, or the turn's end, tries again
            self._store.save_partials(batch)


_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Database, PartialSaves]] = (
    weakref.WeakKeyDictionary())


def partial_saves(store: SessionStore) -> PartialSaves:
    """The saves of the running loop into `store`'s database (one for all the journals using it)."""
    by_database = _BY_LOOP.setdefault(asyncio.get_running_loop(), {})
    return by_database.setdefault(store.database, PartialSaves(store))
