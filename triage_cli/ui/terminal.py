"""The rich console every terminal view shares."""

from __future__ import annotations

from rich.console import Console


def make_console() -> Console:
    # highlight=False: rich must not colour numbers and words inside model text on its own.
    return Console(highlight=False, emoji=False)
