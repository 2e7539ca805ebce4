"""The offline rules engine: no model, the same tool and the same events.

It finds order ids in the question (or, for a follow-up, in earlier turns), always with the order
the agent named, looks them up through the tool registry, writes a plain-language reply from the
data and applies the escalation policy. A message that only thanks gets a short reply and no
lookup. It says plainly that it is not a model.
"""

from __future__ import annotations

import json
import re
import time
from datetime import date, datetime
from typing import Any

from triage_cli.engine import intents
from triage_cli.engine.conversation import Conversation, find_order_ids
from triage_cli.engine.events import Done, EventStream, Notice, TextDelta, ToolCall, ToolCallsPlanned, TriageRecord, Usage
from triage_cli.engine.policy import is_acknowledgement
from triage_cli.engine.record import assess, parse_lookup, rules_record, verdict_line
from triage_cli.engine.tool_round import round_messages, run_tool_round
from triage_cli.order_ids import ORDER_ID_PATTERN
from triage_cli.tools.orders import ORDER_TOOL
from triage_cli.tools.registry import ToolRegistry


NOTICE = "Answered by the offline rules engine (no model)."
HINT = "To use a model: set OPENAI_API_KEY or pass --provider."

_HEADLINES = {
    "packed": "is packed and waiting for collection",
    "shipped": "has shipped",
    "in_transit": "is on its way",
    "delayed": "is delayed",
    "delivered": "was delivered",
    "cancelled": "was cancelled",
    "returned": "has been returned",
    "lost": "has been reported lost",
}
_EXPECTED = {"packed", "shipped", "in_transit", "delayed"}


class OfflineEngine:
    name = "offline"

    def __init__(self, tools: ToolRegistry, *, today: date | None = None,
                 order_id_pattern: re.Pattern[str] = ORDER_ID_PATTERN) -> None:
        self.tools = tools
        self.today = today
        self.order_id_pattern = order_id_pattern

    def warm_up(self) -> None:
        intents.warm_up()  # chat calls this in a thread while its prompt waits for the first message

    async def aclose(self) -> None:
        pass

    async def run(self, conversation: Conversation) -> EventStream:
        started = time.perf_counter()
        questions = conversation.texts("user")
        question = questions[-1] if questions else ""
        named = conversation.named_order
        if is_acknowledgement(question):
            reply, record = acknowledge(conversation.last_record, named)
        else:
            orders: list[dict[str, Any]] = []
            async for event in self.look_up(conversation, orders):
                yield event
            example = "A1002" if self.order_id_pattern.pattern == ORDER_ID_PATTERN.pattern else None
            reply, record = write_answer(question, orders, self.today or date.today(), named_order=named,
                                         id_example=example)
        ttft = (time.perf_counter() - started) * 1000
        try:
            for piece in _pieces(reply):
                yield TextDelta(piece)
        finally:
            # Even if the turn is cut short the conversation gets its answer: it was already whole.
            conversation.add_assistant(reply)
        yield record
        yield Notice(NOTICE, hint=HINT)
        yield Usage(model_calls=0, ttft_ms=ttft, total_ms=(time.perf_counter() - started) * 1000)
        yield Done(reply)

    async def look_up(self, conversation: Conversation, orders: list[dict[str, Any]],
                      round_number: int = 1) -> EventStream:
        """Look up the orders the last question is about (the named one first; for a follow-up
        that names none, those of the latest earlier question with any) as one tool round, and
        add what was found to `orders`. The agent uses it too, when its model gives no answer."""
        questions = conversation.questions()
        order_ids = self._order_ids(*questions[-1]) if questions else []
        order_ids = order_ids or self._order_ids_before(questions[:-1])
        if not order_ids:
            return
        calls = tuple(
            ToolCall(f"offline_{round_number}_{i}", ORDER_TOOL, json.dumps({"order_id": order_id}))
            for i, order_id in enumerate(order_ids)
        )
        yield ToolCallsPlanned(round_number, calls)
        results: dict[str, str] = {}
        async for event in run_tool_round(self.tools, calls, results):
            yield event
        conversation.extend(round_messages("", calls, results))
        orders.extend(parse_lookup(results[call.id], order_id) for call, order_id in zip(calls, order_ids))

    def _order_ids(self, question: str, named: str | None) -> list[str]:
        """The ids in the question, the named order first (looked up whatever else is there)."""
        found = find_order_ids(question, pattern=self.order_id_pattern)
        if named:
            found = [named.upper(), *(order_id for order_id in found if order_id != named.upper())]
        return found

    def _order_ids_before(self, questions: list[tuple[str, str | None]]) -> list[str]:
        """For a follow-up that names no order: the ids of the latest earlier question with any."""
        for text, named in reversed(questions):
            found = self._order_ids(text, named)
            if found:
                return found
        return []


