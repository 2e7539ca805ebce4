"""The triage record: built from the order data by rules, or settled from what a model gave.

Both engines end here, so one set of rules decides what "escalate" means (engine/policy.py) and
the reply and the record can never disagree: when a reply's own "Next step" line differs from
the settled record, a correcting line is added to the reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from triage_cli.engine.events import ToolCall, TriageRecord
from triage_cli.engine.policy import out_of_scope_topics
from triage_cli.order_ids import ORDER_ID_PATTERN
from triage_cli.tools.orders import ORDER_TOOL

NextStep = Literal["answer", "escalate"]  # TriageRecord.next_step
NEXT_STEPS: tuple[NextStep, ...] = ("answer", "escalate")
_STATED = re.compile(r"next step\W{0,6}(answer|escalate)\b", re.IGNORECASE)
_LIMITS = {"order_id": 64, "issue": 120, "status": 120, "summary": 600}


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
        reasons.append(f"the customer asks about {join_words(topics)}, which the order data does not cover")
    if any(o.get("status") == "lost" for o in orders):
        reasons.append("a lost parcel needs a replacement or refund, which needs approval")
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
    if assessment.topics:
        summary += f" The customer asks about: {join_words(assessment.topics)}."
    return TriageRecord(
        order_id=", ".join(o["order_id"] for o in orders) or None,
        issue=_issue(orders, assessment.topics),
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


def settle(
    fields: dict[str, Any] | None, question: str, reply: str, orders: list[dict[str, Any]],
    named_order: str | None = None,
) -> tuple[TriageRecord, str | None]:
    """The record for a model's reply, and a line to add to the reply when it does not already
    say the settled next step.

    The model decides within the policy; a lookup that found nothing (or failed) always
    escalates, except an id beside the order the agent named (see `assess`); when the reply and
    the fields disagree, escalate wins."""
    assessment = assess(question, orders, named_order)
    rules = rules_record(question, orders, assessment)
    given = _clean_fields(fields or {})
    stated = stated_next_step(reply)
    votes = [v for v in (as_next_step(given.get("next_step")), stated) if v is not None]
    next_step: NextStep = ("escalate" if "escalate" in votes else "answer") if votes else assessment.next_step
    summary = given.get("summary") or _first_sentences(reply) or rules.summary
    status = given.get("status") or rules.status
    if assessment.forced and next_step != "escalate":
        # The model missed what the lookups show, so its status and summary cannot stand either.
        next_step, status, summary = "escalate", rules.status, rules.summary
    record = TriageRecord(
        order_id=given.get("order_id") or rules.order_id,
        issue=given.get("issue") or rules.issue,
        status=status,
        next_step=next_step,
        summary=summary,
    )
    if stated == next_step:
        return record, None
    if next_step == "escalate":
        reasons = assessment.forced or ([] if votes else assessment.reasons)
        line = verdict_line("escalate", reasons)
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
    """The model's record fields as short single-line strings; empty or "null" ones dropped."""
    cleaned: dict[str, str] = {}
    for key, limit in _LIMITS.items():
        value = fields.get(key)
        if value is None or isinstance(value, (dict, list)):
            continue
        text = " ".join(str(value).split())[:limit]
        if text and text.lower() not in {"null", "none", "n/a"}:
            cleaned[key] = text
    step = str(fields.get("next_step") or "").strip().lower()
    if step in NEXT_STEPS:
        cleaned["next_step"] = step
    return cleaned


def _first_sentences(reply: str, limit: int = 240) -> str:
    """The reply's opening sentence or two, without Markdown marks, for a ticket summary."""
    text = re.sub(r"[*_`#>|]+", "", _STATED.split(reply, 1)[0] if _STATED.search(reply) else reply)
    text = " ".join(text.replace("- ", " ").split())
    sentences = re.findall(r".+?(?:[.!?](?=\s|$)|$)", text)
    summary = ""
    for sentence in sentences[:2]:
        if len(summary) + len(sentence) > limit:
            break
        summary = f"{summary} {sentence.strip()}".strip()
    return summary or text[:limit].strip()
