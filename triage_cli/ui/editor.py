"""Chat's /edit: the next message written in the user's editor ($VISUAL, else $EDITOR), in a
private temporary file that is removed after; an editor that fails or is missing is one line."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from triage_cli.errors import TriageError


def editor_command() -> list[str]:
    """The editor to run: $VISUAL, $EDITOR, else the first of nano, vi found."""
    for variable in ("VISUAL", "EDITOR"):
        value = os.environ.get(variable, "").strip()
        if value:
            try:
                words = shlex.split(value)
            except ValueError:
                raise TriageError(f"${variable} cannot be read as a command: {value[:80]}") from None
            if words:
                return words
    for name in ("nano", "vi"):
        if shutil.which(name):
            return [name]
    raise TriageError("no editor found: set $EDITOR, e.g. export EDITOR=nano")


def edited(start: str = "") -> str:
    """Run the editor on a private file holding `start`; the text written, stripped. Blocking:
    run it in a thread, with the terminal free."""
    command = editor_command()
    handle, name = tempfile.mkstemp(prefix="triage-message-", suffix=".md")  # 0600
    path = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(start)
        try:
            code = subprocess.call([*command, str(path)])
        except OSError as exc:
            raise TriageError(f"could not start the editor {command[0]}: {exc.strerror or exc}") from None
        if code < 0:
            raise TriageError(f"the editor {command[0]} was stopped (signal {-code}); nothing was sent")
        if code != 0:
            raise TriageError(f"the editor {command[0]} exited with status {code}; nothing was sent")
        return path.read_text(encoding="utf-8", errors="replace").strip()
    finally:
        path.unlink(missing_ok=True)
