"""What a turn's events said, gathered in one place: the reply, the tool calls (by call id), the
record, the usage, the notices, how it ended. The journal stores it, `--json` prints it, the
terminal's result reads it, and history replay turns a stored one back into events. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, assert_never

from triage_cli.engine.events import (
    Done, Error, Event, Notice, ReasoningDelta, TextDelta, ToolCallsPlanned, ToolFinished, ToolStarted, TriageRecord,
    Usage,
)


@dataclass
class ToolCallSummary:
    """One tool call; `ok`, `result` and `duration_ms` stay None until it finishes. `started`
    is False for a result whose start was never seen."""

    name: str
    arguments: str
    started: bool = True
    ok: bool | None = None
    result: str | None = None
    duration_ms: float | None = None

    @property
    def finished(self) -> bool:
        return self.ok is not None

    def stored(self) -> dict[str, Any]:
        """As the conversation store keeps it: name and arguments, then the outcome once known."""
        fields: dict[str, Any] = {"name": self.name, "arguments": self.arguments}
        if self.finished:
            fields.update(ok=self.ok, result=self.result, duration_ms=self.duration_ms)
        return fields


@dataclass
class TurnSummary:
    text: list[str] = field(default_factory=list)
    tool_calls: dict[str, ToolCallSummary] = field(default_factory=dict)
    record: TriageRecord | None = None
    usage: Usage | None = None
    notices: list[Notice] = field(default_factory=list)
    error: str | None = None
    done: Done | None = None

    def add(self, event: Event) -> None:
        match event:
            case TextDelta(text=text):
                self.text.append(text)
            case ToolStarted():
                self.tool_calls[event.call_id] = ToolCallSummary(event.name, event.arguments)
            case ToolFinished():
                call = self.tool_calls.setdefault(event.call_id, ToolCallSummary(event.name, "", started=False))
                call.ok, call.result, call.duration_ms = event.ok, event.result, round(event.duration_ms, 1)
            case TriageRecord():
                self.record = event
            case Usage():
                self.usage = event
            case Notice():
                self.notices.append(event)
            case Error():
                self.error = event.message
            case Done():
                self.done = event
            case ReasoningDelta() | ToolCallsPlanned():
                pass  # shown while they happen; nothing of them is kept
            case _:
                assert_never(event)

    @property
    def reply(self) -> str:
        return "".join(self.text)

    @property
    def complete(self) -> bool:
        """The answer ended with `Done` and no error."""
        return self.done is not None and self.error is None

    @property
    def finish_reason(self) -> str | None:
        return None if self.done is None else self.done.finish_reason

    @staticmethod
    def fields(event: TriageRecord | Usage | None) -> dict[str, Any] | None:
        """A record's or a usage's fields without the event type, as they are stored."""
        return None if event is None else {k: v for k, v in event.to_dict().items() if k != "type"}

    @classmethod
    def restored(cls, reply: str, tool_calls: Iterable[dict[str, Any]], record: TriageRecord | None) -> TurnSummary:
        """A stored turn's summary (as `ToolCallSummary.stored` kept its calls), to replay it."""
        summary = cls(text=[reply], record=record)
        for number, call in enumerate(tool_calls):
            duration = call.get("duration_ms")
            summary.tool_calls[f"replay_{number}"] = ToolCallSummary(
                str(call.get("name", "")), str(call.get("arguments", "")),
                ok=bool(call.get("ok")) if "result" in call else None, result=call.get("result"), duration_ms=None if duration is None else float(duration))
        return summary

    def events(self) -> list[Event]:
        """Events that draw this turn again: each call started and finished, the reply, the record."""
        events: list[Event] = []
        for call_id, call in self.tool_calls.items():
            events.append(ToolStarted(call_id, call.name, call.arguments))
            if call.finished:
                events.append(ToolFinished(call_id, call.name, bool(call.ok), call.result or "",
                                           call.duration_ms or 0.0))
        events.append(TextDelta(self.reply))
        if self.record is not None:
            events.append(self.record)
        return events


@dataclass
class UsageTotals:
    """What a session's answers cost so far."""

    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, usage: Usage) -> None:
        self.model_calls += usage.model_calls
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Tallied(Protocol):
    """A session (local or a server's client) that keeps what its turns came to."""

    turns: list[tuple[str, str | None]]  # (question, next step)
    last_record: TriageRecord | None
    last_usage: Usage | None
    totals: UsageTotals


def tally(session: Tallied, index: int, event: Event) -> None:
    """Keep what a session remembers of turn `index`'s event: its record and next step, its usage."""
    if isinstance(event, TriageRecord):
        session.last_record = event
        session.turns[index] = (session.turns[index][0], event.next_step)
    elif isinstance(event, Usage):
        session.last_usage = event
        session.totals.add(event)
