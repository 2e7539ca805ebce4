"""The rich console every terminal view shares, and what kind of terminal it is."""

from __future__ import annotations

import os
import shutil

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
