"""The agent loop: tool rounds (shown as progress, never as tokens), then the streamed answer.

Every model call streams. A call whose output turns into tool calls is a tool round: its calls run
concurrently and their results go back to the model. The call that answers in text is the final
answer, streamed as it arrives, so an answer costs exactly tool rounds + 1 model calls.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from triage_cli.engine.conversation import Conversation
from triage_cli.engine.events import (
    Done,
    Error,
    Event,
    Notice,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallsPlanned,
    Usage,
)
from triage_cli.engine.llm import (
    ChatModel,
    FinishPiece,
    ReasoningPiece,
    TextPiece,
    ToolCallPiece,
    UsagePiece,
)
from triage_cli.engine.prompts import ROUND_CAP_NOTE, system_prompt
from triage_cli.engine.tool_round import round_messages, run_tool_round
from triage_cli.errors import ModelError
from triage_cli.tools.registry import ToolRegistry

INTERRUPTED_MARK = "[interrupted]"


@dataclass
class _Meter:
    started: float = field(default_factory=time.perf_counter)
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float | None = None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def usage(self) -> Usage:
        return Usage(self.model_calls, self.prompt_tokens, self.completion_tokens, self.ttft_ms, self.elapsed_ms())


@dataclass
class _Round:
    """What one model call produced."""

    text: list[str] = field(default_factory=list)
    calls: list[dict[str, str]] = field(default_factory=list)
    finish_reason: str = "stop"
    _slots: dict[int | None, int] = field(default_factory=dict)

    def add_call_piece(self, piece: ToolCallPiece) -> None:
        """Fragments with one index belong together, but a fragment carrying a new id starts a
        new call: some servers send every call with index 0, or with no index at all."""
        slot = self._slots.get(piece.index)
        if slot is None or (piece.id and self.calls[slot]["id"] and piece.id != self.calls[slot]["id"]):
            self.calls.append({"id": "", "name": "", "arguments": ""})
            slot = self._slots[piece.index] = len(self.calls) - 1
        call = self.calls[slot]
        call["id"] = call["id"] or (piece.id or "")
        call["name"] += piece.name or ""
        call["arguments"] += piece.arguments

    def tool_calls(self, round_number: int) -> tuple[ToolCall, ...]:
        """The calls, each with an id unique in this round (results are matched by id)."""
        made: list[ToolCall] = []
        seen: set[str] = set()
        for i, c in enumerate(self.calls):
            call_id = c["id"] if c["id"] and c["id"] not in seen else f"call_{round_number}_{i}"
            seen.add(call_id)
            made.append(ToolCall(id=call_id, name=c["name"], arguments=c["arguments"]))
        return tuple(made)


class Agent:
    """Runs a model with tools; see the module docstring for the shape of a run."""

    def __init__(self, model: ChatModel, tools: ToolRegistry, *, max_rounds: int = 5) -> None:
        self.model = model
        self.tools = tools
        self.max_rounds = max_rounds

    async def aclose(self) -> None:
        await self.model.aclose()

    def _rounds(self) -> str:
        return "1 tool round" if self.max_rounds == 1 else f"{self.max_rounds} tool rounds"

    async def run(self, conversation: Conversation) -> AsyncIterator[Event]:
        """Answer the conversation's last user message. The conversation gains the tool rounds
        and the answer (marked interrupted if the run is cut short)."""
        meter = _Meter()
        messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt()}, *conversation.messages]
        shown: list[str] = []  # answer text already streamed to the user
        finished = False
        try:
            for round_number in range(1, self.max_rounds + 2):
                allow_tools = round_number <= self.max_rounds
                if not allow_tools:
                    yield Notice(f"Stopped after {self._rounds()}; answering with what was found.")
                    # As a user turn: many chat templates reject a system message after tool results.
                    messages.append({"role": "user", "content": ROUND_CAP_NOTE})
                current = _Round()
                meter.model_calls += 1
                try:
                    async for event in self._stream_round(messages, allow_tools, current, meter, shown):
                        yield event
                except ModelError as exc:
                    yield Error(str(exc), kind="model")
                    yield meter.usage()
                    return
                calls = current.tool_calls(round_number) if allow_tools else ()
                if not calls:
                    reply = "".join(shown)
                    if not reply.strip():
                        why = (f"the model kept calling tools after {self._rounds()} and gave no answer"
                               if current.calls else "the model returned an empty answer; try again or rephrase")
                        yield Error(why, kind="empty")
                        yield meter.usage()
                        return
                    conversation.add_assistant("".join(current.text))
                    finished = True
                    if current.finish_reason == "length":
                        yield Notice("The answer was cut off: the model reached its output limit.")
                    yield meter.usage()
                    yield Done(reply, current.finish_reason)
                    return
                yield ToolCallsPlanned(round_number, calls)
                results: dict[str, str] = {}
                async for event in run_tool_round(self.tools, calls, results):
                    yield event
                completed = round_messages("".join(current.text), calls, results)
                messages.extend(completed)
                conversation.extend(completed)
        finally:
            if not finished:
                # Cut short (cancelled, failed): keep what the user saw, marked as incomplete.
                partial = "".join(shown).rstrip()
                conversation.add_assistant(f"{partial}\n\n{INTERRUPTED_MARK}" if partial else INTERRUPTED_MARK)

    async def _stream_round(
        self,
        messages: list[dict[str, Any]],
        allow_tools: bool,
        current: _Round,
        meter: _Meter,
        shown: list[str],
    ) -> AsyncIterator[Event]:
        async for piece in self.model.stream(messages, self.tools.schemas(), allow_tools=allow_tools):
            if isinstance(piece, TextPiece):
                current.text.append(piece.text)
                if current.calls and allow_tools:
                    continue  # text after a tool call belongs to the tool round, not the answer
                if meter.ttft_ms is None:
                    meter.ttft_ms = meter.elapsed_ms()
                if len(current.text) == 1 and shown and not shown[-1].endswith("\n"):
                    shown.append("\n\n")  # a preamble from an earlier round ends its paragraph
                    yield TextDelta("\n\n")
                shown.append(piece.text)
                yield TextDelta(piece.text)
            elif isinstance(piece, ReasoningPiece):
                yield ReasoningDelta(piece.text)
            elif isinstance(piece, ToolCallPiece):
                current.add_call_piece(piece)
            elif isinstance(piece, UsagePiece):
                meter.prompt_tokens += piece.prompt_tokens
                meter.completion_tokens += piece.completion_tokens
            elif isinstance(piece, FinishPiece):
                current.finish_reason = piece.reason
