"""Chat's /copy: text to the clipboard of the terminal the user sits at, through the OSC 52
escape (it works over ssh and in most terminals), and an honest note where it will not arrive:
a dumb terminal, tmux that does not pass it on, or text too long for the escape."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess

from triage_cli.sanitize import clean

MAX_BYTES = 74_000  # xterm and others drop an OSC 52 sequence much longer than 100,000 characters


def osc52(text: str) -> str:
    """The escape that sets the clipboard to `text` (sanitized first: nothing pasted later can
    carry a terminal escape)."""
    payload = base64.b64encode(clean(text).encode("utf-8")).decode("ascii")
    return f"\x1b]52;c;{payload}\x07"


def refusal(text: str) -> str | None:
    """Why `text` cannot be copied here (None: it can be sent)."""
    if os.environ.get("TERM", "") in ("dumb", ""):
        return "this terminal cannot take the clipboard (TERM is dumb); the reply is in: triage history show"
    if len(clean(text).encode("utf-8")) > MAX_BYTES:
        return (f"the reply is too long for the terminal's clipboard (over {MAX_BYTES:,} bytes); "
                "use triage history export instead")
    return None


def copied(text: str) -> str:
    """What to say once the escape is sent: tmux passes it on only with set-clipboard on (then
    nothing reached the clipboard); other terminals may need it allowed."""
    size = f"{len(clean(text)):,} characters"
    if os.environ.get("TMUX") and _tmux_clipboard() != "on":
        return (f"tmux did not pass the reply ({size}) on to your terminal's clipboard: run  "
                "tmux set -g set-clipboard on  and /copy again")
    return (f"copied the last reply ({size}) to the clipboard; if nothing arrived, allow OSC 52 "
            "clipboard access in your terminal's settings")


def _tmux_clipboard() -> str | None:
    tmux = shutil.which("tmux")
    if tmux is None:
        return None
    try:
        shown = subprocess.run([tmux, "show-options", "-gv", "set-clipboard"], capture_output=True, text=True,
                               timeout=2)
    except (OSError, subprocess.SubprocessError):
        return None
    return shown.stdout.strip() or None
