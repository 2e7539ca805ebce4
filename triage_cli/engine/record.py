"""The triage record: built from the order data by rules, or settled from what a model gave.

Both engines end here, so one set of rules decides what "escalate" means (engine/policy.py) and
the reply and the record can never disagree: when a reply's own "Next step" line differs from
the settled record, a correcting line is added to the reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from triage_cli.engine.events import ToolCall, TriageRecord
from triage_cli.engine.policy import OTHER_REQUEST, asked_clause, issue_topics, out_of_scope_topics
from triage_cli.order_ids import ORDER_ID_PATTERN
from triage_cli.tools.orders import ORDER_TOOL

NextStep = Literal["answer", "escalate"]  # TriageRecord.next_step
NEXT_STEPS: tuple[NextStep, ...] = ("answer", "escalate")
_STATED = re.compile(r"next step\W{0,6}(answer|escalate)\b", re.IGNORECASE)
_LIMITS = {"issue": 120, "summary": 600}  # the order id and status come from the lookups, never the model
_DATA_LIKE = re.compile(r'[{}\[\]]|"\w+"\s*:|\b\w+_\w+\b\s*[:=]')  # JSON or key: value pairs, not prose


def parse_lookup(content: str, order_id: str) -> dict[str, Any]:
    """An order lookup's data with every value as text; a failed lookup carries `error`."""
    try:
        data = json.loads(content)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        return {"found": False, "order_id": order_id, "error": content.removeprefix("error: ")}
    data = {k: v if isinstance(v, bool) or v is None else str(v) for k, v in data.items()}
    data.setdefault("order_id", order_id)
    return data


def lookups_from_calls(calls: Iterable[tuple[ToolCall, str]],
                       pattern: re.Pattern[str] = ORDER_ID_PATTERN) -> list[dict[str, Any]]:
    """The order lookups among (call, result) pairs; for an order looked up twice, the last.
    A call whose arguments name no order, or something that is not an order id (`pattern`), is a
    malformed call, not a lookup: it is left out (the tool refused it; nothing was looked up)."""
    latest: dict[str, dict[str, Any]] = {}
    for call, result in calls:
        if call.name != ORDER_TOOL:
            continue
        try:
            arguments = json.loads(call.arguments)
        except json.JSONDecodeError:
            arguments = {}
        wanted = arguments.get("order_id") if isinstance(arguments, dict) else None
        if not isinstance(wanted, str) or not pattern.fullmatch(wanted.strip()):
            continue
        order = parse_lookup(result, wanted.strip().upper())
        latest.pop(order["order_id"], None)
        latest[order["order_id"]] = order
    return list(latest.values())


LOST_REASON = "a lost parcel needs a replacement or refund, which needs approval"


def topics_reason(topics: list[str]) -> str:
    """`the customer asks about refund and damage, which …`; for a request the rules cannot name
    (shown_topics), `the customer asks: “can we send a new pair?”, which …`."""
    words = join_words(topics)
    asks = words if words.startswith(ASKS) else f"asks about {words}"
    return f"the customer {asks}, which the order data does not cover"


ASKS = "asks: "  # a request the rules cannot name, quoted: `asks: “can we send a new pair?”`


def shown_topics(topics: list[str], question: str) -> list[str]:
    """The topics as an agent reads them: the classifier's unnamed request becomes the customer's
    own clause that asks it."""
    return [f"{ASKS}“{asked_clause(question)}”" if topic == OTHER_REQUEST else topic for topic in topics]


@dataclass(frozen=True)
class Assessment:
    """What the rules conclude from a question and its lookups."""

    next_step: NextStep
    reasons: list[str]  # why it escalates; empty for answer
    topics: list[str]  # out-of-scope topics the question raises
    forced: list[str]  # reasons no answer may override: an order not found or not readable
    missing: list[str] = field(default_factory=list)  # order ids the order system does not have
    # Id-shaped words the order system does not know, beside the order the agent named: a
    # product code or a room number, not an order. Reported, but they decide nothing.
    unknown: list[str] = field(default_factory=list)


