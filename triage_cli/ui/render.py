"""Presenting the event stream: the loop that feeds a front end, the plain-text view for pipes,
and the small formatters the views share (the terminal view is ui/terminal_view.py).

No view knows where the events come from. Every string that came from a model or a tool passes
through the sanitizer before it reaches the terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from triage_cli.engine.events import Error, Event, EventStream, Notice, TextDelta, TriageRecord, Usage
from triage_cli.engine.turn_summary import TurnSummary
from triage_cli.ui.render_stats import RenderStats
from triage_cli.sanitize import StreamSanitizer, clean, one_line

# How often a view gets a chance to draw between events: deferred chunks and spinners. Short,
# so a chunk held back for the next frame still reaches the screen within a few milliseconds.
TICK_SECONDS = 1 / 200
PLAIN_FLUSH_SECONDS = 1 / 100  # --plain flushes at most this often (then the next tick flushes the rest)


class Renderer(Protocol):
    def handle(self, event: Event) -> None: ...
    def tick(self) -> None: ...
    def finish(self) -> None: ...


@dataclass
class RunResult:
    """What a front end needs to know once the events stop."""

    summary: TurnSummary = field(default_factory=TurnSummary)
    output_closed: bool = False  # the reader went away (`| head -1`); the run still finished

    @property
    def error(self) -> str | None:
        return self.summary.error

    @property
    def usage(self) -> Usage | None:
        return self.summary.usage

    @property
    def record(self) -> TriageRecord | None:
        return self.summary.record

    @property
    def exit_code(self) -> int:
        return 1 if self.error else 0


async def present(events: EventStream, renderer: Renderer) -> RunResult:
    """Feed every event to `renderer`, ticking it between events so spinners move and batched
    frames reach the screen even while the stream is quiet. If the output is closed by its
    reader, the run goes on unseen to its end, so the turn is stored whole and its ticket filed."""
    result = RunResult()
    view = renderer

    def shown(draw: Callable[[], None]) -> None:
        nonlocal view
        try:
            draw()
        except BrokenPipeError:
            view, result.output_closed = _UNSEEN, True

    async def ticker() -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            shown(view.tick)

    ticking = asyncio.create_task(ticker())
    try:
        # aclosing: a cancelled run closes the engine's generator (and its HTTP stream) now.
        async with contextlib.aclosing(events):
            async for event in events:
                result.summary.add(event)
                shown(lambda: view.handle(event))  # noqa: B023 - called at once
    finally:
        ticking.cancel()
        shown(view.finish)
    if result.output_closed:
        quiet_stdout()
    return result


class _Unseen:
    """The view once nobody reads the output any more."""

    def handle(self, event: Event) -> None:
        pass

    def tick(self) -> None:
        pass

    def finish(self) -> None:
        pass


_UNSEEN = _Unseen()


def quiet_stdout() -> None:
    """Point stdout and stderr at /dev/null once their reader has gone, so nothing later (the
    interpreter's last flush included) fails writing to them."""
    for stream in (sys.stdout, sys.stderr):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError, AttributeError):
            pass


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def usage_line(usage: Usage) -> str:
    """`2 model calls · 812 in / 95 out tokens · first token 640 ms · 1.7 s`"""
    calls = "no model" if usage.model_calls == 0 else (
        "1 model call" if usage.model_calls == 1 else f"{usage.model_calls} model calls")
    parts = [calls]
    if usage.model_calls:
        parts.append(f"{usage.prompt_tokens:,} in / {usage.completion_tokens:,} out tokens")
    if usage.ttft_ms is not None:
        parts.append(f"first token {usage.ttft_ms:,.0f} ms")
    parts.append(f"{usage.total_ms / 1000:.1f} s")
    return " · ".join(parts)


