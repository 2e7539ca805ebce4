"""The turns answering at once: across all conversations, and one per conversation. (What one
request may carry is in triage_cli/limits.py, the same for every front end.)"""

from __future__ import annotations

from triage_cli.server.problems import ApiError

RETRY_AFTER_SECONDS = 2


class TurnGate:
    """Turns answering now: at most `limit` at once (429 beyond), one per conversation (409)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.conversations: set[int] = set()

    def enter(self, conversation_id: int | None) -> Slot:
        """A place for one turn on `conversation_id` (None: a new conversation), or the ApiError saying why not."""
        if conversation_id is not None and conversation_id in self.conversations:
            raise ApiError(409, "busy", f"conversation {conversation_id} is answering a turn; "
                                        "send the next one when it is done")
        if self.active >= self.limit:
            raise ApiError(429, "too_many_turns", f"{self.limit} turns are being answered; try again shortly",
                           headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        self.active += 1
        slot = Slot(self)
        slot.claim(conversation_id)
        return slot


class Slot:
    """One turn's place in the gate; released once, when the turn has ended and been stored."""

    def __init__(self, gate: TurnGate) -> None:
        self.gate = gate
        self.conversation_id: int | None = None
        self.released = False

    def claim(self, conversation_id: int | None) -> None:
        """The conversation this turn answers in, once known (a new one gets its id mid-turn)."""
        if conversation_id is not None and self.conversation_id is None:
            self.conversation_id = conversation_id
            self.gate.conversations.add(conversation_id)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.gate.active -= 1
            if self.conversation_id is not None:
                self.gate.conversations.discard(self.conversation_id)
