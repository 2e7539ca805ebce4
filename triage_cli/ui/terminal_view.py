"""The terminal front end: the reply streams as Markdown, tool calls as spinner lines.

Finished Markdown blocks are printed into scrollback once (ui/markdown_stream.py); only the open
block and running tool calls stay in a small live area, cropped to the window so rich's Live
never duplicates lines in scrollback. Frames are adaptive: a chunk is drawn at once when the
last frame was long enough ago, otherwise with the next frame, and frames are spaced so drawing
takes at most about a quarter of the time: rendering never falls behind the stream.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from triage_cli.engine.events import (
    Error, Event, Notice, ReasoningDelta, TextDelta, ToolCallsPlanned, ToolFinished, ToolStarted, TriageRecord,
)
from triage_cli.ui.markdown_stream import Lines, LinesRenderable, MarkdownStream
from triage_cli.ui.render import format_arguments, record_lines, summarize_result
from triage_cli.ui.render_stats import RenderStats
from triage_cli.sanitize import StreamSanitizer, clean
from triage_cli.ui.terminal import stop_echo

MIN_FRAME_SECONDS = 1 / 60  # the shortest gap between frames
MAX_FRAME_SECONDS = 1 / 20  # the longest: the live area moves at least this often
FRAME_BUDGET = 0.2  # share of the time redrawing the live area may take
SPINNER_SECONDS = 1 / 12  # how often running tool calls are redrawn
REASONING_ROWS = 6  # lines of shown reasoning kept live while the model thinks
WAITING_AFTER_SECONDS = 0.3  # a quiet spell this long shows "waiting for the model…"; an instant answer never flashes it
WAITING_REDRAW_SECONDS = 0.1  # how often its clock moves


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
    def __init__(self, console: Console, *, stats: RenderStats | None = None, show_reasoning: bool = False,
                 waiting_hint: bool = False) -> None:
        """`waiting_hint`: show "waiting for the model… 2.1 s" while a model call has sent nothing
        yet (off for the offline engine, which has no model, and for replayed transcripts)."""
        self.console = console
        self.stats = stats
        self.show_reasoning = show_reasoning
        self._reasoning: list[str] = []
        self._reasoning_sanitizer = StreamSanitizer()
        self._markdown = MarkdownStream(console)
        self._sanitizer = StreamSanitizer()
        self._tools: dict[str, _ToolLine] = {}
        self._spinners: dict[str, Spinner] = {}
        self._started = False
        self._dirty = False
        self._last_frame = 0.0
        self._gap = MIN_FRAME_SECONDS
        self._redraw_cost = 0.0
        self._thinking_tokens = 0
        self._record: TriageRecord | None = None
        self._notices: list[Notice] = []
        self._restore_echo: Callable[[], None] = lambda: None
        self._waiting_hint = waiting_hint
        # Since when nothing has come from the model: the run started, or a tool round ended.
        self._waiting_since: float | None = time.perf_counter() if waiting_hint else None
        self._held = False  # the live area is stopped while the user is asked something
        self._live = Live(console=console, auto_refresh=False, transient=True, redirect_stdout=False,
                          redirect_stderr=False, vertical_overflow="crop")

    # the live area ---------------------------------------------------------------------------

    def _waited(self) -> float | None:
        """How long the model has been silent, once that is long enough to say so."""
        if self._waiting_since is None:
            return None
        waited = time.perf_counter() - self._waiting_since
        return waited if waited >= WAITING_AFTER_SECONDS else None

    def _live_parts(self) -> list[RenderableType]:
        parts: list[RenderableType] = [
            line.render(self._spinners.setdefault(call_id, Spinner("dots", style="cyan")))
            for call_id, line in self._tools.items()
        ]
        waited = self._waited()
        if waited is not None:
            parts.append(Text(f"waiting for the model… {waited:.1f} s", style="dim italic"))
        if self._thinking_tokens and not self._markdown.has_text:
            if self.show_reasoning and self._reasoning:
                tail = "".join(self._reasoning).splitlines()[-REASONING_ROWS:]
                parts.append(Text("\n".join(tail), style="dim italic", no_wrap=True, overflow="ellipsis"))
            else:
                parts.append(Text(f"thinking… {self._thinking_tokens} tokens", style="dim italic"))
        room = max(1, self.console.height - len(parts) - 1)
        parts.append(LinesRenderable(lambda width: self._open_lines(width, room)))
        return parts

    def _open_lines(self, width: int, room: int) -> Lines:
        """The open block's lines; when taller than the window, only its last lines (the whole
        block reaches scrollback once it is finished)."""
        return self._markdown.preview_open(width, room)

    def _frame(self) -> None:
        if self._held:
            return
        started = time.perf_counter()
        finished = self._finished_blocks()  # work done once per block, however often frames come
        redraw = time.perf_counter()
        if not self._started:
            self._restore_echo = stop_echo()
            self._live.start()
            self._started = True
        self._live.update(Group(*self._live_parts()), refresh=finished is None)
        if finished is not None:
            self._live.console.print(finished)  # draws the live area below it: one redraw, not two
        self._dirty = False
        ended = time.perf_counter()
        self._last_frame = ended
        # Space frames by what redrawing the live area costs (that is what more frames repeat),
        # smoothed so one slow frame (the first code block loads its lexer) does not stall the view.
        self._redraw_cost = 0.7 * self._redraw_cost + 0.3 * (ended - redraw)
        self._gap = min(MAX_FRAME_SECONDS, max(MIN_FRAME_SECONDS, self._redraw_cost / FRAME_BUDGET))
        if self.stats is not None:
            self.stats.frame_ms.append((ended - started) * 1000)
            self.stats.on_screen()

    def _frame_due(self) -> bool:
        return time.perf_counter() - self._last_frame >= self._gap

    # events ----------------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        if isinstance(event, (TextDelta, ReasoningDelta, ToolCallsPlanned, ToolStarted, TriageRecord, Error)):
            self._waiting_since = None  # the model answered (or the run is over)
        if isinstance(event, TextDelta):
            self._content(event.text)
        elif isinstance(event, ReasoningDelta):
            self._thinking_tokens += 1
            if self.show_reasoning:
                self._reasoning.append(self._reasoning_sanitizer.feed(event.text))
            self._dirty = True
        elif isinstance(event, ToolStarted):
            self._tools[event.call_id] = _ToolLine(event.name, event.arguments)
            self._frame()
        elif isinstance(event, ToolFinished):
            line = self._tools.get(event.call_id)
            if line is not None:
                line.finished = event
            if all(t.finished for t in self._tools.values()):
                self._settle_tools()
                if self._waiting_hint:
                    self._waiting_since = time.perf_counter()  # the next model call begins
            self._frame()
        elif isinstance(event, TriageRecord):
            self._record = event
        elif isinstance(event, Notice):
            self._notices.append(event)
        elif isinstance(event, Error):
            self.finish()
            self.console.print(Text.assemble(("error: ", "bold red"), clean(event.message)), soft_wrap=True)

    @contextlib.contextmanager
    def _counting_cpu(self) -> Iterator[None]:
        """For the benchmark: the CPU the renderer spends, counted at its entry points only."""
        started = time.thread_time()
        try:
            yield
        finally:
            if self.stats is not None:
                self.stats.renderer_cpu_s += time.thread_time() - started

    def _content(self, text: str) -> None:
        with self._counting_cpu():
            if self.stats is not None:
                self.stats.content()
            text = self._sanitizer.feed(text)
            if not text:
                return
            first = not self._markdown.has_text
            self._markdown.feed(text)
            self._dirty = True
            if first:
                self._settle_tools()
                self._settle_reasoning()
            if first or self._frame_due():
                self._frame()  # the first words, and any chunk after a quiet spell, never wait

    def tick(self) -> None:
        running = any(t.finished is None for t in self._tools.values())
        quiet = time.perf_counter() - self._last_frame
        if ((self._dirty and self._frame_due()) or (running and quiet >= SPINNER_SECONDS)
                or (self._waited() is not None and quiet >= WAITING_REDRAW_SECONDS)):
            with self._counting_cpu():
                self._frame()

    def _finished_blocks(self) -> LinesRenderable | None:
        """The blocks finished since the last frame, rendered once, or None."""
        finished = self._markdown.take_finished()
        if not finished:
            return None
        return LinesRenderable(self._markdown.render_piece(finished, self.console.width))

    def _freeze_finished_blocks(self) -> None:
        finished = self._finished_blocks()
        if finished is not None:
            self._print_above(finished)

    def _settle_tools(self) -> None:
        """Move finished tool lines from the live area into scrollback."""
        done = [cid for cid, line in self._tools.items() if line.finished]
        for call_id in done:
            self._print_above(self._tools.pop(call_id).render(self._spinners.pop(call_id, Spinner("dots"))))

    def _settle_reasoning(self) -> None:
        """With reasoning shown, print it (dim) above the reply once the reply starts."""
        if self.show_reasoning and self._reasoning:
            self._print_above(Text("".join(self._reasoning).strip(), style="dim italic"))
        self._reasoning = []

    def _print_above(self, renderable: RenderableType) -> None:
        if self._started:
            self._live.console.print(renderable)
        else:
            self.console.print(renderable)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """The live area stopped and the keys echoed again, for a question to the user (may a
        tool that acts run?); drawn again afterwards."""
        if self._started:
            self._live.update(Text(""), refresh=True)
            self._live.stop()
            self._started = False
            self._restore_echo()
        self._held = True
        try:
            yield
        finally:
            self._held = False
            self._dirty = True

    def finish(self) -> None:
        """Stop the live area and print whatever is still open, then the record and notices."""
        with self._counting_cpu():
            if self._started:
                self._live.update(Text(""), refresh=True)
                self._live.stop()
                self._started = False
                self._restore_echo()
            self._settle_tools()
            self._settle_reasoning()
            self._freeze_finished_blocks()
            rest = self._markdown.render_open(self.console.width)
            if rest:
                self.console.print(LinesRenderable(rest))
            self.console.file.flush()
        if self.stats is not None:
            self.stats.on_screen()
        self._markdown = MarkdownStream(self.console)
        if self._record is not None:
            self.console.print(record_panel(self._record))
            self._record = None
        for notice in self._notices:
            self.console.print(Text.assemble(clean(notice.text), (" " + notice.hint if notice.hint else ""), style="dim"))
        self._notices = []


def record_panel(record: TriageRecord) -> Panel:
    """The record as a panel of labels and values; a long value wraps under itself (a hanging
    indent), never under the labels."""
    colour = "green" if record.next_step == "answer" else "bold red"
    body = Table.grid(padding=(0, 1))
    body.add_column(style="dim", no_wrap=True, min_width=10)
    body.add_column(overflow="fold")
    for key, value in record_lines(record):
        body.add_row(key, Text(value, style=colour if key in ("Next step", "Ticket") else ""))
    return Panel(body, title="triage", title_align="left", border_style=colour.split()[-1], expand=False)
