"""OpenTelemetry traces (the optional extra `triage-cli[otel]`), off unless `otel_endpoint` or the
standard OTEL_EXPORTER_OTLP_ENDPOINT is set; opentelemetry is imported only then. One span a turn
(`invoke_agent triage`), a child span a model call (`chat MODEL`) and a tool call
(`execute_tool NAME`), with the GenAI semantic conventions' attributes (`gen_ai.operation.name`,
`gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.usage.input_tokens`, …). The message and
the reply are never in a span unless `otel_capture_content` is on.

The spans are read off the turn's events, so the engine knows nothing of tracing: a model call
runs from the turn's start (or the end of the tool round before it) to the tool round it asks for
(or the answer's end); a tool call from its start to its result. Tokens are the turn's (the
events give them for the whole turn), on the turn's span."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from triage_cli.config import Settings, tracing_installed
from triage_cli.engine.events import (Done, Error, EventStream, TextDelta, ToolCallsPlanned, ToolFinished, ToolStarted,
                                      TriageRecord, Usage)
from triage_cli.engine.fallback import stood_in
from triage_cli.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

SERVICE = "triage"
EXPORT_SECONDS = 2  # the most an export (and the one at exit) may take: a collector away costs no more
_PROVIDER: Any = None  # the process's tracer provider, made on first use
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class Tracing:
    def __init__(self, tracer: Tracer, *, provider: str, model: str | None, capture: bool) -> None:
        self.tracer, self.provider, self.model, self.capture = tracer, provider, model or "", capture

    async def traced(self, events: EventStream, question: str, conversation: Callable[[], int | None]) -> EventStream:
        """The turn's events as they were, its spans made on the way; `conversation`: the stored
        conversation's id, once known."""
        from opentelemetry import trace

        turn = self.tracer.start_span("invoke_agent triage", kind=trace.SpanKind.INTERNAL, attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": SERVICE,
            "gen_ai.provider.name": self.provider, "gen_ai.request.model": self.model})
        if self.capture:
            turn.set_attribute("gen_ai.input.messages", _messages("user", question))
        spans = _TurnSpans(self, trace.set_span_in_context(turn))
        reply: list[str] | None = [] if self.capture else None
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    if type(event) is TextDelta:
                        if reply is not None:
                            reply.append(event.text)
                    else:
                        spans.saw(event, turn)
                    yield event
        finally:
            spans.end()
            if conversation() is not None:
                turn.set_attribute("gen_ai.conversation.id", str(conversation()))
            if reply is not None:
                turn.set_attribute("gen_ai.output.messages", _messages("assistant", "".join(reply)))
            turn.end()


class _TurnSpans:
    """The model-call and tool-call spans of one turn, from its events."""

    def __init__(self, tracing: Tracing, parent: Any) -> None:
        self.tracing, self.parent = tracing, parent
        self.call: Span | None = None
        self.tools: dict[str, Span] = {}
        self.model_gone = False  # the rules stood in: no more model calls this turn
        self._open_call()

    def _open_call(self) -> None:
        if self.tracing.provider == "offline" or self.model_gone:
            return  # the rules make no model call
        from opentelemetry.trace import SpanKind

        model = self.tracing.model
        self.call = self.tracing.tracer.start_span(f"chat {model}".strip(), context=self.parent, kind=SpanKind.CLIENT,
                                                   attributes={"gen_ai.operation.name": "chat",
                                                               "gen_ai.provider.name": self.tracing.provider,
                                                               "gen_ai.request.model": model})

    def _end_call(self, finish: str | None = None) -> None:
        if self.call is not None:
            if finish:
                self.call.set_attribute("gen_ai.response.finish_reasons", [finish])
            self.call.end()
            self.call = None

    def saw(self, event: Any, turn: Span) -> None:
        if isinstance(event, ToolCallsPlanned):
            self._end_call("tool_calls")
        elif isinstance(event, ToolStarted):
            name = tool_label(event.name)
            self.tools[event.call_id] = self.tracing.tracer.start_span(
                f"execute_tool {name}", context=self.parent, attributes={
                    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
                    "gen_ai.tool.call.id": event.call_id})
        elif isinstance(event, ToolFinished):
            span = self.tools.pop(event.call_id, None)
            if span is not None:
                if not event.ok:
                    _failed(span, "tool_error")
                span.end()
            if not self.tools and self.call is None:
                self._open_call()  # the next model call reads the round's results
        elif isinstance(event, Usage):
            turn.set_attributes({"gen_ai.usage.input_tokens": event.prompt_tokens,
                                 "gen_ai.usage.output_tokens": event.completion_tokens,
                                 "triage.model_calls": event.model_calls})
        elif isinstance(event, TriageRecord):
            turn.set_attribute("triage.next_step", event.next_step)
        elif isinstance(event, Done):
            self._end_call(event.finish_reason)
            if event.answered_by:
                turn.set_attribute("triage.answered_by", event.answered_by)
        elif isinstance(event, Error):
            _failed(turn, event.kind)
            if self.call is not None:
                _failed(self.call, event.kind)
        elif stood_in(event):  # the model failed; the rules answer in its place, with no model call
            if self.call is not None:
                _failed(self.call, "model")
            self._end_call()
            self.model_gone = True

    def end(self) -> None:
        """A turn cut short: whatever is open ends with it."""
        for span in self.tools.values():
            span.end()
        self._end_call()


def _failed(span: Span, kind: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", kind)
    span.set_status(Status(StatusCode.ERROR))


def _messages(role: str, text: str) -> str:
    """A message as the GenAI conventions record one: a JSON list of {role, parts}."""
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}], ensure_ascii=False)


def tool_label(name: str) -> str:
    """A tool's name as a span or metric may carry it: a model can name any tool, so an odd name
    (not a plain identifier, or too long) is "unknown", and no name floods a collector."""
    return name if _TOOL_NAME.fullmatch(name) else "unknown"


def check_tracing(settings: Settings) -> None:
    """A ConfigError when tracing is set and its packages are missing (nothing is imported): at
    a server's start, not at every turn, and before a tracer is made."""
    if settings.otel_endpoint and not tracing_installed():
        raise ConfigError("tracing is set (otel_endpoint) but its packages are not installed: "
                          "pip install 'triage-cli[otel]'")


def tracing_for(settings: Settings) -> Tracing | None:
    """The tracing of the settings' turns; None when it is off (nothing imported)."""
    if not settings.otel_endpoint:
        return None
    return Tracing(_tracer(settings), provider=settings.provider, model=settings.model,
                   capture=settings.otel_capture_content)


def _tracer(settings: Settings) -> Tracer:
    global _PROVIDER
    if _PROVIDER is None:
        check_tracing(settings)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        import logging
        import os

        logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)  # a collector away never speaks over the answer
        provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", SERVICE)}))
        endpoint = settings.otel_endpoint.rstrip("/")
        traces = endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces, timeout=EXPORT_SECONDS),
                                                       export_timeout_millis=EXPORT_SECONDS * 1000))
        _PROVIDER = provider
        import atexit

        atexit.register(flush)
    tracer: Tracer = _PROVIDER.get_tracer("triage_cli")
    return tracer


def flush() -> None:
    """At exit (a worker's too): the spans still batched are sent, within EXPORT_SECONDS."""
    if _PROVIDER is not None:
        with contextlib.suppress(Exception):
            _PROVIDER.force_flush(EXPORT_SECONDS * 1000)
            _PROVIDER.shutdown()
