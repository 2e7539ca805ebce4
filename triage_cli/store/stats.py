"""What a support lead and an operator ask first, counted from what the stores keep: over a
period, the turns and their escalations (by topic, order status, source, engine), the tickets (how
long they wait to be claimed and closed, who works them), and the model (calls, tokens, time to
the first token, errors, guard overrides). `triage stats` and `GET /v1/stats` show the same
object; the same SQL on SQLite and PostgreSQL, the arithmetic here. `triage eval` runs are left
out (they answer test cases, not customers)."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from triage_cli.record_types import issue_topics
from triage_cli.store.backend import Database
from triage_cli.store.database import iso

# How long an open ticket has waited, the buckets a lead reads it in.
AGES = ((timedelta(hours=1), "under 1 h"), (timedelta(hours=4), "1-4 h"), (timedelta(days=1), "4-24 h"),
        (timedelta(days=7), "1-7 d"), (timedelta.max, "over 7 d"))
# A stored error's kind, from its words (the turn keeps the line the user read).
ERROR_KINDS = (("interrupted", r"^interrupted$|process ended mid-answer|cut off|stalled|ended before"),
               ("rate_limit", r"HTTP 429|rate-limit|quota"), ("auth", r"HTTP 40[13]|check the key"),
               ("timeout", r"did not answer within|sent nothing within|timed? ?out"),
               ("connection", r"cannot connect"), ("server", r"HTTP 5\d\d"))


def stats(database: Database, since: datetime, until: datetime) -> dict[str, Any]:
    """The figures for [since, until): plain counts under `turns` and `escalations`."""
    with database.opened("the statistics") as db:
        turns = db.execute(
            "SELECT t.started_at, t.conversation_id, t.provider, t.model, t.record, t.usage, t.error, c.source"
            " FROM turns t JOIN conversations c ON c.id = t.conversation_id"
            " WHERE t.started_at >= ? AND t.started_at < ? AND c.source <> 'eval'", (iso(since), iso(until))).fetchall()
        # The tickets of customers' conversations (not an `eval --keep` run's): open ones, and those
        # opened or closed in the period; their claims and closings since it began.
        tickets = db.execute(
            "SELECT t.id, t.created_at, t.status, t.closed_at FROM tickets t"
            " LEFT JOIN conversations c ON c.id = t.conversation_id"
            " WHERE (c.source IS NULL OR c.source <> 'eval') AND (t.status = 'open' OR t.created_at >= ?"
            " OR t.closed_at >= ?)", (iso(since), iso(since))).fetchall()
        events = db.execute("SELECT ticket_id, at, action, agent FROM ticket_events"
                            " WHERE action IN ('claimed', 'closed') AND at >= ? ORDER BY id", (iso(since),)).fetchall()
    counted = {row[0] for row in tickets}
    return {"since": iso(since), "until": iso(until), **_turns(turns, since, until),
            "tickets": _tickets(tickets, [e for e in events if e[0] in counted], since, until), "model": _model(turns)}


def _turns(rows: list[Any], since: datetime, until: datetime) -> dict[str, Any]:
    records = [(row, json.loads(row[4])) for row in rows if row[4]]
    escalated = [(row, record) for row, record in records if record.get("next_step") == "escalate"]
    per_day = {str(since.date() + timedelta(days=n)): [0, 0] for n in range((until.date() - since.date()).days + 1)}
    for row in rows:  # days in UTC, as the times are stored
        per_day.setdefault(row[0][:10], [0, 0])[0] += 1
    for row, _ in escalated:
        per_day[row[0][:10]][1] += 1
    return {
        "turns": len(rows),
        "conversations": len({row[1] for row in rows}),
        "escalations": len(escalated),
        "escalation_rate": round(len(escalated) / len(records), 4) if records else None,
        "by_topic": _counted(topic for _, record in escalated for topic in issue_topics(record.get("issue"))),
        "by_status": _counted(str(record.get("status") or "-") for _, record in records),
        "by_source": _counted(row[7] for row in rows),
        "by_engine": _counted(f"{row[2]} {row[3]}".strip() for row in rows),
        "per_day": [{"day": day, "turns": counts[0], "escalations": counts[1]} for day, counts in sorted(per_day.items())],
    }


def _tickets(tickets: list[Any], events: list[Any], since: datetime, until: datetime) -> dict[str, Any]:
    start, end = iso(since), iso(until)
    created = {row[0]: row[1] for row in tickets}
    first_claim: dict[int, str] = {}
    claimed, closed = Counter[str](), Counter[str]()
    for ticket_id, at, action, agent in events:
        if action == "claimed":
            first_claim.setdefault(ticket_id, at)
        if start <= at < end:
            (claimed if action == "claimed" else closed)[agent or "triage"] += 1
    opened = [t for t in tickets if start <= t[1] < end]
    closed_now = [t for t in tickets if t[3] and start <= t[3] < end]
    waits = Counter(_bucket(until - _moment(t[1])) for t in tickets if t[2] == "open")
    return {
        "opened": len(opened),
        "claimed": sum(claimed.values()),
        "closed": sum(closed.values()),
        "open_now": sum(waits.values()),
        "open_by_age": {label: waits.get(label, 0) for _, label in AGES},
        "to_claim_minutes": _spread([_minutes(created[t], at) for t, at in first_claim.items()
                                     if t in created and start <= created[t] < end]),
        "unclaimed": sum(1 for t in opened if t[0] not in first_claim),  # opened in the period, never claimed
        "to_close_minutes": _spread([_minutes(t[1], t[3]) for t in closed_now]),
        "by_agent": {agent: {"claimed": claimed.get(agent, 0), "closed": closed.get(agent, 0)}
                     for agent in sorted(set(claimed) | set(closed))},
    }


def _model(rows: list[Any]) -> dict[str, Any]:
    usages = [json.loads(row[5]) for row in rows if row[5]]
    first_tokens = sorted(u["ttft_ms"] for u in usages if isinstance(u.get("ttft_ms"), (int, float)))
    guarded = sum(1 for row in rows if row[4] and json.loads(row[4]).get("guard"))
    return {
        "calls": sum(int(u.get("model_calls") or 0) for u in usages),
        "tokens_in": sum(int(u.get("prompt_tokens") or 0) for u in usages),
        "tokens_out": sum(int(u.get("completion_tokens") or 0) for u in usages),
        "time_to_first_token_ms": {"p50": _percentile(first_tokens, 0.5), "p95": _percentile(first_tokens, 0.95)},
        "errors": _counted(error_kind(row[6]) for row in rows if row[6]),
        "guard_overrides": guarded,
    }


def error_kind(error: str) -> str:
    for kind, words in ERROR_KINDS:
        if re.search(words, error, re.IGNORECASE):
            return kind
    return "other"


def _counted(values: Any) -> dict[str, int]:
    return dict(Counter(values).most_common())


def _bucket(waited: timedelta) -> str:
    return next(label for limit, label in AGES if waited < limit)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _minutes(start: str, end: str) -> float:
    return (_moment(end) - _moment(start)).total_seconds() / 60


def _spread(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    return {"count": len(ordered), "median": round(median(ordered), 1) if ordered else None,
            "p90": _percentile(ordered, 0.9)}


def _percentile(ordered: list[float], share: float) -> float | None:
    """The nearest-rank percentile of sorted values (None for none)."""
    if not ordered:
        return None
    return round(float(ordered[max(0, math.ceil(share * len(ordered)) - 1)]), 1)
