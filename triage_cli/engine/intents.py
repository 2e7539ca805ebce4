"""What a customer asks for, read clause by clause: the requests and complaints the order data
cannot settle (a refund, a cancellation, damage, a parcel marked delivered that never came, …).

A word alone decides nothing: "I don't want to cancel", "no need for a refund" and "not charged
twice I hope" name a topic without asking for it. So the message is split into clauses, and in
each a topic counts unless a negation comes before it in the same clause, or the clause only
hopes or worries ("hopefully nothing's broken"). Questions the data answers ("why was it
cancelled?", "did you get my return?") match no request pattern: requests are written as verbs
in the present ("cancel it", "I want to return it"), the data's facts in the past ("cancelled",
"returned"). A few other common languages (es, fr, de, pt, it, nl) are covered for the main requests.
Problems are also read from what happened rather than their name: someone taking or walking off
with a parcel is theft, a tear, a dent or a box that won't power on is damage, "it's not on my
porch" or "none of them have it" about a delivered order is not received.

Some complaints depend on the data: "it never arrived" is a complaint about an order marked
delivered, but only impatience about one still on its way.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TABLE = Path(__file__).with_name("intents.toml")  # package data: the topics and the reading patterns


@dataclass(frozen=True)
class Topic:
    name: str
    means: str
    pattern: re.Pattern[str]
    negatable: bool = True  # "I don't want a refund" cancels it; "never arrived" is itself the complaint
    request: bool = False  # an action asked for: "why did you cancel it?" asks about the data instead
    needs_delivered: bool = False  # only a complaint about an order the data says was delivered
    whole: bool = False  # also read across clauses ("ordered size M, got size S")
    examples: tuple[str, ...] = ()  # messages that raise it (tests/test_intent_table.py)
    counter_examples: tuple[str, ...] = ()  # messages that name its words but must not raise it


@dataclass(frozen=True)
class IntentTable:
    topics: tuple[Topic, ...]
    reading: dict[str, re.Pattern[str]]  # the clause readers' patterns, by name ([reading] in the file)


@cache
def table() -> IntentTable:
    """The intent table, read and compiled on first use (about a tenth of a second), so `--help`,
    chat at its prompt and a model's turn until its answer never pay for it."""
    data = tomllib.loads(TABLE.read_text(encoding="utf-8"))
    reading = {name: _compile(lines) for name, lines in data["reading"].items()}
    topics = tuple(Topic(
        name=row["name"], means=row["means"], pattern=_compile(row["patterns"]),
        negatable=row.get("negatable", True), request=row.get("request", False),
        needs_delivered=row.get("needs_delivered", False), whole=row.get("whole", False),
        examples=tuple(row.get("examples", ())), counter_examples=tuple(row.get("counter_examples", ())),
    ) for row in data["topic"])
    return IntentTable(topics, reading)


def _compile(alternatives: list[str]) -> re.Pattern[str]:
    # Joined as they stand: a group's number counts across the list, as written in the file.
    return re.compile("|".join(alternatives), re.IGNORECASE)


def topics() -> tuple[Topic, ...]:
    return table().topics


def reading(name: str) -> re.Pattern[str]:
    return table().reading[name]


def warm_up() -> None:
    """Read and compile the table now (in a thread while a model answers, say)."""
    table()


# A negation reaches this many words ahead: "I don't want to cancel" but not "if it's not here by
# Friday I want to cancel".
NEGATION_REACH = 5
_HEDGED = {"damage", "billing", "theft", "wrong item", "missing item"}


def speaks_of_the_journey(text: str) -> bool:
    return reading("journey").search(text) is not None


# The question words again, for misspellings one letter off ("wheres", "wat", "happenin").
_QUESTION_WORDS = ("where", "when", "what", "why", "status", "tracking", "update", "happening")


def asks_about_the_data(text: str) -> bool:
    """Whether the message asks something the order data can answer (or at least asks at all)."""
    if reading("data_question").search(text) is not None:
        return True
    return any(_one_letter_off(word, known) for word in re.findall(r"[a-z]{3,}", text.lower())
               for known in _QUESTION_WORDS)


def _one_letter_off(word: str, known: str) -> bool:
    """One letter added, dropped or changed (not a shorter word than three letters)."""
    if abs(len(word) - len(known)) > 1 or word == known:
        return False
    if len(word) == len(known):
        return sum(a != b for a, b in zip(word, known)) == 1
    short, long = sorted((word, known), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def clauses(text: str) -> list[str]:
    return [part.strip() for part in reading("clause_break").split(text) if part and part.strip()]


def raised_topics(text: str, *, delivered: bool = True) -> list[str]:
    """The topics `text` asks for or complains about, in the order of TOPICS. `delivered`: the
    data shows an order delivered (or no order was looked up), so "never arrived" is a complaint."""
    found: set[str] = set()
    readings = [(clause, False) for clause in clauses(text)] + [(" ".join(text.split()), True)]
    for clause, whole in readings:
        hedged = reading("hedge").search(clause) is not None
        past = reading("about_the_past").search(clause) is not None
        condition = reading("condition").search(clause) is not None
        not_made = reading("not_made").search(clause) is not None
        for topic in topics():
            if topic.name in found or (topic.needs_delivered and (condition or not delivered)) or (
                    topic.request and past):
                continue
            if whole and not topic.whole:
                continue
            if (hedged and topic.name in _HEDGED) or (not_made and topic.negatable and not whole):
                continue
            for match in topic.pattern.finditer(clause):
                if topic.negatable and _negated(clause[: match.start()]):
                    continue
                found.add(topic.name)
                break
    return [topic.name for topic in topics() if topic.name in found]


def names_a_topic(text: str) -> bool:
    """Whether any topic's words appear at all, asked for or not: where raised_topics finds none,
    a negation, a hedge or a request not made took them back ("I was going to ask for my money
    back but I'll wait")."""
    return any(topic.pattern.search(text) is not None for topic in topics())


def _negated(before: str) -> bool:
    """Whether a negation among the last NEGATION_REACH words before a topic takes it back."""
    words = before.split()[-NEGATION_REACH:]
    return reading("negation").search(" ".join(words)) is not None