def assess(question: str, orders: list[dict[str, Any]], named_order: str | None = None) -> Assessment:
    """The rules' verdict. An order that is not found escalates, unless the agent named another
    order (`named_order`, from --order or /order): then only the named one must exist, and the
    other ids in the text that the store does not know are merely "not an order we know"."""
    not_found = [o["order_id"] for o in orders if not o.get("found") and not o.get("error")]
    named = (named_order or "").strip().upper()
    unknown = [order_id for order_id in not_found if named and order_id.upper() != named]
    missing = [order_id for order_id in not_found if order_id not in unknown]
    failed = [o["order_id"] for o in orders if o.get("error")]
    forced = []
    if missing:
        forced.append(f"no order {', '.join(missing)} in the order system")
    if failed:
        forced.append(f"the order system could not be read for {', '.join(failed)}")
    topics = out_of_scope_topics(question, orders)
    reasons = list(forced)
    if topics:
        reasons.append(topics_reason(shown_topics(topics, question)))
    if any(o.get("status") == "lost" for o in orders):
        reasons.append(LOST_REASON)
    return Assessment("escalate" if reasons else "answer", reasons, topics, forced, missing, unknown)


def rules_record(question: str, orders: list[dict[str, Any]], assessment: Assessment) -> TriageRecord:
    """The record the rules alone give: the offline engine's, and the fallback for a model.
    Ids that are not orders (Assessment.unknown) appear only in the summary."""
    orders = [o for o in orders if o["order_id"] not in assessment.unknown]
    found = [o for o in orders if o.get("found")]
    parts = [f"{o['order_id']} is {(o.get('status') or 'unknown').replace('_', ' ')}" for o in found]
    parts += [f"{order_id} was not found" for order_id in assessment.missing]
    parts += [f"{o['order_id']} could not be read from the order system" for o in orders
              if not o.get("found") and o.get("error")]
    parts += [f"{order_id} is not an order we know" for order_id in assessment.unknown]
    summary = "; ".join(parts) + "." if parts else "The customer gave no order id."
    topics = shown_topics(assessment.topics, question)
    if topics:
        asks = join_words(topics)
        summary += f" The customer {asks if asks.startswith(ASKS) else 'asks about: ' + asks}."
    return TriageRecord(
        order_id=", ".join(o["order_id"] for o in orders) or None,
        issue=_issue(orders, topics),
        status=record_status(orders),
        next_step=assessment.next_step,
        summary=f"{summary} Next step: {assessment.next_step}.",
    )


def verdict_line(next_step: str, reasons: list[str]) -> str:
    """The reply's closing line, e.g. `**Next step:** escalate: no order A9999 in the order system.`"""
    return f"**Next step:** {next_step}{': ' + '; '.join(reasons) if reasons else ''}."


def stated_next_step(reply: str) -> NextStep | None:
    """The next step the reply itself names last ("Next step: escalate"), if any."""
    found = _STATED.findall(reply)
    return as_next_step(found[-1].lower()) if found else None


def as_next_step(value: object) -> NextStep | None:
    """`value` if it is one of NEXT_STEPS, else None."""
    for step in NEXT_STEPS:
        if value == step:
            return step
    return None


GUARDS = ("strict", "record", "off")  # how far triage enforces the policy over a model's "answer"


@dataclass(frozen=True)
class Guard:
    """Why the policy requires `escalate` whatever the model said (`reasons`), and the topics
    among them (for the record's issue)."""

    reasons: list[str]
    topics: list[str]


def guard(assessment: Assessment, issue: str | None, orders: list[dict[str, Any]], level: str = "strict") -> Guard:
    """The policy at a guard `level`: "off", only an order not found (or unreadable); "record",
    also a lost parcel and a topic the model's own record names as the issue; "strict", also a
    request or problem the rules read in the customer's message."""
    reasons = list(assessment.forced)
    if level == "off":
        return Guard(reasons, [])
    # The classifier's guess (OTHER_REQUEST) is no reading: where the rules cannot name what the
    # customer asks, the model, which read the message too, decides.
    read = [topic for topic in assessment.topics if topic != OTHER_REQUEST] if level == "strict" else []
    topics = list(dict.fromkeys([*read, *issue_topics(issue or "", orders)]))
    if topics:
        reasons.append(topics_reason(topics))
    if any(o.get("status") == "lost" for o in orders):
        reasons.append(LOST_REASON)
    return Guard(reasons, topics)


