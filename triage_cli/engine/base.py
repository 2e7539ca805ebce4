"""What every engine offers (the model agent, the offline rules): a turn's events for a
conversation, a warm-up, and a close."""

from __future__ import annotations

from typing import Protocol

from triage_cli.engine.conversation import Conversation
from triage_cli.engine.events import EventStream


class Engine(Protocol):
    def run(self, conversation: Conversation) -> EventStream: ...

    def warm_up(self) -> None:
        """Load what the first answer needs (the model client), so a REPL can do it while
        the user types. Blocking; safe to run in a thread."""

    async def aclose(self) -> None: ...
