"""A conversation: the messages of every turn so far, in the chat-completion format."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from triage_cli.errors import UsageError

INTERRUPTED_MARK = "[interrupted]"
MAX_QUESTION_CHARS = 50_000
ORDER_ID = re.compile(r"(?<![A-Za-z0-9])([A-Za-z][0-9]{3,9})(?![A-Za-z0-9])")


@dataclass
class Conversation:
    messages: list[dict[str, Any]] = field(default_factory=list)

    def add_user(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})

    def add_assistant(self, text: str) -> None:
        self.messages.append({"role": "assistant", "content": text})

    def add_interrupted(self, partial: str) -> None:
        """The answer to the last question was cut short: keep what was said, marked so."""
        self.add_assistant(interrupted_reply(partial))

    def extend(self, messages: list[dict[str, Any]]) -> None:
        """Add a whole tool round at once, so a call is never stored without its result."""
        self.messages.extend(messages)

    def texts(self, role: str) -> list[str]:
        return [m["content"] for m in self.messages if m["role"] == role and isinstance(m.get("content"), str)]


def interrupted_reply(partial: str) -> str:
    partial = partial.rstrip()
    return f"{partial}\n\n{INTERRUPTED_MARK}" if partial else INTERRUPTED_MARK


def find_order_ids(text: str, limit: int = 10) -> list[str]:
    """Order ids (a letter and 3-9 digits, like A1002) in the order they appear, upper-cased,
    without repeats."""
    return list(dict.fromkeys(match.upper() for match in ORDER_ID.findall(text)))[:limit]


def parse_order_id(text: str) -> str | None:
    """The order id that `text` is, upper-cased (`a1002` -> `A1002`), or None when it is not
    exactly one order id."""
    found = find_order_ids(text)
    return found[0] if len(found) == 1 and len(text.split()) == 1 else None


def order_flag(text: str, flag: str = "--order") -> str:
    """The order id given with `flag`, upper-cased; a usage error when it is not one id."""
    order = parse_order_id(text)
    if order is None:
        shown = " ".join(text.split())[:40]
        raise UsageError(f"{flag} takes one order id like A1002, got '{shown}'")
    return order


def compose_question(question: str, order_id: str | None) -> str:
    """The user's message as the engine receives it, with the order in context when one was
    given and the message does not name an order itself. A message longer than any customer's
    (a whole log file pasted by mistake) is a usage error, not a request that would cost a
    fortune or overflow the model's context."""
    question = question.strip()
    if len(question) > MAX_QUESTION_CHARS:
        raise UsageError(f"the message is too long: {len(question):,} characters (at most {MAX_QUESTION_CHARS:,}); "
                         "paste only the customer's message")
    order_id = (order_id or "").strip().upper()
    if not order_id or find_order_ids(question):
        return question
    if not question:
        return f"What is the status of order {order_id}?"
    return f"Order {order_id}: {question}"
