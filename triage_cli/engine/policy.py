"""The escalation policy: which problems the order data cannot settle.

Escalate when an order lookup found nothing, or when the customer asks for an action or raises a
problem that the order data cannot settle (engine/intents.py reads what they ask for). Where the
rules read no topic, the classifier (engine/intent_model.py) has the last word, biased to escalate.
Shared by the offline engine and (later) the guard on model answers.
"""

from __future__ import annotations

import re
from typing import Any

from triage_cli.engine.intents import asks_about_the_data, names_a_topic, raised_topics, speaks_of_the_journey

_ON_ITS_WAY = {"packed", "shipped", "in_transit", "delayed"}
OTHER_REQUEST = "a request the rules do not recognise"  # the classifier's topic (engine/intent_model.py)
_WORDS = re.compile(r"[^\W\d_]{2,}")


_ORDER_ID_WORD = re.compile(r"\b(?:order\s+)?[A-Za-z]\d{3,}\b", re.IGNORECASE)
# A greeting alone ("Hi", "hello there") asks for nothing: the reply asks for the order id.
_GREETING = re.compile(r"\W*(?:(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening)|hola|bonjour|hallo|ciao|ol[áa])"
                       r"(?: there| team| all| again)?\W*)+", re.IGNORECASE)
# A question about the state of a refund or of the money ("was my money returned?", "has the refund
# gone through?"), as against asking for one ("can I get a refund?", "I want my money back").
_REFUND_STATUS = re.compile(
    r"\b(?:was|were|has|have|had|did|is|are|where|when|status|what happened|what does|mean|how long|how many|"
    r"approved|until|show(?:s|ing)? (?:up|on)|appear|reach(?:es)?|gone through|go(?:ne)? back|"
    r"come through|processed|issued|already|yet|cu[aá]ndo|quand|wann|quando|wanneer|ai-je|[ée]t[ée]|han devuelto|ya|schon|bereits|wurde|j[áa]|foi|gi[àa]|stat[oa]|fait|feito|klaar|gedaan)\b|\brefund\s*\?",
    re.IGNORECASE)
_REFUND_REQUEST = re.compile(
    r"\b(?:want|need|like|wish|demand|expect|possible|able|eligible|entitled|give|issue me|"
    r"(?:can|could|may|(?<!when )will) (?:i|we|you)|how (?:do|can|would) i|quiero|voudrais|m[öo]chte|"
    r"vorrei|wil)\b|\bjust refund|(?<!did you )(?<!have you )\brefund (?:me|it|this|the)\b|\bfull refund", re.IGNORECASE)


# Asking to be told something ("please inform me of the status", "just confirming it's marked as
# delivered", "let me know when it ships"): a request for information, which the data gives, not
# for an action. With no topic read, it needs no classifier.
_INFO_REQUEST = re.compile(
    r"\b(?:inform(?:ed)? (?:me|us)|let (?:me|us) know|tell (?:me|us)|confirm\w*|update (?:me|us)|keep (?:me|us) "
    r"(?:posted|updated)|advise (?:me|us|on)|check (?:on|whether|if)|look (?:it|this) up|"
    r"mantenme informad|inf[óo]rm(?:eme|ame)|tenez-moi|informez-moi|teilen sie mir|informe-me|fammi sapere)", re.IGNORECASE)


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
    if (not topics and _WORDS.search(words) and not _GREETING.fullmatch(words) and not is_acknowledgement(text)
            and not names_a_topic(text) and not (asks and _INFO_REQUEST.search(words))):
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


# A record's issue that names a question about the data ("refund status", "cancellation reason",
# "delivery date") asks for nothing the data cannot give.
_ISSUE_ABOUT_THE_DATA = re.compile(
    r"\b(?:status|reason|why|when|where|eta|tracking|inquiry|enquiry|question|query|confirmation|update|progress|"
    r"timeline|date|explanation|info(?:rmation)?|check)\b", re.IGNORECASE)
_ISSUE_ASKS = re.compile(r"\b(?:request\w*|wants?|asks?|asking|would like|needs?|demand\w*)\b", re.IGNORECASE)
# The word the data itself records: a cancelled order's "cancellation", a returned one's "return".
_RECORDED_AS = {"cancellation": "cancelled", "return": "returned"}


def issue_topics(issue: str, orders: list[dict[str, Any]]) -> list[str]:
    """The out-of-scope topics a model's record names as the customer's issue ("refund request",
    "damaged item"), given the orders looked up: a topic the data records ("order cancellation"
    about a cancelled order, "refund" where the note records one) counts only when the issue says
    it is asked for. "complaint" is left to the message: said of a late parcel it is impatience."""
    if not issue.strip() or _ISSUE_ABOUT_THE_DATA.search(issue):
        return []
    found = [o for o in orders if o.get("found")]
    statuses = {o.get("status") for o in found}
    refund_recorded = any("refund" in f"{o.get('note') or ''} {o.get('last_event') or ''}".lower() for o in found)
    asked = _ISSUE_ASKS.search(issue) is not None
    topics = raised_topics(issue, delivered=not found or "delivered" in statuses)
    return [topic for topic in topics if topic != "complaint" and (asked or (
        _RECORDED_AS.get(topic) not in statuses and not (topic == "refund" and refund_recorded)))]


def asks_about_a_refund(text: str) -> bool:
    """Whether the text asks how a refund stands rather than asking for one."""
    return _REFUND_STATUS.search(text) is not None and _REFUND_REQUEST.search(text) is None


# A message made only of these (and punctuation) thanks or acknowledges; it asks nothing.
_ACKNOWLEDGEMENT = re.compile(
    r"(?:thank you|thanks?|ok(?:ay)?|k|thx|ty|cheers|merci(?: beaucoup)?|(?:muchas )?gracias|danke(?: sch[öo]n| sehr)?|"
    r"obrigad[oa]|grazie(?: mille)?|bedankt|dank je|mate|"
    r"for (?:your|the|all (?:your|the)) (?:help|info|information|update|reply|answer)|for that|"
    r"(?:i )?appreciate (?:it|that)|(?:much |very )?appreciated|you too|have a (?:good|nice|great) (?:one|evening|weekend)|"
    r"(?:i'?ll|i will) wait|great|cool|perfect|fine|good|got it|understood|noted|"
    r"alright|all right|nice|lovely|brilliant|awesome|super|sure|that'?s (?:great|fine|all|it)|"
    r"a lot|so much|very much|many|all good|will do|sounds good|bye|see you|have a (?:good|nice) day|"
    r"[\U0001F44D\U0001F64F\U0001F60A\U0001F642\u2705\u263A\uFE0F\U0001F3FB-\U0001F3FF])(?![a-z'])",
    re.IGNORECASE,
)
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
        match = _ACKNOWLEDGEMENT.match(rest)
        if match is None:
            return False
        rest = rest[match.end():].lstrip()
    return True
