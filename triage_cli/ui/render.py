"""Front ends for the event stream: a rich terminal view and a plain-text view for pipes.

Both show the same events; neither knows where they come from. Every string that came from a
model or a tool passes through the sanitizer before it reaches the terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.spinner import Spinner
from rich.text import Text

from triage_cli.engine.events import (
    Error,
    Event,
    Notice,
    ReasoningDelta,
    TextDelta,
    ToolFinished,
    ToolStarted,
    TriageRecord,
)
from triage_cli.ui.markdown_stream import LinesRenderable, MarkdownStream
from triage_cli.ui.sanitize import StreamSanitizer, clean

FRAME_SECONDS = 1 / 15


class Renderer(Protocol):
    def handle(self, event: Event) -> None: ...
    def tick(self) -> None: ...
    def finish(self) -> None: ...


@dataclass
class RunResult:
    """What a front end needs to know once the events stop."""

    error: str | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.error else 0


async def present(events: AsyncIterator[Event], renderer: Renderer) -> RunResult:
    """Feed every event to `renderer`, ticking it between events so spinners move and batched
    frames reach the screen even while the stream is quiet."""
    result = RunResult()

    async def ticker() -> None:
        while True:
            await asyncio.sleep(FRAME_SECONDS)
            renderer.tick()

    ticking = asyncio.create_task(ticker())
    try:
        # aclosing: a cancelled run closes the engine's generator (and its HTTP stream) now.
        async with contextlib.aclosing(events):  # type: ignore[type-var]
            async for event in events:
                if isinstance(event, Error):
                    result.error = event.message
                renderer.handle(event)
    finally:
        ticking.cancel()
        renderer.finish()
    return result


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
    preferred = [f"{k} {data[k]}" if k == "eta" else data[k] for k in ("status", "carrier", "eta") if data.get(k)]
    values = preferred or [v for v in data.values() if isinstance(v, (str, int, float)) and not isinstance(v, bool)][:3]
    return _shorten(clean(" · ".join(str(v) for v in values)), 80)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def record_lines(record: TriageRecord) -> list[tuple[str, str]]:
    """The record as (label, one-line value) pairs, safe to print."""
    lines = [
        ("Order", record.order_id or "none"),
        ("Issue", record.issue),
        ("Status", record.status),
        ("Next step", record.next_step),
        ("Summary", record.summary),
    ]
    if record.ticket is not None:
        lines.append(("Ticket", f"#{record.ticket} (open)"))
    return [(label, " ".join(clean(value).split())) for label, value in lines]


# --------------------------------------------------------------------------- plain text


class PlainRenderer:
    """For pipes and files: the reply as text, then the record as `Key: value` lines.
    Notices and errors go to stderr, so stdout holds only the answer."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._sanitizer = StreamSanitizer()
        self._ends_with_newline = True
        self._wrote = False

    def handle(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            text = self._sanitizer.feed(event.text)
            if text:
                self.out.write(text)
                self.out.flush()
                self._wrote = True
                self._ends_with_newline = text.endswith("\n")
        elif isinstance(event, TriageRecord):
            self._end_line()
            self.out.write("\n" + "".join(f"{k}: {v}\n" for k, v in record_lines(event)))
            self.out.flush()
        elif isinstance(event, Notice):
            self.err.write(f"note: {clean(event.text)}{' ' + event.hint if event.hint else ''}\n")
        elif isinstance(event, Error):
            self._end_line()
            self.err.write(f"error: {clean(event.message)}\n")

    def _end_line(self) -> None:
        if self._wrote and not self._ends_with_newline:
            self.out.write("\n")
            self._ends_with_newline = True

    def tick(self) -> None:
        pass

    def finish(self) -> None:
        self._end_line()
        self.out.flush()


# --------------------------------------------------------------------------- terminal


@dataclass
class _ToolLine:
    name: str
    arguments: str
    started: float = field(default_factory=time.perf_counter)
    finished: ToolFinished | None = None

    def render(self, spinner: Spinner) -> RenderableType:
        call = Text.assemble((clean(self.name), "bold"), ("(", "dim"), format_arguments(self.arguments), (")", "dim"))
        if self.finished is None:
            spinner.update(text=Text.assemble(call, (f"  {time.perf_counter() - self.started:.1f}s", "dim")))
            return spinner
        mark = ("✓ ", "green") if self.finished.ok else ("✗ ", "red")
        outcome = summarize_result(self.finished.result)
        return Text.assemble(
            mark, call, ("  → ", "dim"), (outcome, "" if self.finished.ok else "red"),
            (f"  {self.finished.duration_ms:.0f} ms", "dim"),
        )


class TerminalRenderer:
    """Streams the reply as Markdown: finished blocks go to scrollback once, the open block and
    running tool calls stay in a small live area (so nothing is duplicated when the answer is
    taller than the window)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._markdown = MarkdownStream(console)
        self._sanitizer = StreamSanitizer()
        self._tools: dict[str, _ToolLine] = {}
        self._spinners: dict[str, Spinner] = {}
        self._started = False
        self._dirty = False
        self._thinking_tokens = 0
        self._record: TriageRecord | None = None
        self._notices: list[Notice] = []
        self._live = Live(console=console, auto_refresh=False, transient=True, redirect_stdout=False, redirect_stderr=False)

    # the live area ---------------------------------------------------------------------------

    def _live_parts(self) -> list[RenderableType]:
        parts: list[RenderableType] = [
            line.render(self._spinners.setdefault(call_id, Spinner("dots", style="cyan")))
            for call_id, line in self._tools.items()
        ]
        if self._thinking_tokens and not self._markdown.text:
            parts.append(Text(f"thinking… {self._thinking_tokens} tokens", style="dim italic"))
        parts.append(LinesRenderable(self._markdown.render_open))
        return parts

    def _refresh(self) -> None:
        if not self._started:
            self._live.start()
            self._started = True
        self._live.update(Group(*self._live_parts()), refresh=True)
        self._dirty = False

    # events ----------------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            text = self._sanitizer.feed(event.text)
            if not text:
                return
            first = not self._markdown.text
            self._markdown.feed(text)
            if first:
                self._settle_tools()
                self._refresh()  # the first words never wait for a frame tick
            else:
                self._dirty = True
        elif isinstance(event, ReasoningDelta):
            self._thinking_tokens += 1
            self._dirty = True
        elif isinstance(event, ToolStarted):
            self._tools[event.call_id] = _ToolLine(event.name, event.arguments)
            self._refresh()
        elif isinstance(event, ToolFinished):
            line = self._tools.get(event.call_id)
            if line is not None:
                line.finished = event
            if all(t.finished for t in self._tools.values()):
                self._settle_tools()
            self._refresh()
        elif isinstance(event, TriageRecord):
            self._record = event
        elif isinstance(event, Notice):
            self._notices.append(event)
        elif isinstance(event, Error):
            self.finish()
            self.console.print(Text.assemble(("error: ", "bold red"), clean(event.message)), soft_wrap=True)

    def tick(self) -> None:
        if self._dirty or any(t.finished is None for t in self._tools.values()):
            self._freeze_finished_blocks()
            self._refresh()

    def _freeze_finished_blocks(self) -> None:
        finished = self._markdown.take_finished()
        if finished:
            self._print_above(LinesRenderable(self._markdown.render_piece(finished, self.console.width)))

    def _settle_tools(self) -> None:
        """Move finished tool lines from the live area into scrollback."""
        done = [cid for cid, line in self._tools.items() if line.finished]
        for call_id in done:
            self._print_above(self._tools.pop(call_id).render(self._spinners.pop(call_id, Spinner("dots"))))

    def _print_above(self, renderable: RenderableType) -> None:
        if self._started:
            self._live.console.print(renderable)
        else:
            self.console.print(renderable)

    def finish(self) -> None:
        """Stop the live area and print whatever is still open, then the record and notices."""
        if self._started:
            self._live.update(Text(""), refresh=True)
            self._live.stop()
            self._started = False
        self._settle_tools()
        self._freeze_finished_blocks()
        rest = self._markdown.render_open(self.console.width)
        if rest:
            self.console.print(LinesRenderable(rest))
        self._markdown = MarkdownStream(self.console)
        if self._record is not None:
            self.console.print(record_panel(self._record))
            self._record = None
        for notice in self._notices:
            self.console.print(Text.assemble(clean(notice.text), (" " + notice.hint if notice.hint else ""), style="dim"))
        self._notices = []


def record_panel(record: TriageRecord) -> Panel:
    colour = "green" if record.next_step == "answer" else "bold red"
    body = Text()
    for key, value in record_lines(record):
        style = colour if key in ("Next step", "Ticket") else ""
        body.append(f"{key:<11}", style="dim")
        body.append(value + "\n", style=style)
    body.rstrip()
    return Panel(body, title="triage", title_align="left", border_style=colour.split()[-1], expand=False)
