"""Keeping conversations: a turn's events pass through the journal on their way to a front end,
and the turn is written to the session store (store/sessions.py) as it happens.

The question is stored before the engine starts, the reply so far about once a second while it
streams, and the rest in one transaction at the end. A turn that ends without `Done` (Ctrl-C, a
dropped stream, an error, a crash in triage) is stored as interrupted, never as complete. If the
store cannot be written, the answer still arrives, with a notice saying it was not saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from triage_cli.engine.conversation import Conversation, find_order_ids
from triage_cli.engine.escalation import filing_escalations
from triage_cli.engine.events import Done, Error, Event, Notice, TextDelta, ToolFinished, ToolStarted, TriageRecord, Usage
from triage_cli.errors import StoreError
from triage_cli.nested import map_strings
from triage_cli.order_ids import ORDER_ID_PATTERN
from triage_cli.store.sessions import ConversationGone, SessionStore, StoredConversation, TurnHandle
from triage_cli.store.tickets import TicketStore

from triage_cli.config import MIN_SECRET_CHARS

if TYPE_CHECKING:
    from triage_cli.config import Settings
    from triage_cli.engine.build import Engine

SAVE_PARTIAL_SECONDS = 1.0
REDACTED = "[redacted]"


def run_turn(engine: Engine, conversation: Conversation, message: str, journal: Journal, *,
             named_order: str | None = None) -> AsyncIterator[Event]:
    """Ask `message` in `conversation`: the engine's events, with the turn kept in the journal and
    escalations filed as tickets. `named_order` is the order the agent named (--order, /order)."""
    conversation.add_user(message)
    conversation.named_order = named_order
    return journal.record(engine.run(conversation), conversation)


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
        self.secrets = secrets
        self.order_id_pattern = ORDER_ID_PATTERN

    @classmethod
    def for_settings(cls, settings: Settings, source: str) -> Journal:
        journal = cls(SessionStore(settings.home), source=source, provider="", model="")
        journal.use(settings)
        return journal

    def use(self, settings: Settings) -> None:
        """Record the next turns as answered by `settings`' provider and model. API keys are
        never stored, not even when a customer or a model repeats one: the key in use and every
        other key in the environment or the .env file are redacted from all that is written."""
        self.provider, self.model = settings.provider, settings.model or ""
        self.order_id_pattern = settings.order_id_pattern
        keys = [settings.api_key, *settings.secrets]
        self.secrets = tuple(dict.fromkeys([*self.secrets, *(k for k in keys if k and len(k) >= MIN_SECRET_CHARS)]))

    def redact(self, value: Any) -> Any:
        """`value` (a string, or lists and dicts of them) with every known secret replaced."""
        return map_strings(value, self._redact_text)

    def _redact_text(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def start_new(self) -> None:
        self.conversation_id = None

    def resume(self, conversation_id: int) -> tuple[StoredConversation, Conversation]:
        """Continue a stored conversation: its record, and the context to send to a model."""
        stored = self.store.get(conversation_id)
        self.conversation_id = stored.id
        records = [record for record in (turn.triage_record() for turn in stored.turns) if record is not None]
        return stored, Conversation(stored.history(), last_record=records[-1] if records else None)

    async def record(self, events: AsyncIterator[Event], conversation: Conversation) -> AsyncIterator[Event]:
        """Pass `events` on, storing the turn whose question is the conversation's last message
        and filing a ticket for an answer that escalates."""
        start = len(conversation.messages)
        question = self.redact(conversation.messages[-1])
        try:
            try:
                turn = self._begin(question)
            except ConversationGone as gone:  # pruned by another process while this one was open
                self.conversation_id = None
                turn = self._begin(question)
                yield Notice(f"{gone}; this answer starts a new stored conversation.")
        except StoreError as exc:  # the same database holds the tickets: one line says it all
            yield Notice(f"This answer is not saved (no history, no ticket): {exc}")
            async with contextlib.aclosing(events):  # type: ignore[type-var]
                async for event in events:
                    yield event
            return
        events = filing_escalations(events, TicketStore(self.store.home), question.get("content") or "",
                                    redact=self.redact, conversation_id=self.conversation_id)
        seen = _Turn()
        saver = _PartialSaver(lambda: self.store.save_partial(turn, self.redact(seen.partial())))
        try:
            async with contextlib.aclosing(events):  # type: ignore[type-var]
                async for event in events:
                    seen.add(event)
                    if isinstance(event, TriageRecord):
                        conversation.last_record = event
                    if isinstance(event, TextDelta):
                        saver.soon()
                    yield event
        except BaseException as exc:  # cancelled, closed early, or a bug: keep what there is
            saver.cancel()
            stopped = isinstance(exc, (asyncio.CancelledError, GeneratorExit, KeyboardInterrupt))
            seen.error = seen.error or ("interrupted" if stopped else f"triage failed: {exc}")
            with contextlib.suppress(StoreError):
                self._finish(turn, seen, conversation, start)
            raise
        saver.cancel()
        try:
            self._finish(turn, seen, conversation, start)
        except StoreError as exc:
            yield Notice(f"This answer was not saved: {exc}")

    def _begin(self, question: dict[str, Any]) -> TurnHandle:
        turn = self.store.begin_turn(self.conversation_id, source=self.source, provider=self.provider,
                                     model=self.model, question=question,
                                     order_ids=find_order_ids(question.get("content") or "", limit=20,
                                                              pattern=self.order_id_pattern))
        self.conversation_id = turn.conversation_id
        return turn

    def _finish(self, turn: TurnHandle, seen: _Turn, conversation: Conversation, start: int) -> None:
        question = conversation.messages[start - 1].get("content") or ""
        self.store.finish_turn(
            turn, complete=seen.done and seen.error is None, messages=self.redact(conversation.messages[start:]),
            partial=self.redact(seen.partial()), tool_calls=self.redact(list(seen.tools.values())),
            record=self.redact(seen.record), usage=seen.usage, error=self.redact(seen.error),
            order_ids=seen.order_ids(question, self.order_id_pattern),
        )


@dataclass
class _Turn:
    """What a turn's events said, as the store keeps it."""

    text: list[str] = field(default_factory=list)
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    record: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    error: str | None = None
    done: bool = False

    def add(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            self.text.append(event.text)
        elif isinstance(event, ToolStarted):
            self.tools[event.call_id] = {"name": event.name, "arguments": event.arguments}
        elif isinstance(event, ToolFinished):
            self.tools.setdefault(event.call_id, {"name": event.name, "arguments": ""}).update(
                ok=event.ok, result=event.result, duration_ms=round(event.duration_ms, 1))
        elif isinstance(event, (TriageRecord, Usage)):
            fields = {k: v for k, v in event.to_dict().items() if k != "type"}
            if isinstance(event, TriageRecord):
                self.record = fields
            else:
                self.usage = fields
        elif isinstance(event, Error):
            self.error = event.message
        elif isinstance(event, Done):
            self.done = True

    def partial(self) -> str:
        return "".join(self.text)

    def order_ids(self, question: str, pattern: re.Pattern[str]) -> list[str]:
        texts = [question, *(tool["arguments"] for tool in self.tools.values())]
        if self.record and self.record.get("order_id"):
            texts.append(str(self.record["order_id"]))
        return find_order_ids(" ".join(texts), limit=20, pattern=pattern)


class _PartialSaver:
    """Saves the reply so far at most once a second, a second after it last grew: a reply that
    stalls after a chunk is still saved, and a fast one costs one small write a second."""

    def __init__(self, save: Callable[[], None]) -> None:
        self._save = save
        self._timer: asyncio.TimerHandle | None = None

    def soon(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(SAVE_PARTIAL_SECONDS, self._fire)

    def _fire(self) -> None:
        self._timer = None
        with contextlib.suppress(StoreError):
            self._save()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