def settle(
    fields: dict[str, Any] | None, question: str, reply: str, orders: list[dict[str, Any]],
    named_order: str | None = None, *, level: str = "strict", earlier: TriageRecord | None = None,
) -> tuple[TriageRecord, str | None]:
    """The record for a model's reply, and a line to add to the reply when it does not already
    say the settled next step.

    Triage owns the facts and the decision: the order id and status come from the lookups (or,
    for a turn that looked nothing up, from the `earlier` record, itself from lookups); a model's
    `escalate` always stands, and its `answer` stands only when `guard` finds no reason at `level`.
    When triage overrides it, the record's `guard` says why. When the model names no next step at
    all, the rules decide. The summary and issue are the model's only when they read as prose."""
    assessment = assess(question, orders, named_order)
    rules = rules_record(question, orders, assessment)
    given = _clean_fields(fields or {})
    stated = stated_next_step(reply)
    votes = [v for v in (as_next_step(given.get("next_step")), stated) if v is not None]
    overrides = guard(assessment, given.get("issue"), orders, level) if votes and "escalate" not in votes else None
    escalates = "escalate" in votes or bool(overrides and overrides.reasons)
    next_step: NextStep = ("escalate" if escalates else "answer") if votes else assessment.next_step
    order_id, status = rules.order_id, rules.status
    if not orders and earlier is not None:
        order_id, status = earlier.order_id, earlier.status
    issue, summary = given.get("issue") or rules.issue, given.get("summary") or rules.summary
    reasons = overrides.reasons if overrides else []
    if overrides and reasons:
        # The model's issue and summary describe an answer it should not have given: the rules'
        # record for the escalation, naming the topics the guard found.
        topics = overrides.topics or [topic for topic in assessment.topics if topic != OTHER_REQUEST]
        escalated = rules_record(question, orders, replace(assessment, next_step="escalate", topics=topics))
        issue, summary = escalated.issue if topics or assessment.forced else issue, escalated.summary
    record = TriageRecord(order_id=order_id, issue=issue, status=status, next_step=next_step, summary=summary,
                          guard="; ".join(reasons) or None)
    if stated == next_step:
        return record, None
    if next_step == "escalate":
        line = verdict_line("escalate", reasons or ([] if votes else assessment.reasons))
        if stated == "answer":
            line = line[:-1] + " (this overrides the next step above)."
        return record, line
    return record, verdict_line("answer", [])


def record_status(orders: list[dict[str, Any]]) -> str:
    if not orders:
        return "no order id given"
    states = [
        (o.get("status") or "unknown") if o.get("found") else "lookup failed" if o.get("error") else "not found"
        for o in orders
    ]
    if len(orders) == 1:
        return states[0]
    return "; ".join(f"{o['order_id']}: {state}" for o, state in zip(orders, states))


def join_words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _issue(orders: list[dict[str, Any]], topics: list[str]) -> str:
    if topics:
        return join_words(topics)
    if not orders:
        return "no order id given"
    if any(not o.get("found") and o.get("error") for o in orders):
        return "order system unavailable"
    if any(not o.get("found") for o in orders):
        return "order not found"
    if any(o.get("status") == "delayed" for o in orders):
        return "delayed delivery"
    if any(o.get("status") == "lost" for o in orders):
        return "lost parcel"
    return "order status"


def _clean_fields(fields: dict[str, Any]) -> dict[str, str]:
    """The model's record fields as short single-line strings; empty, "null" and data-like ones
    (JSON copied from a lookup) dropped."""
    cleaned: dict[str, str] = {}
    for key, limit in _LIMITS.items():
        value = fields.get(key)
        if value is None or isinstance(value, (dict, list)):
            continue
        text = " ".join(str(value).split())[:limit]
        if text and text.lower() not in {"null", "none", "n/a"} and not _DATA_LIKE.search(text):
            cleaned[key] = text
    step = str(fields.get("next_step") or "").strip().lower()
    if step in NEXT_STEPS:
        cleaned["next_step"] = step
    return cleaned
