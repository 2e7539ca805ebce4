"""The escalation policy: which problems the order data cannot settle.

Escalate when an order lookup found nothing, or when the customer asks for an action or raises a
problem that the order data cannot settle (engine/intents.py reads what they ask for). Where the
rules read no topic, the classifier (engine/intent_model.py) has the last word, biased to escalate.
Shared by the offline engine and the guard on model answers (engine/record.py).
"""

from __future__ import annotations

import re
from typing import Any

from triage_cli.engine.intents import asks_about_the_data, names_a_topic, raised_topics, reading, speaks_of_the_journey

_ON_ITS_WAY = {"packed", "shipped", "in_transit", "delayed"}
OTHER_REQUEST = "a request the rules do not recognise"  # the classifier's topic (engine/intent_model.py)
_WORDS = re.compile(r"[^\W\d_]{2,}")
_ORDER_ID_WORD = re.compile(r"\b(?:order\s+)?[A-Za-z]\d{3,}\b", re.IGNORECASE)


def out_of_scope_topics(text: str, orders: list[dict[str, Any]] | None = None) -> list[str]:
    """The out-of-scope topics the text asks for or complains about, e.g. ["refund", "damage"]
    (engine/intents.py). With the orders looked up, what their data settles is left out: "it
    never arrived" about an order still on its way, or the state of a refund the data records.
    With no order looked up, a question about a refund's state is answered by asking for the id."""
    looked_up = bool(orders)
    orders = [o for o in orders or [] if o.get("found")]
    delivered = not orders or any(o.get("status") == "delivered" for o in orders)
    topics = raised_topics(text, delivered=delivered)
    words = _ORDER_ID_WORD.sub(" ", text)
    on_its_way = any(o.get("status") in _ON_ITS_WAY for o in orders)
    asks = asks_about_the_data(words) or (on_its_way and speaks_of_the_journey(words))
    if (not topics and _WORDS.search(words) and not reading("greeting").fullmatch(words) and not is_acknowledgement(text)
            and not names_a_topic(text) and not (asks and reading("info_request").search(words))):
        from triage_cli.engine.intent_model import asks_for_action  # its weights load on first use

        # A message the rules cannot read escalates unless the classifier is sure it asks nothing
        # of us; one with a question the data answers only when the classifier is sure it does.
        # Where the rules read a topic and took it back ("no need to cancel", "it hasn't arrived"
        # about an order on its way), they have read the message and the classifier stays out.
        if asks_for_action(text, sure=asks):
            topics.append(OTHER_REQUEST)
    if "refund" in topics and asks_about_a_refund(text) and (not looked_up or any(
            "refund" in f"{o.get('note') or ''} {o.get('last_event') or ''}".lower() for o in orders)):
        topics.remove("refund")  # answered from the data, or (with no order id) by asking for it
    return topics


# The word the data itself records: a cancelled order's "cancellation", a returned one's "return".
_RECORDED_AS = {"cancellation": "cancelled", "return": "returned"}


def issue_topics(issue: str, orders: list[dict[str, Any]]) -> list[str]:
    """The out-of-scope topics a model's record names as the customer's issue ("refund request",
    "damaged item"), given the orders looked up: a topic the data records ("order cancellation"
    about a cancelled order, "refund" where the note records one) counts only when the issue says
    it is asked for. "complaint" is left to the message: said of a late parcel it is impatience."""
    if not issue.strip() or reading("issue_about_the_data").search(issue):
        return []
    found = [o for o in orders if o.get("found")]
    statuses = {o.get("status") for o in found}
    refund_recorded = any("refund" in f"{o.get('note') or ''} {o.get('last_event') or ''}".lower() for o in found)
    asked = reading("issue_asks").search(issue) is not None
    topics = raised_topics(issue, delivered=not found or "delivered" in statuses)
    return [topic for topic in topics if topic != "complaint" and (asked or (
        _RECORDED_AS.get(topic) not in statuses and not (topic == "refund" and refund_recorded)))]


def asks_about_a_refund(text: str) -> bool:
    """Whether the text asks how a refund stands rather than asking for one."""
    return reading("refund_status").search(text) is not None and reading("refund_request").search(text) is None


_ACK_SEPARATORS = re.compile(r"[\s,.!;:~\-\u2014]+")
MAX_ACKNOWLEDGEMENT_CHARS = 60


def is_acknowledgement(text: str) -> bool:
    """Whether the message only thanks or acknowledges ("thanks", "ok thanks!", "great, cheers",
    "👍"): it gets a short reply, not another lookup. A question mark makes it a question."""
    text = text.strip()
    if not text or len(text) > MAX_ACKNOWLEDGEMENT_CHARS or "?" in text:
        return False
    rest = _ACK_SEPARATORS.sub(" ", text).strip()
    while rest:
        match = reading("acknowledgement").match(rest)
        if match is None:
            return False
        rest = rest[match.end():].lstrip()
    return True
