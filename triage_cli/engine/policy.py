"""The escalation policy: which problems the order data cannot settle.

Escalate when an order lookup found nothing, or when the customer asks for an action or raises a
problem that the order data cannot settle (engine/intents.py reads what they ask for). Where the
rules read no topic, the classifier (engine/intent_model.py) has the last word, biased to escalate.
Shared by the offline engine and the guard on model answers (engine/record.py).
"""

from __future__ import annotations

import re
from typing import Any

from triage_cli.engine.intents import (
    asks_about_the_data, clauses, names_a_topic, raised_topics, reading, speaks_of_the_journey, unsettled,
)

_ON_ITS_WAY = {"packed", "shipped", "in_transit", "delayed"}
OTHER_REQUEST = "a request the rules do not recognise"  # the classifier's topic (engine/intent_model.py)
_WORDS = re.compile(r"[^\W\d_]{2,}")
_ORDER_ID_WORD = re.compile(r"\b(?:order\s+)?[A-Za-z]\d{3,}\b", re.IGNORECASE)


def out_of_scope_topics(text: str, orders: list[dict[str, Any]] | None = None) -> list[str]:
    """The out-of-scope topics the text asks for or complains about, e.g. ["refund", "damage"]
    (engine/intents.py). With the orders looked up, what their data settles is left out: "it
    never arrived" about an order still on its way, the state of a refund the data records, a
    cancellation or return of an order already cancelled or returned. With no order looked up, a
    question about a refund's state is answered by asking for the id, and "it never came" is a
    complaint only when the message says the parcel was marked delivered."""
    text = own_words(text)
    looked_up = bool(orders)
    found = [o for o in orders or [] if o.get("found")]
    statuses = {o.get("status") for o in found}
    delivered = "delivered" in statuses if found else reading("says_delivered").search(text) is not None
    topics = raised_topics(text, delivered=delivered)
    words = _ORDER_ID_WORD.sub(" ", text)
    asks = asks_about_the_data(words) or (bool(statuses & _ON_ITS_WAY) and speaks_of_the_journey(words))
    if not topics and _asks_for_more(text, words, asks, delivered):
        topics.append(OTHER_REQUEST)
    if "refund" in topics and asks_about_a_refund(text) and (not looked_up or any(
            "refund" in f"{o.get('note') or ''} {o.get('last_event') or ''}".lower() for o in found)):
        topics.remove("refund")  # answered from the data, or (with no order id) by asking for it
    for topic, done in _DONE_ALREADY.items():
        if topic in topics and statuses and statuses <= done:
            topics.remove(topic)  # "I changed my mind" about a refused parcel: what the data already says
    return topics


_QUOTED_LINE = re.compile(r"^\s*(?:>.*|(?:fwd?|fw|re)\s*:.*)$", re.IGNORECASE | re.MULTILINE)
_QUOTED_BLOCK = re.compile(r"^\s*-{3,}[^\n]*\n.*?^\s*-{3,}[^\n]*$", re.MULTILINE | re.DOTALL)


_FORWARDING_NOTE = re.compile(
    r"\W*(?:(?:please |pls |kindly )?advise|fyi|see below|see (?:the )?(?:e-?mail|message|complaint) below|"
    r"(?:any )?thoughts|any ideas|(?:can|could) (?:you|someone) (?:help|look(?: into it)?|handle (?:it|this))|"
    r"help|for you|over to you|thanks|thank you|cheers)?\W*", re.IGNORECASE)


def own_words(text: str) -> str:
    """The customer's own words: without what they forwarded ("> Your parcel is delayed. We
    apologise for the inconvenience", a block between --- lines, a "Fwd:" subject line), which
    is a carrier's, not a request. When all that is left is a note to pass it on ("Please
    advise"), the forwarded lines are the message: a colleague forwarding a customer's words."""
    own = _QUOTED_LINE.sub("", _QUOTED_BLOCK.sub("", text))
    if not _FORWARDING_NOTE.fullmatch(_ORDER_ID_WORD.sub(" ", own)):
        return own
    quoted = [line.lstrip().lstrip(">").strip() for line in text.splitlines() if line.lstrip().startswith(">")]
    return "\n".join([own.strip(), *quoted]).strip() if quoted else own


# A request the order's status shows done already: nothing left to ask for.
_DONE_ALREADY = {"cancellation": {"cancelled", "returned"}, "return": {"returned"}}


def _asks_for_more(text: str, words: str, asks: bool, delivered: bool) -> bool:
    """Whether a message in which the rules raised no topic asks for something all the same, by
    the classifier (engine/intent_model.py; its weights load on first use):

    - where the rules read a topic and took it back (a negation, a hedge, a story told as settled
      or as someone else's: "no need to cancel", "my last order broke but you sorted it"), it
      escalates only when the classifier is sure: the rules' reading is usually right; where the
      data took it back ("it never arrived" about an order on its way), it does not;
    - where they read nothing, a statement escalates unless the classifier is sure it asks for
      nothing, and a question the data answers only when it is sure it asks for more; a request
      put as a question ("is there any way to make it the afternoon?") is read like a statement,
      and a closing remark ("found it behind the plant pot, all good") like a question;
    - a greeting, a thanks, or a request to be told something asks for nothing more."""
    from triage_cli.engine.intent_model import asks_for_action

    rest = unsettled(text)  # without what the customer told as settled ("that got sorted")
    rest_words = _ORDER_ID_WORD.sub(" ", rest)
    if names_a_topic(text, delivered=delivered):
        return asks_for_action(text, sure=True)
    if names_a_topic(text) or not _WORDS.search(rest_words):
        return False  # "it never arrived" about an order on its way: the data answers it
    if reading("greeting").fullmatch(rest_words) or is_acknowledgement(rest):
        return False
    if asks and reading("info_request").search(rest_words):
        return False
    return asks_for_action(rest, sure=(asks and not asks_for_something(rest)) or closes(rest))


def asks_for_something(text: str) -> bool:
    """Whether a clause asks us to do something ("could you…", "is there any way…", "pueden…"),
    other than to tell or send information ("could you tell me…", "can you send me the tracking")."""
    return any(reading("action_request").search(clause) and not reading("info_request").search(clause)
               for clause in clauses(text))


def closes(text: str) -> bool:
    """A closing remark that asks nothing: thanks, found it, got it, all good, likes it (in any
    length), with no question mark and no sarcasm ("brilliant work, really")."""
    return ("?" not in text and reading("closure").search(text) is not None
            and reading("sarcasm").search(text) is None)


def asked_clause(text: str, limit: int = 80) -> str:
    """The customer's own clause that asks for something, for a request the rules cannot name:
    the one the classifier reads as most of a request."""
    from triage_cli.engine.intent_model import request_probability

    candidates = [clause for clause in clauses(text) if _WORDS.search(_ORDER_ID_WORD.sub(" ", clause))] or [text]
    best = max(candidates, key=request_probability)
    best = " ".join(best.split())
    return best if len(best) <= limit else best[: limit - 1].rstrip() + "…"


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
    """Whether the text asks how a refund stands rather than asking for one or saying it has not
    come ("still isn't on my card though you said it was issued": a billing problem)."""
    return (reading("refund_status").search(text) is not None and reading("refund_request").search(text) is None
            and reading("refund_missing").search(text) is None)


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
