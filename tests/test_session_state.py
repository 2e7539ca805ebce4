"""One session state (engine/session_state.py) behind the local and the remote session: the
order in context follows the settings' order id pattern on both paths, and resuming reads the
same order from the same stored turns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from triage_cli.client.http import ServerClient
from triage_cli.client.remote_session import RemoteSession
from triage_cli.config import load_settings
from triage_cli.engine.events import TriageRecord
from triage_cli.session import TriageSession

PATTERN = "ORD-[0-9]{3}"


@dataclass
class Turn:
    question: str
    record: dict[str, Any] | None


@dataclass
class Stored:
    turns: list[Turn]


def sessions(tmp_path) -> list[Any]:
    settings = load_settings({"provider": "offline"}, environ={"TRIAGE_HOME": str(tmp_path),
                                                                "TRIAGE_ORDER_ID_PATTERN": PATTERN})
    assert settings.order_id_pattern.pattern == PATTERN
    return [TriageSession(settings, source="chat"), RemoteSession(settings, ServerClient("http://127.0.0.1:9"))]


def test_the_order_in_context_follows_the_order_id_pattern_on_both_paths(tmp_path):
    for session in sessions(tmp_path):
        session.last_record = TriageRecord(order_id="ord-777", issue="late", status="delayed", next_step="answer",
                                           summary="late")
        assert session.order_in_context() == "ORD-777", type(session).__name__
        assert session.set_order("ord-123") == "ORD-123" and session.order_in_context() == "ORD-123"


def test_resuming_reads_the_same_order_and_turns_on_both_paths(tmp_path):
    record = {"order_id": "ORD-555, ORD-556", "issue": "late", "status": "delayed", "next_step": "escalate",
              "summary": "late"}
    stored = Stored([Turn("Where is ORD-555?", record), Turn("and now?", None)])
    seen = []
    for session in sessions(tmp_path):
        session.resumed_from(stored)
        seen.append((session.order, session.turns, session.last_record, session.resumed is stored))
        session.new()
        assert (session.order, session.turns, session.last_record, session.resumed) == (None, [], None, None)
    # The last record's last order is the order in context; none is named (it would go with every question).
    assert seen[0] == seen[1] and seen[0][0] is None and seen[0][1][0] == ("Where is ORD-555?", "escalate")
    assert [s.order_in_context() for s in sessions(tmp_path) if s.resumed_from(stored) is None] == ["ORD-556"] * 2
