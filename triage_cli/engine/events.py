"""The event stream: the one seam between the engine and every front end.

Each event is a small frozen dataclass with a `type` name from the common SSE vocabulary and a
`to_dict()` for machine-readable output. `Event` is the closed union of them all: a consumer that
must handle every kind matches on it and ends with `case _: assert_never(event)`, so the type
checker names any kind a new event leaves unhandled. Nothing here knows how an event is shown.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal, Self, TypeAlias


@dataclass(frozen=True)
class EventBase:
    type: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Self:
        """The event from stored fields (`to_dict` output); unknown keys are ignored, and a
        missing required one is a TypeError."""
        return cls(**{k: v for k, v in fields.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class TextDelta(EventBase):
    """A piece of the final answer, in order."""

    type: ClassVar[str] = "content"
    text: str


@dataclass(frozen=True)
class ReasoningDelta(EventBase):
    """A piece of the model's reasoning, never part of the answer."""

    type: ClassVar[str] = "reasoning"
    text: str


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # the raw JSON text the model produced, possibly invalid


@dataclass(frozen=True)
class ToolCallsPlanned(EventBase):
    """One tool round: the calls the model (or the offline engine) asked for, run concurrently."""

    type: ClassVar[str] = "tool_calls"
    round: int
    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class ToolStarted(EventBase):
    type: ClassVar[str] = "tool_executing"
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolFinished(EventBase):
    type: ClassVar[str] = "tool_result"
    call_id: str
    name: str
    ok: bool
    result: str  # the text the model receives (JSON data, or an error sentence)
    duration_ms: float


@dataclass(frozen=True)
class TriageRecord(EventBase):
    """The structured decision that comes with every answer, after its reply. `ticket` is the
    escalation ticket filed for it, once one is; `guard` says why triage escalated where the
    model said answer (engine/record.py), None when it did not."""

    type: ClassVar[str] = "triage"
    order_id: str | None
    issue: str
    status: str
    next_step: Literal["answer", "escalate"]
    summary: str
    ticket: int | None = None
    guard: str | None = None

    def guard_notice(self) -> Notice | None:
        """What a front end says when triage escalated against the model's answer."""
        return Notice(f"Triage escalated this answer; the model said answer, but {self.guard}.") if self.guard else None

    @classmethod
    def from_stored(cls, fields: dict[str, Any] | None) -> TriageRecord | None:
        """The record as the event it was, from what a store kept; None when there is none, or
        it lacks a field (a record stored by an older triage)."""
        if not fields:
            return None
        try:
            return cls.from_fields(fields)
        except TypeError:
            return None


@dataclass(frozen=True)
class Notice(EventBase):
    """A remark about the run, not part of the answer (offline engine, round cap, truncation)."""

    type: ClassVar[str] = "notice"
    text: str
    hint: str = ""


@dataclass(frozen=True)
class Usage(EventBase):
    type: ClassVar[str] = "usage"
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float | None = None
    total_ms: float = 0.0


@dataclass(frozen=True)
class Done(EventBase):
    """The answer is complete. `reply` is the whole answer text."""

    type: ClassVar[str] = "done"
    reply: str
    finish_reason: str = "stop"
    answered_by: str | None = None  # "offline": the rules stood in for a model that failed (engine/fallback.py)


@dataclass(frozen=True)
class Error(EventBase):
    """The run failed. `message` is one line for the user."""

    type: ClassVar[str] = "error"
    message: str
    kind: str = "error"


Event: TypeAlias = (TextDelta | ReasoningDelta | ToolCallsPlanned | ToolStarted | ToolFinished | TriageRecord
                    | Notice | Usage | Done | Error)
# A turn's events as every layer passes them on: a generator, so a consumer that stops early
# closes it (contextlib.aclosing) and the engine's clean-up runs at once, not when collected.
EventStream: TypeAlias = AsyncGenerator[Event, None]
