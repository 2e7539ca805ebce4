"""Traces (issue 28): off unless an endpoint is set (and then nothing of OpenTelemetry is even
imported); on, one span a turn with a child a model call and a tool call, carrying the GenAI
semantic conventions' attributes and never the customer's words unless capture is on. Checked
with the SDK's in-memory exporter, and once end to end: the real CLI exporting OTLP/HTTP to a
collector of the test's own."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from scripted_server import ScriptedServer, answer, tools
from triage_cli.config import load_settings
from triage_cli.session import TriageSession
from triage_cli.session.tracing import Tracing

QUESTION = "Where is A1002? My name is Jo Bloggs"


def a_turn(server: ScriptedServer, *, capture: bool) -> list:
    server.add(tools(("get_order_status", {"order_id": "A1002"})),
               answer("A1002 is late.", order_id="A1002", issue="late", status="delayed", next_step="answer",
                      summary="late"))
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = load_settings({}, environ={"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url})

    async def go() -> None:
        async with await TriageSession.open(settings, source="ask", keep=False) as session:
            session.tracing = Tracing(provider.get_tracer("test"), provider="openai", model=settings.model,
                                      capture=capture)
            async for _ in session.ask(QUESTION):
                pass

    asyncio.run(go())
    return list(exporter.get_finished_spans())


def test_a_turn_is_a_span_with_a_child_for_each_model_call_and_tool_call(triage_env):
    with ScriptedServer() as server:
        spans = a_turn(server, capture=False)
    by_name = {span.name: span for span in spans}
    assert sorted(span.name for span in spans) == [
        "chat gpt-4.1-mini", "chat gpt-4.1-mini", "execute_tool get_order_status", "invoke_agent triage"]
    turn = by_name["invoke_agent triage"]
    assert all(span.parent.span_id == turn.context.span_id for span in spans if span is not turn)
    assert turn.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert turn.attributes["gen_ai.request.model"] == "gpt-4.1-mini" and turn.attributes["gen_ai.provider.name"] == "openai"
    assert turn.attributes["gen_ai.usage.input_tokens"] > 0 and turn.attributes["gen_ai.usage.output_tokens"] > 0
    assert turn.attributes["triage.next_step"] == "answer" and turn.attributes["triage.model_calls"] == 2
    calls = [span for span in spans if span.name.startswith("chat ")]
    assert all(call.kind.name == "CLIENT" for call in calls) and turn.kind.name == "INTERNAL"
    assert [c.attributes["gen_ai.response.finish_reasons"] for c in sorted(calls, key=lambda s: s.start_time)] == [
        ("tool_calls",), ("stop",)]
    tool = by_name["execute_tool get_order_status"]
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool" and tool.attributes["gen_ai.tool.name"] == "get_order_status"
    first_call = min(calls, key=lambda s: s.start_time)
    assert first_call.end_time <= tool.start_time  # the tool ran after the call that asked for it
    said = " ".join(str(value) for span in spans for value in span.attributes.values())
    assert "Jo Bloggs" not in said and "late" not in said  # no message text without capture


def test_with_capture_on_the_turn_carries_the_question_and_the_reply(triage_env):
    with ScriptedServer() as server:
        spans = a_turn(server, capture=True)
    turn = next(span for span in spans if span.name == "invoke_agent triage")
    # As the GenAI conventions record messages: a JSON list of {role, parts}.
    assert json.loads(turn.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": QUESTION}]}]
    [said] = json.loads(turn.attributes["gen_ai.output.messages"])
    assert said["role"] == "assistant" and said["parts"][0]["content"].startswith("A1002 is late.")


class _Collector(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - the standard library's name
        self.received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_the_cli_exports_its_spans_over_otlp_and_without_an_endpoint_imports_nothing(run_triage, triage_env):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    collector = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=collector.serve_forever, daemon=True)
    thread.start()
    try:
        with ScriptedServer() as server:
            server.add(tools(("get_order_status", {"order_id": "A1002"})),
                       answer("Late.", order_id="A1002", issue="late", status="delayed", next_step="answer", summary="l"))
            env = {**triage_env, "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url,
                   "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_port}"}
            done = subprocess.run([sys.executable, "-m", "triage_cli", "ask", QUESTION], env=env, capture_output=True,
                                  text=True, timeout=60)
    finally:
        collector.shutdown()
        collector.server_close()
    assert done.returncode == 0, done.stderr
    names = []
    for body in _Collector.received:
        request = ExportTraceServiceRequest.FromString(body)
        names += [span.name for resource in request.resource_spans for scope in resource.scope_spans
                  for span in scope.spans]
    assert sorted(names) == ["chat gpt-4.1-mini", "chat gpt-4.1-mini", "execute_tool get_order_status",
                             "invoke_agent triage"]
    plain = subprocess.run([sys.executable, "-X", "importtime", "-m", "triage_cli", "ask", "Where is A1002?"],
                           env=triage_env, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0 and "opentelemetry" not in plain.stderr


def test_the_standard_variable_alone_never_breaks_a_triage_that_does_not_trace():
    from triage_cli.config import load_settings

    grpc = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    assert load_settings({}, environ=grpc).otel_endpoint == ""  # OTLP over gRPC: not ours to send
    disabled = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}
    assert load_settings({}, environ=disabled).otel_endpoint == ""
    off = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "TRIAGE_OTEL_ENDPOINT": "off"}
    assert load_settings({}, environ=off).otel_endpoint == ""
    http = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    assert load_settings({}, environ=http).otel_endpoint == "http://collector:4318"  # the extra is installed here


def test_when_the_rules_stand_in_the_failed_model_call_says_so_and_no_other_opens(triage_env):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = load_settings({}, environ={"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
                                          "TRIAGE_RETRIES": "0", "TRIAGE_FALLBACK": "offline"})

    async def go() -> None:
        async with await TriageSession.open(settings, source="ask", keep=False) as session:
            session.tracing = Tracing(provider.get_tracer("test"), provider="openai", model=settings.model, capture=False)
            async for _ in session.ask("Where is A1002?"):
                pass

    asyncio.run(go())
    spans = list(exporter.get_finished_spans())
    [call] = [span for span in spans if span.name.startswith("chat ")]  # the failed one; the rules make none
    assert call.status.status_code.name == "ERROR" and call.attributes["error.type"] == "model"
    turn = next(span for span in spans if span.name == "invoke_agent triage")
    assert turn.attributes["triage.answered_by"] == "offline" and turn.status.status_code.name != "ERROR"
    assert [s.name for s in spans if s.name.startswith("execute_tool")] == ["execute_tool get_order_status"]
