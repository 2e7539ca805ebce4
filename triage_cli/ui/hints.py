"""Where to look next, added to a store's plain error where a front end shows it: the stores
say what is wrong ("no conversation 12"), the command line says what to run about it."""

from __future__ import annotations

from triage_cli.errors import NotFound

_WHERE_TO_LOOK = {"conversation": "see: triage history", "ticket": "see: triage tickets --status all"}


def user_message(error: BaseException) -> str:
    """The error's one line, with the command that lists what exists when something was not found."""
    hint = _WHERE_TO_LOOK.get(error.kind) if isinstance(error, NotFound) else None
    return f"{error} ({hint})" if hint else str(error)
