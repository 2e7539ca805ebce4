"""Machine-readable front ends for `triage ask`: one JSON object (`--json`) or the event stream
as NDJSON (`--events`, one event per line, flushed as it happens: what an SSE endpoint serves).

stdout holds nothing else; every string is JSON-escaped, so no control sequence reaches it raw.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from triage_cli.engine.events import Done, Error, Event, Notice, TextDelta, ToolFinished, ToolStarted, TriageRecord, Usage
from triage_cli.ui.sanitize import json_text


class EventLines:
    """`--events`: each event's to_dict() as a line of JSON."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._ended = False

    def handle(self, event: Event) -> None:
        self._ended = self._ended or isinstance(event, (Done, Error))
        self.out.write(json_text(event.to_dict()) + "\n")
        self.out.flush()

    def tick(self) -> None:
        pass

    def finish(self) -> None:
        if not self._ended:  # cut short (Ctrl-C): the stream still ends with an error event
            self.handle(Error("interrupted", kind="interrupted"))
        self.out.flush()


class JsonReport:
    """`--json`: collects the run and writes one object when it ends."""

    def __init__(self, provider: str, model: str | None, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.report: dict[str, Any] = {
            "reply": "", "triage": None, "tool_calls": [], "usage": None,
            "provider": provider, "model": model, "finish_reason": None, "notices": [], "error": None,
        }
        self._text: list[str] = []
        self._calls: dict[str, dict[str, Any]] = {}

    def handle(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            self._text.append(event.text)
        elif isinstance(event, ToolStarted):
            call = {"name": event.name, "arguments": _json_or_text(event.arguments),
                    "result": None, "ok": None, "duration_ms": None}
            self._calls[event.call_id] = call
            self.report["tool_calls"].append(call)
        elif isinstance(event, ToolFinished):
            call = self._calls.get(event.call_id)
            if call is not None:
                call.update(result=_json_or_text(event.result), ok=event.ok, duration_ms=round(event.duration_ms, 1))
        elif isinstance(event, TriageRecord):
            self.report["triage"] = {k: v for k, v in event.to_dict().items() if k != "type"}
        elif isinstance(event, Usage):
            self.report["usage"] = {
                "prompt_tokens": event.prompt_tokens,
                "completion_tokens": event.completion_tokens,
                "model_calls": event.model_calls,
                "ttft_ms": None if event.ttft_ms is None else round(event.ttft_ms, 1),
                "total_ms": round(event.total_ms, 1),
            }
        elif isinstance(event, Notice):
            self.report["notices"].append(event.text)
        elif isinstance(event, Error):
            self.report["error"] = event.message
        elif isinstance(event, Done):
            self.report["finish_reason"] = event.finish_reason

    def tick(self) -> None:
        pass

    def finish(self) -> None:
        self.report["reply"] = "".join(self._text)
        if self.report["finish_reason"] is None and self.report["error"] is None:
            self.report["error"] = "interrupted"  # cut short before the answer was complete
        self.out.write(json_text(self.report) + "\n")
        self.out.flush()


def _json_or_text(text: str) -> Any:
    """Tool arguments and results as data when they are JSON, else as the text itself."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text
