"""`triage stats` and `GET /v1/stats` (issue 28): the figures of a period counted from what the
stores keep, on SQLite and PostgreSQL alike; the stored turns and tickets are written through the
stores and their times then set, so every figure is known. Through the real CLI too: JSON, piped
lines, a terminal's bars, a team server's."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone

import pexpect

from helpers import plain
from serve_helpers import TEAM_TOKEN
from triage_cli.engine.events import TriageRecord
from triage_cli.store.sessions import SessionStore
from triage_cli.store.stats import stats
from triage_cli.store.tickets import TicketStore

UNTIL = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
SINCE = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)


def answered(store: SessionStore, when: str, *, source: str = "ask", next_step: str = "answer", issue: str = "order status",
             status: str = "delayed", usage: dict | None = None, error: str | None = None, guard: str | None = None,
             provider: str = "openai", model: str = "m") -> int:
    turn = store.begin_turn(None, source=source, provider=provider, model=model,
                            question={"role": "user", "content": "q"})
    record = {"order_id": "A1002", "issue": issue, "status": status, "next_step": next_step, "summary": "s",
              "ticket": None, "guard": guard}
    store.finish_turn(turn, complete=error is None, messages=[], partial="r", tool_calls=(), record=record,
                      usage=usage, error=error, order_ids=())
    with store.database.transaction("test") as db:
        db.execute("UPDATE turns SET started_at = ? WHERE id = ?", (when, turn.turn_id))
    return turn.conversation_id


def at(database, table: str, column: str, value: str, row_id: int) -> None:
    with database.transaction("test") as db:
        db.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (value, row_id))


def test_the_figures_count_the_stored_turns_and_tickets(database):
    store = SessionStore(database)
    usage = {"model_calls": 2, "prompt_tokens": 100, "completion_tokens": 20, "ttft_ms": 300.0, "total_ms": 900.0}
    answered(store, "2026-12-01T09:00:00.000+00:00", usage=usage)
    answered(store, "2026-12-01T10:00:00.000+00:00", next_step="escalate", issue="refund and damage", status="delivered",
             usage={**usage, "ttft_ms": 500.0}, guard="the customer asks for a refund", source="chat")
    answered(store, "2026-12-02T10:00:00.000+00:00", next_step="escalate", issue="lost parcel", status="lost",
             usage={**usage, "ttft_ms": 700.0}, source="serve", provider="offline", model="")
    answered(store, "2026-12-03T10:00:00.000+00:00", error="openai is rate-limiting requests (HTTP 429), still after 3 tries")
    tested = answered(store, "2026-12-03T11:00:00.000+00:00", source="eval")  # a test case, not a customer
    answered(store, "2026-11-01T11:00:00.000+00:00")  # before the period
    tickets = TicketStore(database)
    lost = TriageRecord("A1009", "lost parcel", "lost", "escalate", "s")
    first = tickets.open_ticket(lost, question="q", reply="r", conversation_id=1)
    second = tickets.open_ticket(lost, question="q", reply="r", conversation_id=2)
    tickets.open_ticket(lost, question="q", reply="r", conversation_id=3)
    tickets.open_ticket(lost, question="q", reply="r", conversation_id=tested)  # `eval --keep`'s: not counted
    tickets.claim("ana", first.id)
    tickets.close(first.id, "done", agent="ana")
    tickets.claim("ben", second.id)
    at(database, "tickets", "created_at", "2026-12-01T10:00:00.000+00:00", first.id)
    at(database, "tickets", "created_at", "2026-12-02T10:00:00.000+00:00", second.id)
    at(database, "tickets", "created_at", "2026-12-06T11:30:00.000+00:00", 3)
    at(database, "tickets", "closed_at", "2026-12-01T14:00:00.000+00:00", first.id)
    with database.transaction("test") as db:
        moments = {("claimed", first.id): "2026-12-01T10:30:00.000+00:00", ("closed", first.id): "2026-12-01T14:00:00.000+00:00",
                   ("claimed", second.id): "2026-12-02T12:00:00.000+00:00"}
        for (action, ticket), moment in moments.items():
            db.execute("UPDATE ticket_events SET at = ? WHERE ticket_id = ? AND action = ?", (moment, ticket, action))

    figures = stats(database, SINCE, UNTIL)

    assert (figures["turns"], figures["conversations"], figures["escalations"]) == (4, 4, 2)
    assert figures["escalation_rate"] == 0.5
    assert figures["by_topic"] == {"refund": 1, "damage": 1, "lost parcel": 1}
    assert figures["by_status"] == {"delayed": 2, "delivered": 1, "lost": 1}
    assert figures["by_source"] == {"ask": 2, "chat": 1, "serve": 1}
    assert figures["by_engine"] == {"openai m": 3, "offline": 1}
    days = {day["day"]: (day["turns"], day["escalations"]) for day in figures["per_day"]}
    assert list(days) == [f"2026-{d}" for d in ("11-29", "11-30", "12-01", "12-02", "12-03", "12-04", "12-05", "12-06")]
    assert (days["2026-12-01"], days["2026-12-02"], days["2026-12-03"], days["2026-12-04"]) == ((2, 1), (1, 1), (1, 0), (0, 0))
    t = figures["tickets"]
    assert (t["opened"], t["claimed"], t["closed"], t["open_now"]) == (3, 2, 1, 2)
    assert t["open_by_age"] == {"under 1 h": 1, "1-4 h": 0, "4-24 h": 0, "1-7 d": 1, "over 7 d": 0}
    assert t["to_claim_minutes"] == {"count": 2, "median": 75.0, "p90": 120.0}  # 30 and 120 minutes
    assert t["to_close_minutes"] == {"count": 1, "median": 240.0, "p90": 240.0}
    assert t["unclaimed"] == 1  # the third, opened half an hour ago
    assert t["by_agent"] == {"ana": {"claimed": 1, "closed": 1}, "ben": {"claimed": 1, "closed": 0}}
    m = figures["model"]
    assert (m["calls"], m["tokens_in"], m["tokens_out"], m["guard_overrides"]) == (6, 300, 60, 1)
    assert m["time_to_first_token_ms"] == {"p50": 500.0, "p95": 700.0}
    assert m["errors"] == {"rate_limit": 1}


def test_stats_through_the_cli_as_json_piped_and_on_a_terminal(run_triage, triage_env):
    for question in ("Where is A1002?", "I want a refund for A1003", "A1009 lost?"):
        assert run_triage("ask", question).code == 0
    figures = json.loads(run_triage("stats", "--json").out)
    assert (figures["turns"], figures["escalations"], figures["tickets"]["opened"]) == (3, 2, 2)
    piped = run_triage("stats", "--since", "24h").out.splitlines()
    assert "turns\tturns\t3" in piped and "turns\tescalations\t2" in piped and "tickets\topen_now\t2" in piped
    bad = run_triage("stats", "--since", "yesterday")
    assert bad.code == 2 and bad.err.startswith("error: --since takes a number above 0 and a unit")
    child = pexpect.spawn(sys.executable, ["-m", "triage_cli", "stats"], env=triage_env, dimensions=(30, 100),
                          encoding="utf-8", timeout=30)
    child.expect(pexpect.EOF)
    shown = plain(child.before)
    assert "3 turns in 3 conversations · 2 escalated (67%)" in shown and "█" in shown
    assert "escalations by topic" in shown and "open now 2" in shown
    assert all("█" not in line for line in shown.splitlines() if line.endswith(" 0 (0)"))  # no bar for a quiet day


def test_a_team_servers_figures_are_the_same_object(run_triage, team, team_model):
    env = {"TRIAGE_SERVER_URL": team.url, "TRIAGE_SERVER_TOKEN": TEAM_TOKEN}
    before = json.loads(run_triage("stats", "--json", env=env).out)
    from scripted_server import answer

    team_model.add(answer("It is late.", order_id="A1002", issue="late", status="delayed", next_step="answer",
                          summary="late"))
    assert run_triage("ask", "--order", "A1002", "late?", env=env).code == 0
    after = json.loads(run_triage("stats", "--json", env=env).out)
    assert after["turns"] == before["turns"] + 1 and set(after) == set(before)
    refused = run_triage("stats", "--since", "soon", env=env)
    assert refused.code == 2 and "--since takes a number" in refused.err
