"""The agent loop: tool rounds (shown as progress, never as tokens), then the streamed answer.

Every model call streams. A call whose output turns into tool calls is a tool round: its calls run
concurrently and their results go back to the model. The call that answers in text is the final
answer, streamed as it arrives, so an answer costs exactly tool rounds + 1 model calls. The same
call carries the triage record (engine/answer_format.py), settled against the lookups and the
policy in engine/record.py before it is sent, after the reply.

Servers that cannot stream a call offering tools (llama-cpp-python's) get `stream: false` calls
(tool_rounds = plain, or auto after the first such failure): the same pieces, the answer shown as
soon as its call returns; still tool rounds + 1 calls. Structured output steps down the same way
(json_schema, json_object, the text trailer) when the server refuses it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from triage_cli.engine import intents
from triage_cli.engine.answer_format import RESPONSE_FORMATS, AnswerReader
from triage_cli.engine.conversation import Conversation, model_messages
from triage_cli.engine.events import (
    EventStream,
    Done,
    Error,
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
    Piece,
    ReasoningPiece,
    TextPiece,
    ToolCallPiece,
    UsagePiece,
)
from triage_cli.engine.prompts import ROUND_CAP_NOTE, system_prompt
from triage_cli.engine.record import lookups_from_calls, settle
from triage_cli.engine.tool_round import round_messages, run_tool_round
from triage_cli.errors import ContextTooLong, ModelError, StructuredOutputRejected, ToolStreamingUnsupported
from triage_cli.order_ids import ORDER_ID_PATTERN
from triage_cli.tools.orders import ORDER_TOOL
from triage_cli.tools.registry import ToolRegistry

STRUCTURED_FALLBACK_NOTE = "This endpoint does not take structured output; using the text fallback for the record."
STRUCTURED_FALLBACK_HINT = 'Set structured_output = "off" for it to skip the first try.'
JSON_OBJECT_NOTE = ("This endpoint refused a JSON schema; using JSON mode (json_object, the schema in the prompt) "
                    "for the rest of the session.")
JSON_OBJECT_HINT = 'Set structured_output = "json_object" for it to skip the first try.'
PLAIN_ROUNDS_NOTE = ("This endpoint cannot stream tool calls; calls that offer tools are made without streaming "
                     "for the rest of the session.")
PLAIN_ROUNDS_HINT = 'Set tool_rounds = "plain" for it to skip the first try.'
# What an endpoint's tool rounds were learned to need: PLAIN (streamed tool calls refused beyond
# doubt), SUSPECTED (a stream broke after its headers once; a second time makes it PLAIN).
PLAIN, SUSPECTED = "plain", "plain?"
# What structured_output = auto tries, in order, while the server refuses.
STRUCTURED_LADDER = ("json_schema", "json_object", "off")


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
    reader: AnswerReader = field(default_factory=AnswerReader)
    shown_any: bool = False
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


@dataclass
class _Run:
    """One run's state, shared by its steps: the messages sent, what the user has seen, the
    lookups, the last model call (`current`), and how it ended."""

    conversation: Conversation
    messages: list[dict[str, Any]]
    meter: _Meter = field(default_factory=_Meter)
    current: _Round = field(default_factory=_Round)
    shown: list[str] = field(default_factory=list)  # answer text already streamed to the user
    looked_up: list[tuple[ToolCall, str]] = field(default_factory=list)
    trimmed: bool = False  # earlier turns' lookups were left out to fit the context window
    outgrew: str = ""  # the error when the tool rounds outgrew the model's context window
    stopped: Error | None = None  # the error that ends the run
    finished: bool = False  # the answer is whole and in the conversation

    @property
    def question(self) -> str:
        questions = self.conversation.texts("user")
        return questions[-1] if questions else ""


class Agent:
    """Runs a model with tools; see the module docstring for the shape of a run.

    `structured_output` is "json_schema" (always ask for the JSON answer with its schema),
    "json_object" (JSON mode, the schema in the prompt), "off" (Markdown with a record trailer) or
    "auto": each in that order while the endpoint refuses it; the step that worked is kept for the
    session as `structured_mode`. `tool_rounds` is "stream", "plain" (calls that offer tools are
    not streamed) or "auto": streamed until the server fails to stream one, then plain for the
    session (`tool_round_mode`)."""

    def __init__(
        self, model: ChatModel, tools: ToolRegistry, *, max_rounds: int = 5, structured_output: str = "auto",
        tool_rounds: str = "auto", order_id_pattern: re.Pattern[str] = ORDER_ID_PATTERN, policy_guard: str = "strict",
        instructions: str = "", learned: tuple[str | None, str | None] = (None, None),
    ) -> None:
        """`learned`: what this endpoint refused in an earlier run (the structured-output step
        and the tool-round mode it settled on), used where the settings leave them to `auto`."""
        self.model = model
        self.tools = tools
        self.max_rounds = max_rounds
        self.structured_output = structured_output
        self.tool_rounds = tool_rounds
        step, rounds = learned if structured_output == "auto" else (None, learned[1])
        self.structured_mode = step or ("json_schema" if structured_output == "auto" else structured_output)
        # Streamed tool calls refused beyond doubt (the endpoint said so, or did it in two runs);
        # suspected: a stream broke or went quiet after its headers once (a passing fault does too).
        self._plain_for_good = tool_rounds == "auto" and rounds == PLAIN
        self._suspected = tool_rounds == "auto" and rounds == SUSPECTED
        self.tool_round_mode = "plain" if tool_rounds == "plain" or self._plain_for_good else "stream"
        self.order_id_pattern = order_id_pattern
        self.policy_guard = policy_guard
        self.instructions = instructions

    @property
    def learned(self) -> tuple[str | None, str | None]:
        """What this endpoint refused, worth remembering for the next run: the structured-output
        step `auto` stepped down to, and PLAIN when streamed tool calls were refused beyond doubt
        (SUSPECTED after one stream that broke after its headers: a second, in a later run, makes
        it PLAIN)."""
        stepped = self.structured_output == "auto" and self.structured_mode != "json_schema"
        rounds = PLAIN if self._plain_for_good else SUSPECTED if self._suspected else None
        return (self.structured_mode if stepped else None), rounds

    def warm_up(self) -> None:
        self.model.warm_up()

    async def aclose(self) -> None:
        await self.model.aclose()

    def _rounds(self, count: int | None = None) -> str:
        count = self.max_rounds if count is None else count
        return "1 tool round" if count == 1 else f"{count} tool rounds"

    def _system(self) -> dict[str, Any]:
        return {"role": "system", "content": system_prompt(structured=self.structured_mode, instructions=self.instructions)}

    def _step_down(self, exc: StructuredOutputRejected) -> Notice | Error:
        """The next step of the structured-output ladder, as the notice that says so; an Error
        when there is none (a fixed mode, or the last step)."""
        at = STRUCTURED_LADDER.index(self.structured_mode) if self.structured_mode in STRUCTURED_LADDER else -1
        if self.structured_output != "auto" or not 0 <= at < len(STRUCTURED_LADDER) - 1:
            return Error(f"{exc} (set structured_output = \"off\" for this provider)", kind="model")
        self.structured_mode = STRUCTURED_LADDER[at + 1]
        if self.structured_mode == "json_object":
            return Notice(JSON_OBJECT_NOTE, hint=JSON_OBJECT_HINT)
        return Notice(STRUCTURED_FALLBACK_NOTE, hint=STRUCTURED_FALLBACK_HINT)

    async def run(self, conversation: Conversation) -> EventStream:
        """Answer the conversation's last user message. The conversation gains the tool rounds
        and the answer (marked interrupted if the run is cut short). Each round is a model call
        (asked again while the agent can step around a refusal), then either a tool round or the
        final answer; a step that cannot go on ends the run with its error, after the usage."""
        run = _Run(conversation, [self._system(), *model_messages(conversation.messages)])
        # The rules' table compiles in a thread while the model answers: the guard reads it after.
        rules_ready = asyncio.ensure_future(asyncio.to_thread(intents.warm_up))
        try:
            for round_number in range(1, self.max_rounds + 2):
                allow_tools = round_number <= self.max_rounds
                if not allow_tools:
                    yield Notice(f"Stopped after {self._rounds()}; answering with what was found.")
                    # As a user turn: many chat templates reject a system message after tool results.
                    run.messages.append({"role": "user", "content": ROUND_CAP_NOTE})
                async for event in self._model_call(run, allow_tools):
                    yield event
                calls = run.current.tool_calls(round_number) if allow_tools and not run.stopped else ()
                if calls:
                    async for event in self._tool_round(run, round_number, calls):
                        yield event
                    continue
                if not run.stopped:
                    async for event in self._final_answer(run, round_number, rules_ready):
                        yield event
                if run.stopped is not None:
                    yield run.meter.usage()  # the error comes last: it ends the stream
                    yield run.stopped
                return
        finally:
            if not run.finished:
                # Cut short (cancelled, failed): keep what the user saw, marked as incomplete.
                conversation.add_interrupted("".join(run.shown))

    # the steps -------------------------------------------------------------------------------

    async def _model_call(self, run: _Run, allow_tools: bool) -> EventStream:
        """One model call into `run.current`, asked again (with a notice) while a refusal can be
        stepped around; `run.stopped` when it cannot."""
        while True:
            run.current = _Round()
            run.meter.model_calls += 1
            try:
                async for event in self._stream_round(run.messages, allow_tools, run.current, run.meter, run.shown):
                    yield event
                return
            except ModelError as exc:
                step = self._step_around(exc, run)
            if step is None:  # the tool rounds outgrew the context: the rules answer from the lookups
                run.current = _Round()
                return
            if isinstance(step, Error):
                run.stopped = step
                return
            yield step

    def _step_around(self, exc: ModelError, run: _Run) -> Notice | Error | None:
        """What a failed call leads to: a notice and another try (down the structured-output
        ladder, tool rounds without streaming, earlier lookups left out), None to answer from the
        lookups so far, or the error that ends the run."""
        if isinstance(exc, StructuredOutputRejected):
            step = self._step_down(exc)
            run.messages[0] = self._system()
            return step
        if isinstance(exc, ToolStreamingUnsupported):
            return self._plain_rounds(exc)
        if isinstance(exc, ContextTooLong):
            return self._outgrown(exc, run)
        return Error(str(exc), kind="model")

    def _plain_rounds(self, exc: ToolStreamingUnsupported) -> Notice | Error:
        if self.tool_rounds != "auto" or self.tool_round_mode == "plain":
            hint = ' (set tool_rounds = "plain" for this provider)' if self.tool_rounds == "stream" else ""
            return Error(f"{exc}{hint}", kind="model")
        self.tool_round_mode = "plain"
        self._plain_for_good = exc.certain or self._suspected
        self._suspected = not self._plain_for_good
        return Notice(PLAIN_ROUNDS_NOTE, hint=PLAIN_ROUNDS_HINT)

    def _outgrown(self, exc: ContextTooLong, run: _Run) -> Notice | Error | None:
        trimmed = [run.messages[0], *model_messages(run.conversation.without_earlier_lookups())]
        if not run.looked_up and not run.trimmed and len(run.messages) > len(trimmed):
            # Earlier turns' lookups fill a small window: ask again without them.
            run.trimmed, run.messages = True, trimmed
            return Notice(f"The conversation outgrew {self.model.name}'s context; earlier turns' lookups were left "
                          "out of this request.", hint="Start a new conversation (/new in chat) to give it room.")
        if run.shown or not run.looked_up:  # the question itself is too long: nothing to save
            return Error(str(exc), kind="model")
        # A small context filled up by the tool rounds: the rules answer from the lookups (or
        # their own) rather than lose the turn.
        run.outgrew = str(exc)
        return None

    async def _tool_round(self, run: _Run, round_number: int, calls: tuple[ToolCall, ...]) -> EventStream:
        yield ToolCallsPlanned(round_number, calls)
        results: dict[str, str] = {}
        async for event in run_tool_round(self.tools, calls, results):
            yield event
        run.looked_up.extend((call, results[call.id]) for call in calls)
        completed = round_messages("".join(run.current.text), calls, results)
        run.messages.extend(completed)
        run.conversation.extend(completed)

    async def _final_answer(self, run: _Run, round_number: int, rules_ready: asyncio.Future[None]) -> EventStream:
        """The answer's end, the rules' answer where the model gave none, and the record settled
        against the lookups and the policy."""
        current = run.current
        rest, fields = current.reader.finish()
        if rest:
            run.shown.append(rest)
            yield TextDelta(rest)
        if current.reader.unterminated and current.finish_reason != "length":
            # The JSON answer never closed its object: a cut stream, kept as such.
            run.stopped = Error(f"the answer from {self.model.name} ended inside its JSON object, so it is "
                                "incomplete", kind="model")
            return
        lookups = lookups_from_calls(run.looked_up, self.order_id_pattern)
        if not "".join(run.shown).strip():
            async for event in self._rules_answer(run, round_number, lookups):
                yield event
            fields = {}
        reply = "".join(run.shown)
        if not reply.strip():
            run.stopped = self._no_answer(run)
            return
        await rules_ready
        record, verdict = settle(fields, run.question, reply, lookups, run.conversation.named_order,
                                 level=self.policy_guard, earlier=run.conversation.last_record)
        if verdict:
            addition = ("\n" if reply.endswith("\n") else "\n\n") + verdict + "\n"
            run.shown.append(addition)
            yield TextDelta(addition)
            reply += addition
        run.conversation.add_assistant(reply)
        run.finished = True
        if (notice := record.guard_notice()) is not None:
            yield notice
        yield record
        if current.finish_reason == "length":
            yield Notice("The answer was cut off: the model reached its output limit.")
        yield run.meter.usage()
        yield Done(reply, current.finish_reason)

    async def _rules_answer(self, run: _Run, round_number: int, lookups: list[dict[str, Any]]) -> EventStream:
        """A model that said nothing: the rules look up the order in context where it tried and
        named none it could use (a small model's malformed call) or outgrew its context, and
        answer from what was found (a model that only ever calls tools, or says nothing after
        looking up)."""
        rules_looked_up = False
        if not lookups and (run.outgrew or any(c.name == ORDER_TOOL for c, _ in run.looked_up)):
            from triage_cli.engine.offline import OfflineEngine

            rules = OfflineEngine(self.tools, order_id_pattern=self.order_id_pattern)
            async for event in rules.look_up(run.conversation, lookups, round_number + 1):
                yield event
            rules_looked_up = bool(lookups)
        if not lookups:
            return
        from triage_cli.engine.offline import write_answer

        if run.outgrew:
            yield Notice(f"The conversation outgrew {self.model.name}'s context after {self._rounds(round_number - 1)}; "
                         "triage's rules wrote this answer from the lookups.",
                         hint="Start a new conversation (/new in chat) to give it room.")
        elif rules_looked_up:
            yield Notice("The model's lookup named no order and it gave no answer; triage's rules looked up the "
                         "order in context and wrote this answer.")
        else:
            stuck = "kept calling tools" if run.current.calls else "gave no answer"
            yield Notice(f"The model {stuck} after {self._rounds(round_number - 1)}; triage's rules wrote this "
                         "answer from the lookups.")
        reply, _ = write_answer(run.question, lookups, date.today(), named_order=run.conversation.named_order)
        if run.meter.ttft_ms is None:
            run.meter.ttft_ms = run.meter.elapsed_ms()
        run.shown.append(reply)
        yield TextDelta(reply)

    def _no_answer(self, run: _Run) -> Error:
        if run.outgrew:
            return Error(run.outgrew, kind="model")
        why = (f"the model kept calling tools after {self._rounds()} and gave no answer"
               if run.current.calls else "the model returned an empty answer; try again or rephrase")
        return Error(why, kind="empty")

    async def _stream_round(
        self,
        messages: list[dict[str, Any]],
        allow_tools: bool,
        current: _Round,
        meter: _Meter,
        shown: list[str],
    ) -> EventStream:
        response_format = RESPONSE_FORMATS[self.structured_mode]
        schemas = self.tools.schemas()
        stream: AsyncIterator[Piece]
        if self.tool_round_mode == "plain" and schemas:
            stream = _replay(await self.model.complete(messages, schemas, allow_tools=allow_tools,
                                                       response_format=response_format))
        else:
            stream = self.model.stream(messages, schemas, allow_tools=allow_tools, response_format=response_format)
        async for piece in stream:
            if isinstance(piece, TextPiece):
                current.text.append(piece.text)
                if current.calls and allow_tools:
                    continue  # text after a tool call belongs to the tool round, not the answer
                visible = current.reader.feed(piece.text)
                if not visible:
                    continue
                if meter.ttft_ms is None:
                    meter.ttft_ms = meter.elapsed_ms()
                if not current.shown_any and shown and not shown[-1].endswith("\n"):
                    shown.append("\n\n")  # a preamble from an earlier round ends its paragraph
                    yield TextDelta("\n\n")
                current.shown_any = True
                shown.append(visible)
                yield TextDelta(visible)
            elif isinstance(piece, ReasoningPiece):
                yield ReasoningDelta(piece.text)
            elif isinstance(piece, ToolCallPiece):
                current.add_call_piece(piece)
            elif isinstance(piece, UsagePiece):
                meter.prompt_tokens += piece.prompt_tokens
                meter.completion_tokens += piece.completion_tokens
            elif isinstance(piece, FinishPiece):
                current.finish_reason = piece.reason


async def _replay(pieces: list[Piece]) -> AsyncIterator[Piece]:
    """A non-streamed answer read like a stream: shown the moment its call returns."""
    for piece in pieces:
        yield piece
