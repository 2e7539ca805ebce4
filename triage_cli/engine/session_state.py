"""What a conversation knows between its turns, the same whether the turns are answered here
(session/session.py: TriageSession) or by a team's server (client/remote_session.py:
RemoteSession): the order in context, each turn's question and next step, the last record, the
usage so far, and the stored conversation it continues. One class, so the two cannot drift: the
order id pattern of the settings reads the order in context on both paths."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from triage_cli.engine.conversation import find_order_ids, order_flag
from triage_cli.engine.events import TriageRecord, Usage
from triage_cli.engine.turn_summary import UsageTotals


class StoredTurnLike(Protocol):
    """What resuming reads of a stored turn (the store's StoredTurn is one)."""

    @property
    def question(self) -> str: ...
    @property
    def record(self) -> dict[str, Any] | None: ...


class StoredLike(Protocol):
    @property
    def turns(self) -> Sequence[StoredTurnLike]: ...


class SessionState:
    """`order_id_pattern`: what an order id looks like (the order_id_pattern setting)."""

    def __init__(self, order_id_pattern: re.Pattern[str]) -> None:
        self.order_id_pattern = order_id_pattern
        self.order: str | None = None
        self.turns: list[tuple[str, str | None]] = []  # (question, next step) of this conversation
        self.last_record: TriageRecord | None = None
        self.last_usage: Usage | None = None
        self.totals = UsageTotals()
        self.resumed: Any = None  # the stored conversation this one continues

    def set_order(self, text: str | None, *, flag: str = "/order") -> str | None:
        """Set the order the next questions are about (None clears it); a usage error naming
        `flag` when `text` is not one order id."""
        self.order = None if text is None else order_flag(text, flag, self.order_id_pattern)
        return self.order

    def order_in_context(self) -> str | None:
        """The order the conversation is about: the one set, else the last one the last record
        names (its order_id is model text: "A1002, A1003" at times)."""
        if self.order:
            return self.order
        mentioned = find_order_ids(self.last_record.order_id or "", pattern=self.order_id_pattern) \
            if self.last_record is not None else []
        return mentioned[-1] if mentioned else None

    def forget(self) -> None:
        """A new conversation: no order, no turns, no record, nothing resumed (the usage totals
        are the session's, and go on)."""
        self.order, self.turns, self.last_record, self.resumed = None, [], None, None

    def resumed_from(self, stored: StoredLike) -> None:
        """Continue `stored`: its turns and its last record (whose last order is the order in
        context, as after a live turn). No order is named: one named (--order, /order) goes with
        every question, so a question about a third order after resuming a conversation about
        two would also look up, and ticket, the last of them."""
        self.turns = [(t.question, (t.record or {}).get("next_step")) for t in stored.turns]
        records = [r for r in (TriageRecord.from_stored(t.record) for t in stored.turns) if r is not None]
        self.last_record = records[-1] if records else None
        self.order = None
        self.resumed = stored