def when(iso: str) -> str:
    """A stored UTC time in local time, to the minute."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return one_line(iso)


def format_arguments(arguments: str) -> str:
    """`order_id="A1002"` from the JSON a model sent; the raw text if it is not JSON."""
    try:
        values = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError:
        return _shorten(clean(arguments), 60)
    if not isinstance(values, dict):
        return _shorten(clean(arguments), 60)
    return _shorten(clean(", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in values.items())), 60)


def summarize_result(result: str) -> str:
    """One short line from a tool result: an order's status and ETA, or the error."""
    try:
        data = json.loads(result)
    except json.JSONDecodeError:
        return _shorten(clean(result), 80)
    if not isinstance(data, dict):
        return _shorten(clean(result), 80)
    if data.get("found") is False:
        return "not found"
    preferred = [f"{k} {data[k]}" if k == "eta" else _readable(str(data[k])) for k in ("status", "carrier", "eta")
                 if data.get(k)]
    values = preferred or [v for v in data.values() if isinstance(v, (str, int, float)) and not isinstance(v, bool)][:3]
    return _shorten(clean(" · ".join(str(v) for v in values)), 80)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class ShownAgain(TriageRecord):
    """A stored record shown later, with its ticket's state now: it may have been closed since."""

    ticket_state: str = "open"


def record_lines(record: TriageRecord) -> list[tuple[str, str]]:
    """The record as (label, one-line value) pairs, safe to print. A live record's ticket was
    just filed, so it is open."""
    lines = [
        ("Order", record.order_id or "none"),
        ("Issue", _readable(record.issue)),
        ("Status", _readable(record.status)),
        ("Next step", record.next_step),
        ("Summary", record.summary),
    ]
    if record.guard:  # triage escalated where the model said answer
        lines.append(("Guard", f"escalated; the model said answer, but {record.guard}"))
    if record.ticket is not None:
        state = record.ticket_state if isinstance(record, ShownAgain) else "open"
        lines.append(("Ticket", f"#{record.ticket} ({state})"))
    return [(label, one_line(value)) for label, value in lines]


def _readable(value: str) -> str:
    """`in transit` for a data value like `in_transit` (the record itself keeps the data)."""
    return value.replace("_", " ") if re.fullmatch(r"[a-z]+(?:_[a-z]+)+", value) else value


# --------------------------------------------------------------------------- plain text


class PlainRenderer:
    """For pipes and files: the reply as text, then the record as `Key: value` lines.
    Notices and errors go to stderr, so stdout holds only the answer."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, *,
                 stats: RenderStats | None = None, clock: Callable[[], float] = time.perf_counter) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.stats = stats
        self.clock = clock
        self._sanitizer = StreamSanitizer()
        self._ends_with_newline = True
        self._wrote = False
        self._unflushed = False
        self._flushed_at: float | None = None  # never: the first chunk goes out at once

    def handle(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            if self.stats is not None:
                self.stats.content()
            text = self._sanitizer.feed(event.text)
            if text:
                self.out.write(text)
                self._unflushed = self._wrote = True
                self._ends_with_newline = text.endswith("\n")
            # A flush per chunk is a write per token (most of --plain's time with a fast
            # provider): chunks that come close together go out in one, within a tick.
            if self._flushed_at is None or self.clock() - self._flushed_at >= PLAIN_FLUSH_SECONDS:
                self._flush()
        elif isinstance(event, TriageRecord):
            self._end_line()
            self.out.write("\n" + "".join(f"{k}: {v}\n" for k, v in record_lines(event)))
            self._flush()
        elif isinstance(event, Notice):
            self._remark(f"note: {clean(event.text)}{' ' + event.hint if event.hint else ''}")
        elif isinstance(event, Error):
            self._end_line()
            self._remark(f"error: {clean(event.message)}")

    def _remark(self, line: str) -> None:
        """A note or an error on stderr; on a terminal (TERM=dumb chat) wrapped at word
        boundaries, so the terminal never breaks a word or an option like --provider."""
        if _isatty(self.err):
            import shutil
            import textwrap

            width = shutil.get_terminal_size().columns
            line = textwrap.fill(line, width=max(20, width - 1), break_long_words=False, break_on_hyphens=False)
        if self._unflushed:  # the reply so far reaches the screen before the remark under it
            self._flush()
        self.err.write(line + "\n")

    def _end_line(self) -> None:
        if self._wrote and not self._ends_with_newline:
            self.out.write("\n")
            self._ends_with_newline = True

    def _flush(self) -> None:
        self.out.flush()
        self._unflushed = False
        self._flushed_at = self.clock()
        if self.stats is not None:
            self.stats.on_screen()

    def tick(self) -> None:
        if self._unflushed:
            self._flush()

    def finish(self) -> None:
        self._end_line()
        self._flush()
