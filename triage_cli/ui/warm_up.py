"""Paying the one-time costs of drawing Markdown (imports, the first lexer, the first theme)
before the first answer arrives, off the main thread."""

from __future__ import annotations

import io
import threading

_SAMPLE = "# a\n\n**b** `c` [d](https://e.f)\n\n- g\n\n1. h\n\n> i\n\n```python\nj = 1\n```\n\n| k |\n|---|\n| l |\n"


def warm_up_rendering() -> None:
    """Render a sample with every kind of block once, to a throwaway console."""
    from rich.console import Console

    from triage_cli.ui.markdown_stream import render_markdown_lines

    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system="truecolor")
    render_markdown_lines(console, _SAMPLE, 80)


def warm_up_rendering_in_background() -> None:
    """Start `warm_up_rendering` in a daemon thread: for a run that waits on a model anyway."""
    threading.Thread(target=warm_up_rendering, name="warm-up-rendering", daemon=True).start()
