"""The escalation policy: which problems the order data cannot settle.

Escalate when an order lookup found nothing, or when the customer's problem is outside what the
order data covers. Shared by the offline engine and (later) the guard on model answers.
"""

from __future__ import annotations

import re

# topic -> pattern. Order matters only for which reason is named first.
OUT_OF_SCOPE: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.IGNORECASE)
    for name, pattern in {
        "refund": r"\brefund|money back|reimburs|compensat",
        "damage": r"\bdamaged?\b|\bbroken\b|\bsmashed\b|\bcrushed\b|\bdefective\b|\bfaulty\b|\bcracked\b|\bleak(?:ed|ing|s)?\b",
        "wrong item": r"\bwrong (?:item|size|colou?r|product|model|parcel|order)\b|not what i (?:ordered|bought)|\bincorrect item|\bmissing (?:item|part|piece)s?\b",
        "billing": r"\bbill(?:ed|ing)?\b|\bcharged?\b|\binvoice|\bpayment|\bovercharg|\bdouble[- ]charg",
        "cancellation": r"\bcancel",
        "address change": r"\b(?:change|update|correct|fix|edit|new)\b[\w\s']{0,20}\baddress\b|\baddress\b[\w\s']{0,12}\b(?:change|wrong|incorrect)|\bredirect|\bdeliver (?:it )?to (?:a |my )?(?:different|new|another)",
        "legal threat": r"\blawyer|\bsolicitor|\blegal action|\bsue\b|\bsuing\b|\bcourt\b|trading standards|\bchargeback",
    }.items()
}


def out_of_scope_topics(text: str) -> list[str]:
    """The out-of-scope topics the text raises, e.g. ["refund", "damage"]."""
    return [name for name, pattern in OUT_OF_SCOPE.items() if pattern.search(text)]


# A message made only of these (and punctuation) thanks or acknowledges; it asks nothing.
_ACKNOWLEDGEMENT = re.compile(
    r"(?:thank you|thanks?|ok(?:ay)?|k|thx|ty|cheers|great|cool|perfect|fine|good|got it|understood|noted|"
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
