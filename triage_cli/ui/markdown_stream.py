"""Streaming Markdown: finished blocks are rendered once and leave the live area; only the open
block is re-rendered.

A top-level block is finished once a later block has started on a complete line: in CommonMark
only the last block can still change. Each piece is rendered after a tiny stand-in
for what came before (see _STAND_IN), so the spacing rich puts between blocks is exactly that of
one full render: the frozen pieces plus the last one equal a render of the whole text, and every
block is rendered once when it freezes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from markdown_it import MarkdownIt
from rich.console import Console, ConsoleOptions, RenderResult
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound
from rich.markdown import CodeBlock, Markdown
from rich.segment import Segment
from rich.syntax import Syntax, SyntaxTheme

Lines = list[list[Segment]]


class _CodeBlock(CodeBlock):
    """rich's code block, with its lexer and theme looked up once instead of on every render
    (a streamed code block is drawn on every frame while it is open)."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Syntax(str(self.text).rstrip(), _lexer(self.lexer_name), theme=_theme(self.theme),
                     word_wrap=True, padding=1)


@functools.lru_cache(maxsize=64)
def _lexer(name: str) -> Lexer | str:
    try:
        return get_lexer_by_name(name, stripnl=False, ensurenl=True, tabsize=4)  # rich.syntax.Syntax default tab_size
    except ClassNotFound:
        return name  # rich shows it as plain text


@functools.lru_cache(maxsize=8)
def _theme(name: str) -> SyntaxTheme:
    return Syntax.get_theme(name)


class _Markdown(Markdown):
    """rich's Markdown with the code block above, and one parser for every render: rich builds a
    new parser per Markdown object, a quarter of the cost of drawing a short block."""

    elements = {**Markdown.elements, "fence": _CodeBlock, "code_block": _CodeBlock}

    def __init__(self, markup: str, *, hyperlinks: bool) -> None:
        # What rich.markdown.Markdown.__init__ sets with its defaults, but for the parser.
        self.markup = markup
        self.parsed = _shared_parser().parse(markup)
        self.code_theme = "monokai"
        self.justify = None
        self.style = "none"
        self.hyperlinks = hyperlinks
        self.inline_code_lexer = None
        self.inline_code_theme = self.code_theme


@functools.lru_cache(maxsize=1)
def _shared_parser() -> MarkdownIt:
    return MarkdownIt().enable("strikethrough").enable("table")  # as rich.markdown.Markdown does


def render_markdown_lines(console: Console, text: str, width: int) -> Lines:
    # hyperlinks=False prints a link's real URL beside its text, never the text alone.
    return console.render_lines(_Markdown(text, hyperlinks=False), console.options.update(width=width), pad=False)


# rich puts a blank line between two top-level blocks unless the first is a horizontal rule
# (Markdown.__rich_console__ keys it on the `new_line` of the element that ended last). A tiny
# block of the same kind stands in for everything printed before, so a piece renders exactly as
# in a full render at the cost of the piece alone.
_STAND_IN = {True: "x\n\n", False: "---\n\n"}  # after a block that is / is not followed by a gap


class MarkdownStream:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._parser = MarkdownIt("commonmark").enable("table")
        self._open = ""  # the open (unfinished) part; finished blocks are handed out and dropped
        self._has_text = False
        self._checked = 0  # length of the open part's complete lines when last parsed
        self._gap_after_taken = True  # whether the piece just taken ends in a block with a gap after
        self._before: str | None = None  # stand-in for what was printed before; None at the start
        self._before_lines: dict[tuple[str, int], int] = {}  # (stand-in, width) -> its line count

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
        if len(complete) == self._checked:
            return None  # no new complete line: nothing can have finished since the last look
        self._checked = len(complete)
        blocks = [t for t in self._parser.parse(complete) if t.level == 0 and t.map and t.nesting >= 0]
        if len(blocks) < 2:
            return None
        cut = _offset_of_line(tail, blocks[-1].map[0])
        finished, self._open = tail[:cut], tail[cut:]
        self._checked = 0
        self._gap_after_taken = blocks[-2].type != "hr"
        return finished

    def render_piece(self, piece: str, width: int) -> Lines:
        """Lines of `piece` (just taken) as they appear in a render of the whole text."""
        lines = self._render(piece, width)
        self._before = _STAND_IN[self._gap_after_taken]
        return lines

    def render_open(self, width: int) -> Lines:
        """Lines of the open part, as it would look now in a full render."""
        return self._render(self._open, width)

    def _render(self, piece: str, width: int) -> Lines:
        if not piece.strip():
            return []
        if self._before is None:
            return render_markdown_lines(self.console, piece, width)
        key = (self._before, width)
        if key not in self._before_lines:
            self._before_lines[key] = len(render_markdown_lines(self.console, self._before, width))
        return render_markdown_lines(self.console, self._before + piece, width)[self._before_lines[key]:]


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
