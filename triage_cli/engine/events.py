"""The event stream: the one seam between the engine and every front end.

Each event is a small frozen dataclass with a `type` name from the common SSE vocabulary and a
`to_dict()` for machine-readable output. Front ends match on the class; nothing here knows how an
event is shown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal, Self


@dataclass(frozen=True)
class Event:
    type: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Self:
        """The event from stored fields (`to_dict` output); unknown keys are ignored, and a
        missing required one is a TypeError."""
        return cls(**{k: v for k, v in fields.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class TextDelta(Event):
    """A piece of the final answer, in order."""

    type: ClassVar[str] = "content"
    text: str


@dataclass(frozen=True)
class ReasoningDelta(Event):
    """A piece of the model's reasoning, never part of the answer."""

    type: ClassVar[str] = "reasoning"
    text: str


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # the raw JSON text the model produced, possibly invalid


@dataclass(frozen=True)
class ToolCallsPlanned(Event):
    """One tool round: the calls the model (or the offline engine) asked for, run concurrently."""

    type: ClassVar[str] = "tool_calls"
    round: int
    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class ToolStarted(Event):
    type: ClassVar[str] = "tool_executing"
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolFinished(Event):
    type: ClassVar[str] = "tool_result"
    call_id: str
    name: str
    ok: bool
    result: str  # the text the model receives (JSON data, or an error sentence)
    duration_ms: float


@dataclass(frozen=True)
class TriageRecord(Event):
    """The structured decision that comes with every answer, after its reply. `ticket` is the
    escalation ticket filed for it, once one is."""

    type: ClassVar[str] = "triage"
    order_id: str | None
    issue: str
    status: str
    next_step: Literal["answer", "escalate"]
    summary: str
    ticket: int | None = None


@dataclass(frozen=True)
class Notice(Event):
    """A remark about the run, not part of the answer (offline engine, round cap, truncation)."""

    type: ClassVar[str] = "notice"
    text: str
    hint: str = ""


@dataclass(frozen=True)
class Usage(Event):
    type: ClassVar[str] = "usage"
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float | None = None
    total_ms: float = 0.0


@dataclass(frozen=True)
class Done(Event):
    """The answer is complete. `reply` is the whole answer text."""

    type: ClassVar[str] = "done"
    reply: str
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Error(Event):
    """The run failed. `message` is one line for the user."""

    type: ClassVar[str] = "error"
    message: str
    kind: str = "error"
