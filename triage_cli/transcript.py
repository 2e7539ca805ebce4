"""How a reply that was cut short reads back: shared by the conversation the engine sends to a
model and the store that keeps it, neither of which should import the other."""

from __future__ import annotations

INTERRUPTED_MARK = "[interrupted]"


def interrupted_reply(partial: str) -> str:
    partial = partial.rstrip()
    return f"{partial}\n\n{INTERRUPTED_MARK}" if partial else INTERRUPTED_MARK
