"""What the command line hands to typer: help that shows what a user types, shell completion of
stored ids, and the argv and stdin a command reads. Kept apart from cli.py's commands; nothing
here imports more than typer does."""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from triage_cli.errors import UsageError

if TYPE_CHECKING:
    from typer import _click  # typer 0.2x's own copy of click: the classes its commands hand over


def _plain_labels(params: list[_click.Parameter]) -> list[_click.Parameter]:
    """--help shows what a user types: a flag alone (`--json`), a value by its metavar
    (`--order ID`), an argument by its name (`ID`, `[ID]`). typer 0.2x's own click labels every
    parameter with its Python type instead (`--json <bool>`, `<list[str]>`, usage `{ID}`)."""
    for param in params:
        if isinstance(param, TyperOption) and not isinstance(param, _Option):
            param.__class__ = _Option
        elif isinstance(param, TyperArgument) and not isinstance(param, _Argument):
            param.__class__ = _Argument
    return params


class _Option(TyperOption):
    def display_type_rich(self, ctx: _click.Context) -> str | None:
        return None if self.is_flag else super().display_type_rich(ctx)


class _Argument(TyperArgument):
    def display_type_rich(self, ctx: _click.Context) -> str | None:
        return None  # the metavar names it

    def get_usage_pieces(self, ctx: _click.Context) -> list[str]:
        name = self.metavar or (self.name or "").upper()
        return [(name if self.required else f"[{name}]") + ("..." if self.nargs != 1 else "")]


class Command(TyperCommand):
    def get_params(self, ctx: _click.Context) -> list[_click.Parameter]:
        return _plain_labels(super().get_params(ctx))


class Group(TyperGroup):
    def get_params(self, ctx: _click.Context) -> list[_click.Parameter]:
        return _plain_labels(super().get_params(ctx))


def _ids(table: str, incomplete: str) -> list[str]:
    """Shell completion of stored ids (tickets or conversations), newest first. It runs at every
    Tab: plain sqlite3, read-only, a short lock wait, and nothing at all on any failure."""
    try:
        import sqlite3
        from contextlib import closing

        from triage_cli.config import load_home

        path = load_home() / "triage.sqlite"
        if not path.is_file():
            return []
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0.2)) as db:
            rows = db.execute(f"SELECT id FROM {table} ORDER BY id DESC LIMIT 500").fetchall()  # noqa: S608
        return [str(row[0]) for row in rows if str(row[0]).startswith(incomplete.lstrip("#"))]
    except Exception:  # noqa: BLE001 - a completion must never print a traceback into the shell
        return []


def ticket_ids(incomplete: str) -> list[str]:
    return _ids("tickets", incomplete)


def conversation_ids(incomplete: str) -> list[str]:
    return [*(["last"] if "last".startswith(incomplete) else []), *_ids("conversations", incomplete)]


_WORD = re.compile(r"[^\W_]{2,}")  # two letters or digits together
_NOT_TEXT = re.compile("[\ufffd\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f]")  # not UTF-8, NUL, controls (not tab, LF, CR, ESC)
STDIN_LIMIT_BYTES = 1 << 20  # read no more than this: a message, not a log file (or /dev/urandom)


def read_question(words: list[str] | None) -> str:
    """The question from the arguments, else from stdin when it is not a terminal. Bytes that
    are not UTF-8 become U+FFFD and NULs are dropped; what is plainly not text is refused."""
    if words:
        return " ".join(words)
    if sys.stdin is None or sys.stdin.isatty():
        return ""
    data = sys.stdin.buffer.read(STDIN_LIMIT_BYTES + 1)
    if len(data) > STDIN_LIMIT_BYTES:
        raise UsageError(f"stdin holds more than {STDIN_LIMIT_BYTES >> 20} MiB; pipe in only the customer's message")
    text = data.decode("utf-8", errors="replace")
    unreadable = len(_NOT_TEXT.findall(text))
    # Many characters that are not text, or a few among fewer than ten times as many that are
    # ("\x89PNG\r\n\x1a\n"), or any with not one word beside them ("\x00\xff\xfe").
    if (unreadable > max(8, len(text) // 20) or (unreadable >= 3 and unreadable > len(text) // 10)
            or (unreadable and not _WORD.search(_NOT_TEXT.sub("", text)))):
        raise UsageError("stdin does not look like UTF-8 text (binary data, or another encoding?); "
                         "pipe in the customer's message")
    return text.replace("\x00", "")


def with_optional_values(argv: list[str]) -> list[str]:
    """`triage chat --resume` with no id means the latest conversation. Click options cannot
    take an optional value, so a bare `--resume` gets `last` here."""
    if not argv or argv[0] != "chat":
        return argv
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg in ("--resume", "-r") and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            argv.insert(i + 1, "last")
            break
    return argv
