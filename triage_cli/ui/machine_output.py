"""Machine-readable front ends for `triage ask`: one JSON object (`--json`) or the event stream
as NDJSON (`--events`, one event per line, flushed as it happens: what an SSE endpoint serves).

stdout holds nothing else; every string is JSON-escaped, so no control sequence reaches it raw.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from triage_cli.engine.events import Done, Error, Event
from triage_cli.engine.turn_summary import TurnSummary
from triage_cli.engine.wire import line, turn_report
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
        return turn_report(self.summary, self.provider, self.model)

    def finish(self) -> None:
        self.out.write(json_text(self.report()) + "\n")
        self.out.flush()
