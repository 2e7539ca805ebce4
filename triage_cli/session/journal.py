"""Keeping conversations: a turn's events pass through the journal on their way to a front end,
and the turn is written to the session store (store/sessions.py) as it happens.

The question is stored before the engine starts, the reply so far about once a second while it
streams, and the rest in one transaction at the end. A turn that ends without `Done` (Ctrl-C, a
dropped stream, an error, a crash in triage) is stored as interrupted, never as complete. If the
store cannot be written, the answer still arrives, with a notice saying it was not saved.

Every store call runs in a thread (`asyncio.to_thread`), one at a time per turn: the event loop
never waits on the database, so a locked SQLite file (another process writing, up to its busy
timeout) or an unreachable PostgreSQL (up to its pool's timeout) delays this turn's writes, not
the other streams a server runs on the same loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from datetime import date
from collections.abc import Callable
from typing import Any

from triage_cli.config import Settings
from triage_cli.engine.conversation import Conversation, find_order_ids
from triage_cli.engine.events import Done, Error, EventStream, Notice, TextDelta, TriageRecord
from triage_cli.engine.turn_summary import TurnSummary
from triage_cli.errors import ConversationBusy, StoreError
from triage_cli.order_ids import ORDER_ID_PATTERN
from triage_cli.redaction import REDACTED, Redactor, StreamRedactor
from triage_cli.session.absolute_dates import absolute, absolute_answers
from triage_cli.session.escalation import TicketDesk
from triage_cli.session.partial_saves import PartialSaves, partial_saves
from triage_cli.store.database import open_database
from triage_cli.record_types import StoredConversation
from triage_cli.store.sessions import ConversationGone, SessionStore, TurnHandle
from triage_cli.store.tickets import TicketStore



@dataclass(frozen=True)
class Begun:
    """A turn stored as running: its handle, where its messages start in the conversation, and
    why it had to start a new stored conversation (the old one pruned meanwhile), if it did."""

    turn: TurnHandle
    start: int
    gone: list[ConversationGone]
__all__ = ["REDACTED", "Journal", "StreamRedactor"]


class Journal:
    """One conversation's place in the store: `conversation_id` is None until its first turn
    is stored (or after `start_new`), then every turn recorded goes to that conversation."""

    def __init__(self, store: SessionStore, *, source: str, provider: str, model: str,
                 conversation_id: int | None = None, secrets: tuple[str, ...] = ()) -> None:
        self.store = store
        self.source = source
        self.provider = provider
        self.model = model
        self.conversation_id = conversation_id
        self.redactor = Redactor(secrets)
        self.order_id_pattern = ORDER_ID_PATTERN
        self._unsaved = False  # the turn being recorded could not be stored
        self.today: Callable[[], date] = date.today  # the day "tomorrow" in a stored reply counts from
        self._unfinished: list[TurnHandle] = []  # turns of ours the database could not finish
        self._finishing: set[asyncio.Future[None]] = set()  # writes of turns cut short, still under way

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.redactor.secrets

    @classmethod
    def for_settings(cls, settings: Settings, source: str) -> Journal:
        store = SessionStore(open_database(settings.home, settings.database_url), lease_seconds=settings.turn_lease_seconds)
        journal = cls(store, source=source, provider="", model="")
        journal.use(settings)
        return journal

    def use(self, settings: Settings) -> None:
        """Record the next turns as answered by `settings`' provider and model. API keys are
        never stored, not even when a customer or a model repeats one: the key in use and every
        other key in the environment or the .env file are redacted from all that is written."""
        self.provider, self.model = settings.provider, settings.model or ""
        self.order_id_pattern = settings.order_id_pattern
        self.redactor = self.redactor.with_secrets([settings.api_key, *settings.secrets])

    def redact(self, value: Any) -> Any:
        """`value` (a string, or lists and dicts of them) with every known secret, and anything
        shaped like an agent token, replaced (redaction.py)."""
        return self.redactor.value(value)

    def start_new(self) -> None:
        self.conversation_id = None

    async def resume(self, which: str | None) -> tuple[StoredConversation, Conversation]:
        """Continue a stored conversation (`which` is an id, or None/'last' for the latest): its
        record, and the context to send to a model."""
        stored = await asyncio.to_thread(lambda: self.store.get(self.store.resolve(which)))
        self.conversation_id = stored.id
        records = [record for record in (TriageRecord.from_stored(turn.record) for turn in stored.turns) if record]
        return stored, Conversation(stored.history(), last_record=records[-1] if records else None)

    def ticket_desk(self, question: str) -> TicketDesk:
        """Where this turn's escalation files its ticket: the queue in this journal's database,
        for the conversation the turn is stored in (known once `record` has begun it); none when
        the turn could not be stored (the same database holds the tickets)."""
        return TicketDesk(lambda: None if self._unsaved else TicketStore(self.store.database),
                          lambda: self.conversation_id, self.redact(question), self.stored)

    def stored(self, text: str) -> str:
        """What the model or the rules said, as it is kept: secrets out, relative days dated."""
        return str(self.redact(absolute(text, self.today())))

    async def begin(self, conversation: Conversation) -> Begun:
        """Store the turn whose question is the conversation's last message, as running (its
        lease taken). ConversationBusy when another process or replica is answering in it;
        StoreError when the database cannot be written."""
        start = len(conversation.messages)
        gone: list[ConversationGone] = []
        self._unsaved = False
        turn = await self._begin_or_abandon(self.redact(conversation.messages[-1]), conversation, start, gone)
        return Begun(turn, start, gone)

    async def record(self, events: EventStream, conversation: Conversation, begun: Begun | None = None) -> EventStream:
        """Pass `events` on, storing the turn whose question is the conversation's last message
        (begun already, or begun here), its lease renewed while it is answered."""
        if begun is None:
            try:
                begun = await self.begin(conversation)
            except ConversationBusy:
                raise  # someone else is answering here: this turn must not
            except StoreError as exc:  # the same database holds the tickets: one line says it all
                self._unsaved = True
                yield Notice(f"This answer is not saved (no history, no ticket): {exc}")
                async with contextlib.aclosing(events):
                    async for event in events:
                        yield event
                return
        turn, start = begun.turn, begun.start
        seen = TurnSummary()
        saver = _PartialSaver(lambda: self.stored(seen.reply), turn, partial_saves(self.store))
        heartbeat = asyncio.ensure_future(self._renew(turn))
        saver.heartbeat = heartbeat
        last: Done | Error | None = None
        try:
            for reason in begun.gone:
                yield Notice(f"{reason}; this answer starts a new stored conversation.")
            async with contextlib.aclosing(events):
                async for event in events:
                    seen.add(event)
                    if isinstance(event, TextDelta):
                        saver.soon()
                    if isinstance(event, (Done, Error)):
                        # The turn's last event goes out once the turn is stored: a client that
                        # reads `done` and then asks for the history finds the turn there.
                        last = event
                        continue
                    yield event
        except BaseException as exc:  # cancelled, closed early, or a bug: keep what there is
            stopped = isinstance(exc, (asyncio.CancelledError, GeneratorExit, KeyboardInterrupt))
            seen.error = seen.error or ("interrupted" if stopped else f"triage failed: {exc}")
            # Shielded: a second cancel (a hang-up after Ctrl-C) cannot lose the write, and the
            # loop's shutdown waits for the thread that does it.
            finishing = asyncio.ensure_future(self._finish(turn, seen, conversation, start, saver))
            self._finishing.add(finishing)
            finishing.add_done_callback(self._finishing.discard)
            with contextlib.suppress(StoreError, asyncio.CancelledError):
                await asyncio.shield(finishing)
            raise
        try:
            await self._finish(turn, seen, conversation, start, saver)
        except StoreError as exc:
            yield Notice(f"This answer was not saved: {exc}")
        if last is not None:
            yield last

    async def settled(self) -> None:
        """Wait for the writes of turns cut short that are still under way (a second cancel
        left them running): once this returns, every turn of this journal is stored."""
        if self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)

    async def abandon(self, begun: Begun, conversation: Conversation) -> None:
        """End a turn that was begun but never answered (its client left before the answer
        started): stored interrupted now, not left running until its lease lapses."""
        with contextlib.suppress(StoreError):
            await self._finish(begun.turn, TurnSummary(error="interrupted"), conversation, begun.start,
                               _PartialSaver(str))

    async def _renew(self, turn: TurnHandle) -> None:
        """The lease's heartbeat, a third of the lease apart, until the turn is finished. A
        renewal that fails (the database away for a moment) is tried again at the next beat."""
        while True:
            await asyncio.sleep(self.store.lease_seconds / 3)
            with contextlib.suppress(StoreError):
                if not await asyncio.to_thread(self.store.renew, turn):
                    return

    async def _begin_or_abandon(self, question: dict[str, Any], conversation: Conversation, start: int,
                                gone: list[ConversationGone]) -> TurnHandle:
        """The turn stored as running. Cancelled while that is written (a client hanging up at
        once), the write still lands and the turn is stored interrupted before the cancel goes on:
        no turn is left running by a turn that never began."""
        begun = asyncio.ensure_future(asyncio.to_thread(self._begin_anew, question, gone))
        try:
            return await asyncio.shield(begun)
        except asyncio.CancelledError:
            with contextlib.suppress(StoreError, asyncio.CancelledError):
                await asyncio.shield(self._abandon(begun, conversation, start))
            raise

    async def _abandon(self, begun: asyncio.Future[TurnHandle], conversation: Conversation, start: int) -> None:
        turn = await begun
        await self._finish(turn, TurnSummary(error="interrupted"), conversation, start,
                           _PartialSaver(str))

    def _begin_anew(self, question: dict[str, Any], gone: list[ConversationGone]) -> TurnHandle:
        try:
            return self._begin(question)
        except ConversationGone as reason:  # pruned by another process while this one was open
            self.conversation_id = None
            gone.append(reason)
            return self._begin(question)

    def _begin(self, question: dict[str, Any]) -> TurnHandle:
        turn = self.store.begin_turn(self.conversation_id, source=self.source, provider=self.provider,
                                     model=self.model, question=question,
                                     order_ids=_order_ids(question, [], None, self.order_id_pattern),
                                     ours=[t.turn_id for t in self._unfinished])
        self._unfinished.clear()
        self.conversation_id = turn.conversation_id
        return turn

    async def _finish(self, turn: TurnHandle, seen: TurnSummary, conversation: Conversation, start: int,
                      saver: _PartialSaver) -> None:
        await saver.stop()  # a partial save in flight lands first, so the full turn is the last write
        question = conversation.messages[start - 1]
        calls = [call.stored() for call in seen.tool_calls.values()]
        record = TurnSummary.fields(seen.record)
        if record is not None:
            record["summary"] = absolute(str(record.get("summary") or ""), self.today())
        try:
            await asyncio.to_thread(
                self.store.finish_turn,
                turn, complete=seen.complete,
                messages=self.redact(absolute_answers(conversation.messages[start:], self.today())),
                partial=self.stored(seen.reply), tool_calls=self.redact(calls),
                record=self.redact(record), usage=TurnSummary.fields(seen.usage), error=self.redact(seen.error),
                order_ids=_order_ids(question, calls, record, self.order_id_pattern),
                answered_by=seen.done.answered_by if seen.done else None,
            )
        except StoreError:
            # Left running, its lease not renewed: this journal ends it with its next turn
            # (anyone else, once the lease lapses).
            self._unfinished.append(turn)
            raise


def _order_ids(question: dict[str, Any], calls: list[dict[str, Any]], record: dict[str, Any] | None,
               pattern: re.Pattern[str]) -> list[str]:
    """The order ids a turn was about: the order named with the question, those in its words,
    the lookups' arguments, the record's."""
    texts = [str(question.get("order") or ""), str(question.get("content") or ""),
             *(call["arguments"] for call in calls)]
    if record and record.get("order_id"):
        texts.append(str(record["order_id"]))
    return find_order_ids(" ".join(texts), limit=20, pattern=pattern)


class _PartialSaver:
    """One turn's reply saved as it grows (partial_saves.py), and its lease's heartbeat: both
    stopped before the turn's last write."""

    def __init__(self, text: Callable[[], str], turn: TurnHandle | None = None,
                 saves: PartialSaves | None = None) -> None:
        self._text = text  # read on the loop; only the write runs in a thread
        self._turn, self._saves = turn, saves
        self.heartbeat: asyncio.Future[None] | None = None

    def soon(self) -> None:
        if self._saves is not None and self._turn is not None:
            self._saves.soon(self._turn, self._text)

    async def stop(self) -> None:
        """No more saves (and no more heartbeats); a write already running is waited for."""
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        if self._saves is not None and self._turn is not None:
            await self._saves.forget(self._turn)
