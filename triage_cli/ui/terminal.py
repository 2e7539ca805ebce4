"""The rich console every terminal view shares, and what kind of terminal it is."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Callable

from rich.console import Console


def is_dumb_terminal() -> bool:
    """TERM=dumb (an editor's shell, a serial console): no cursor movement and no colours, so
    answers are printed as plain text instead of being redrawn live."""
    return os.environ.get("TERM", "").lower() in ("dumb", "unknown")


def make_console() -> Console:
    # highlight=False: rich must not colour numbers and words inside model text on its own.
    # On a dumb terminal rich assumes 80 columns; the real width is still known.
    width = shutil.get_terminal_size().columns if is_dumb_terminal() else None
    return Console(highlight=False, emoji=False, width=width)


def stop_echo() -> Callable[[], None]:
    """Stop the terminal echoing typed keys until the returned function is called.

    While an answer is redrawn live, an echoed key (the `^C` of Ctrl-C above all) lands after the
    live area's last line, which is as wide as the window: the cursor wraps, rich's erase is one
    line off, and a line is left twice in the scrollback. Ctrl-C still interrupts (ISIG stays), and
    keys typed meanwhile stay queued for the next prompt (TCSANOW flushes nothing; the
    terminal itself drops them on Ctrl-C)."""
    try:
        import termios

        fd = sys.stdin.fileno()
        if not os.isatty(fd):
            return _nothing
        saved = termios.tcgetattr(fd)
        quiet = list(saved)
        quiet[3] &= ~(termios.ECHO | termios.ECHOCTL)
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except (ImportError, OSError, ValueError, AttributeError):
        return _nothing

    def restore() -> None:
        with contextlib.suppress(OSError, ValueError):
            termios.tcsetattr(fd, termios.TCSANOW, saved)

    return restore


def _nothing() -> None:
    pass
