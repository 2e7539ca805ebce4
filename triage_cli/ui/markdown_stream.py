"""Streaming Markdown: finished blocks are rendered once and leave the live area; only the open
block is re-rendered.

A top-level block is finished once a later block has started on a complete line: in CommonMark
only the last block can still change. A block is rendered together with the block before it and
the lines of that earlier block are cut off, so the spacing rich puts between elements is exactly
that of one full render: the frozen pieces plus the last one equal a render of the whole text.
"""

from __future__ import annotations

from collections.abc import Callable

from markdown_it import MarkdownIt
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import Markdown
from rich.segment import Segment

Lines = list[list[Segment]]


def render_markdown_lines(console: Console, text: str, width: int) -> Lines:
    # hyperlinks=False prints a link's real URL beside its text, never the text alone.
    return console.render_lines(Markdown(text, hyperlinks=False), console.options.update(width=width), pad=False)


class MarkdownStream:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._parser = MarkdownIt("commonmark").enable("table")
        self._open = ""  # the open (unfinished) part; finished blocks are handed out and dropped
        self._has_text = False
        self._context = ""  # the last finished block: what the open part renders after
        self._context_lines: dict[int, int] = {}  # width -> line count of `_context` alone

    @property
    def has_text(self) -> bool:
        """Whether any text was fed, finished or not."""
        return self._has_text

    def feed(self, text: str) -> None:
        # Only the open part is kept, so appending costs the size of one block, not the answer.
        self._open += text
        self._has_text = self._has_text or bool(text)

    def take_finished(self) -> str | None:
        """Cut off the finished blocks, if any, and return their Markdown; the caller prints
        them once with `render_piece`."""
        tail = self._open
        complete = tail[: tail.rfind("\n") + 1]
        if not complete:
            return None
        starts = [t.map[0] for t in self._parser.parse(complete) if t.level == 0 and t.map and t.nesting >= 0]
        if len(starts) < 2:
            return None
        cut = _offset_of_line(tail, starts[-1])
        finished, self._open = tail[:cut], tail[cut:]
        return finished

    def render_piece(self, piece: str, width: int) -> Lines:
        """Lines of `piece` as they appear in a render of the whole text, given what came before."""
        lines = self._lines_after(piece, width)
        self._context = piece
        self._context_lines = {}
        return lines

    def render_open(self, width: int) -> Lines:
        """Lines of the open part, as it would look now in a full render."""
        return self._lines_after(self._open, width)

    def _lines_after(self, piece: str, width: int) -> Lines:
        if not piece.strip():
            return []
        if not self._context:
            return render_markdown_lines(self.console, piece, width)
        if width not in self._context_lines:
            self._context_lines[width] = len(render_markdown_lines(self.console, self._context, width))
        together = render_markdown_lines(self.console, self._context + piece, width)
        return together[self._context_lines[width]:]


def _offset_of_line(text: str, line_number: int) -> int:
    offset = 0
    for _ in range(line_number):
        offset = text.index("\n", offset) + 1
    return offset


class LinesRenderable:
    """Pre-rendered lines, printable by rich."""

    def __init__(self, lines: Lines | Callable[[int], Lines]) -> None:
        self._lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = self._lines(options.max_width) if callable(self._lines) else self._lines
        newline = Segment.line()
        for line in lines:
            yield from line
            yield newline
