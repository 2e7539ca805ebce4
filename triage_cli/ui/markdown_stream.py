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
import re
import threading
from collections.abc import Callable
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from rich.console import Console, ConsoleOptions, RenderResult
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound
from rich.markdown import CodeBlock, Markdown
from rich.segment import Segment
from rich.syntax import Syntax, SyntaxTheme

from triage_cli.sanitize import UNSAFE_CHARACTERS, clean

Lines = list[list[Segment]]
_UNSAFE = re.compile(f"[{UNSAFE_CHARACTERS}]")


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


_parsers = threading.local()  # markdown-it fills caches as it goes: one parser per thread


def _shared_parser() -> MarkdownIt:
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = MarkdownIt().enable("strikethrough").enable("table")  # as rich does
    return parser


def render_markdown_lines(console: Console, text: str, width: int) -> Lines:
    # hyperlinks=False prints a link's real URL beside its text, never the text alone.
    lines = console.render_lines(_Markdown(text, hyperlinks=False), console.options.update(width=width), pad=False)
    return [_safe(line) for line in lines]


def _safe(line: list[Segment]) -> list[Segment]:
    """The text was sanitized before parsing, but Markdown decodes character references
    (`&#x202E;`) into characters again: neutralise what the rendering produced."""
    if not any(_UNSAFE.search(segment.text) for segment in line):
        return line
    return [Segment(clean(s.text), s.style, s.control) if not s.control else s for s in line]


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
        self._references: dict[str, str] = {}  # link reference definitions seen: label -> URL
        self._fence: str | None = None  # the fence that opened the open block, if it is code

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
        if self._fence and not _closes_fence(complete[self._checked:], self._fence):
            self._checked = len(complete)
            return None  # an open code block ends only at its closing fence: no need to parse
        self._checked = len(complete)
        env: dict[str, Any] = {}
        blocks = [t for t in self._parser.parse(complete, env) if t.level == 0 and t.map and t.nesting >= 0]
        self._fence = _open_fence(blocks[-1], complete) if blocks else None
        if len(blocks) < 2:
            return None
        last_map = blocks[-1].map
        assert last_map is not None  # blocks without a map were left out above
        cut = _offset_of_line(tail, last_map[0])
        finished, self._open = tail[:cut], tail[cut:]
        self._checked = 0
        self._fence = None
        self._gap_after_taken = blocks[-2].type != "hr"
        for label, target in (env.get("references") or {}).items():
            self._references.setdefault(label, target.get("href", ""))
        return finished

    def render_piece(self, piece: str, width: int) -> Lines:
        """Lines of `piece` (just taken) as they appear in a render of the whole text."""
        lines = self._render(piece, width)
        # Link reference definitions printed earlier still resolve links in later blocks.
        definitions = "".join(f"[{label}]: <{href}>\n" for label, href in self._references.items())
        self._before = definitions + ("\n" if definitions else "") + _STAND_IN[self._gap_after_taken]
        return lines

    def render_open(self, width: int) -> Lines:
        """Lines of the open part, as it would look now in a full render."""
        return self._render(self._open, width)

    def preview_open(self, width: int, rows: int) -> Lines:
        """The last `rows` lines of the open part, for the live area. A block far taller than
        that (a long code block or list) is previewed from its last source lines only, so a
        frame costs the window's height, not the block's."""
        lines = self._open.split("\n")
        if len(lines) <= 2 * rows + 1:
            return self.render_open(width)[-rows:]
        tail = "\n".join(lines[-2 * rows:])
        head = lines[0] + "\n" if self._fence else ""  # keep the code block open
        return self._render(head + tail, width)[-rows:]

    def _render(self, piece: str, width: int) -> Lines:
        if not piece.strip():
            return []
        if self._before is None:
            return render_markdown_lines(self.console, piece, width)
        key = (self._before, width)
        if key not in self._before_lines:
            self._before_lines[key] = len(render_markdown_lines(self.console, self._before, width))
        return render_markdown_lines(self.console, self._before + piece, width)[self._before_lines[key]:]


def _open_fence(token: Token, text: str) -> str | None:
    """The fence (```` ``` ```` or `~~~`, as long as written) of a code block that `text` leaves
    open, else None."""
    if token.type != "fence" or not token.markup or not token.map:
        return None
    first, end = token.map
    last_line = text.split("\n")[end - 1] if end - 1 > first else ""
    return None if _closes_fence(last_line, token.markup) else token.markup


def _closes_fence(new_lines: str, fence: str) -> bool:
    """Whether any of the complete lines `new_lines` could close a code block opened by `fence`."""
    pattern = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
    return bool(pattern.search(new_lines))


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
