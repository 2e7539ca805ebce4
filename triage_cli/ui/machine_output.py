"""Machine-readable front ends for `triage ask`: one JSON object (`--json`) or the event stream
as NDJSON (`--events`, one event per line, flushed as it happens: what an SSE endpoint serves).

stdout holds nothing else; every string is JSON-escaped, so no control sequence reaches it raw.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from triage_cli.engine.events import Done, Error, Event
from triage_cli.engine.turn_summary import TurnSummary
from triage_cli.engine.wire import line
from triage_cli.sanitize import json_text


class EventLines:
    """`--events`: each event as a line of JSON, with the names and fields `triage serve` streams
    (engine/wire.py), plus `type`."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._ended = False

    def handle(self, event: Event) -> None:
        self._ended = self._ended or isinstance(event, (Done, Error))
        self.out.write(json_text(line(event)) + "\n")
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
        self.provider, self.model = provider, model
        self.summary = TurnSummary()

    def handle(self, event: Event) -> None:
        self.summary.add(event)

    def tick(self) -> None:
        pass

    def report(self) -> dict[str, Any]:
        turn, usage = self.summary, self.summary.usage
        error = turn.error
        if turn.finish_reason is None and error is None:
            error = "interrupted"  # cut short before the answer was complete
        return {
            "reply": turn.reply,
            "triage": TurnSummary.fields(turn.record),
            "tool_calls": [
                {"name": call.name, "arguments": _json_or_text(call.arguments),
                 "result": None if call.result is None else _json_or_text(call.result), "ok": call.ok,
                 "duration_ms": call.duration_ms}
                for call in turn.tool_calls.values() if call.started
            ],
            "usage": None if usage is None else {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "model_calls": usage.model_calls,
                "ttft_ms": None if usage.ttft_ms is None else round(usage.ttft_ms, 1),
                "total_ms": round(usage.total_ms, 1),
            },
            "provider": self.provider, "model": self.model, "finish_reason": turn.finish_reason,
            "notices": [notice.text for notice in turn.notices], "error": error,
        }

    def finish(self) -> None:
        self.out.write(json_text(self.report()) + "\n")
        self.out.flush()


def _json_or_text(text: str) -> Any:
    """Tool arguments and results as data when they are JSON, else as the text itself."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text