def _pieces(text: str) -> list[str]:
    """The reply in word-sized pieces, so it streams like any other answer."""
    return re.findall(r"\S+\s*|\s+", text)


def write_answer(question: str, orders: list[dict[str, Any]], today: date, *, named_order: str | None = None,
                 id_example: str | None = "A1002") -> tuple[str, TriageRecord]:
    """The reply (Markdown) and its record, from the question and the lookups' data.
    `named_order` is the order the agent named (see record.assess)."""
    assessment = assess(question, orders, named_order)
    sections = [_describe(order, today, not_an_order=order["order_id"] in assessment.unknown) for order in orders]
    if not orders:
        looks = f" (it looks like **{id_example}**)" if id_example else ""
        sections.append(
            f"I could not find an order id in this message. Ask the customer for their order number{looks}, "
            "then run triage again with it."
        )
    if assessment.next_step == "escalate":
        verdict = verdict_line("escalate", assessment.reasons)
    elif orders:
        verdict = verdict_line("answer", ["the order data above covers the question"])
    else:
        verdict = verdict_line("answer", ["ask the customer for the order id"])
    reply = "\n\n".join(sections + [verdict]) + "\n"
    return reply, rules_record(question, orders, assessment)


def acknowledge(last: TriageRecord | None, named: str | None = None) -> tuple[str, TriageRecord]:
    """A short reply to thanks or an "ok", and a record that repeats the latest one's order and
    status (or names the order the agent named): nothing new is decided, so nothing is looked up
    and no ticket is filed."""
    order_id = last.order_id if last is not None and last.order_id else (named.upper() if named else None)
    about = f" about {order_id}" if order_id else ""
    reply = f"You're welcome — anything else{about}?\n"
    record = TriageRecord(
        order_id=order_id,
        issue="acknowledgement",
        status=last.status if last is not None else ("not looked up" if order_id else "no order id given"),
        next_step="answer",
        summary="The customer acknowledged the answer; nothing new to do. Next step: answer.",
    )
    return reply, record


def _describe(order: dict[str, Any], today: date, *, not_an_order: bool = False) -> str:
    order_id = order.get("order_id", "?")
    if not_an_order:
        return (f"**{order_id}** is not an order we know (a product code or a reference, perhaps); "
                "it does not change the answer.")
    if not order.get("found"):
        if order.get("error"):
            return f"The lookup of **{order_id}** failed: {order['error']}"
        return f"There is **no order {order_id}** in the order system. Check the id with the customer."
    status = str(order.get("status") or "unknown")
    headline = _HEADLINES.get(status, f"has the status '{status}'")
    if status == "delivered" and order.get("last_event_at"):
        headline += f" {_when(order['last_event_at'], today)}"
    elif order.get("carrier") and status in {"shipped", "in_transit", "lost"}:
        headline += f" with {order['carrier']}" if status != "lost" else f" by {order['carrier']}"
    lines = [f"Order **{order_id}** {headline}."]
    if status in _EXPECTED and order.get("eta"):
        lines.append(f"- **Expected delivery:** {_day(order['eta'], today)}")
    if order.get("note"):
        lines.append(f"- **Note:** {order['note']}")
    if order.get("last_event"):
        when = f"{_when(order['last_event_at'], today)}: " if order.get("last_event_at") else ""
        lines.append(f"- **Latest update:** {when}{order['last_event']}")
    if order.get("carrier"):
        tracking = f", tracking {order['tracking']}" if order.get("tracking") else ""
        lines.append(f"- **Carrier:** {order['carrier']}{tracking}")
    if order.get("items"):
        lines.append(f"- **Items:** {order['items']}")
    return "\n".join(lines)


def _day(iso_day: str, today: date) -> str:
    """`tomorrow (Sun 22 Nov)`, or the date alone when it is further away."""
    try:
        day = date.fromisoformat(iso_day[:10])
    except ValueError:
        return iso_day
    label = day.strftime("%a %d %b %Y" if day.year != today.year else "%a %d %b")
    relative = {0: "today", 1: "tomorrow", -1: "yesterday"}.get((day - today).days)
    return f"{relative} ({label})" if relative else label


def _when(iso_moment: str, today: date) -> str:
    """`yesterday at 16:20`, `on Mon 16 Nov at 09:14`."""
    try:
        moment = datetime.fromisoformat(iso_moment)
    except ValueError:
        return iso_moment
    relative = {0: "today", -1: "yesterday"}.get((moment.date() - today).days)
    day = relative or f"on {_day(moment.date().isoformat(), today)}"
    return f"{day} at {moment:%H:%M}" if len(iso_moment) > 10 else day
