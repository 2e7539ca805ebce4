"""A conversation: the messages of every turn so far, in the chat-completion format."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from triage_cli.errors import UsageError
from triage_cli.order_ids import ORDER_ID_PATTERN, scanner
from triage_cli.transcript import interrupted_reply

if TYPE_CHECKING:
    from triage_cli.engine.events import TriageRecord

MAX_QUESTION_CHARS = 50_000


@dataclass
class Conversation:
    """A question is the customer's words as written; the order the agent named with it
    (`--order`, `/order`) travels beside them as the message's `order`, which the engines treat
    as the order the question is about, whatever else the text holds, and which `model_messages`
    turns into words for a model. `last_record` is the record of the latest answer that had one
    (kept by the session's turn, stored or not)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    last_record: TriageRecord | None = None

    def add_user(self, text: str, order: str | None = None) -> None:
        self.messages.append({"role": "user", "content": text, **({"order": order} if order else {})})

    @property
    def named_order(self) -> str | None:
        """The order the agent named with the last question, if any."""
        questions = self.questions()
        return questions[-1][1] if questions else None

    def questions(self) -> list[tuple[str, str | None]]:
        """Each question's words and the order named with it."""
        return [(m["content"], m.get("order")) for m in self.messages
                if m["role"] == "user" and isinstance(m.get("content"), str)]

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

    def without_earlier_lookups(self) -> list[dict[str, Any]]:
        """The messages with earlier turns' tool rounds left out (their questions and answers
        kept): what still fits a small context window once the lookups have been answered."""
        last_question = max((i for i, m in enumerate(self.messages) if m["role"] == "user"), default=0)
        return [m for i, m in enumerate(self.messages)
                if i >= last_question or (m["role"] in ("user", "assistant") and not m.get("tool_calls"))]


def find_order_ids(text: str, limit: int = 10, pattern: re.Pattern[str] = ORDER_ID_PATTERN) -> list[str]:
    """Order ids (by default a letter and 3-9 digits, like A1002; see the order_id_pattern
    setting) in the order they appear, upper-cased, without repeats. Ids are matched and
    compared ignoring case, as the order store looks them up."""
    found = [match.group(0).upper() for match in scanner(pattern).finditer(text) if match.group(0)]
    found += [spoken for spoken in _spoken_ids(text) if pattern.fullmatch(spoken)]
    return list(dict.fromkeys(found))[:limit]


_DIGIT_WORDS = {"zero": "0", "oh": "0", "nought": "0", "one": "1", "two": "2", "three": "3", "four": "4",
                "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_SPOKEN_ID = re.compile(r"\b([a-z])[\s-]+((?:%s)(?:[\s-]+(?:%s)){2,8})\b" % (("|".join(_DIGIT_WORDS),) * 2),
                        re.IGNORECASE)


def _spoken_ids(text: str) -> list[str]:
    """Ids said digit by digit, as a voice-to-text message writes them ("a one zero zero nine")."""
    return [letter.upper() + "".join(_DIGIT_WORDS[word.lower()] for word in re.split(r"[\s-]+", digits))
            for letter, digits in _SPOKEN_ID.findall(text)]


def parse_order_id(text: str, pattern: re.Pattern[str] = ORDER_ID_PATTERN) -> str | None:
    """The order id that `text` is, upper-cased (`a1002` -> `A1002`), or None when it is not
    exactly one order id. A `#` before it and a stop after it are allowed (`#A1002.`)."""
    text = text.strip().removeprefix("#").rstrip(".,;:!?")
    return text.upper() if text and pattern.fullmatch(text) else None


def id_shape(pattern: re.Pattern[str] = ORDER_ID_PATTERN) -> str:
    """How an order id looks, for messages: `like A1002`, or the configured pattern."""
    if pattern.pattern == ORDER_ID_PATTERN.pattern:
        return "like A1002"
    return f"matching order_id_pattern {pattern.pattern!r}"


def order_flag(text: str, flag: str = "--order", pattern: re.Pattern[str] = ORDER_ID_PATTERN) -> str:
    """The order id given with `flag`, upper-cased; a usage error when it is not one id."""
    order = parse_order_id(text, pattern)
    if order is None:
        shown = " ".join(text.split())[:40]
        raise UsageError(f"{flag} takes one order id {id_shape(pattern)}, got '{shown}'")
    return order


def question_text(question: str, order_id: str | None) -> str:
    """The customer's words as they are asked and stored (an order named with no words asks
    for its status). A message longer than any customer's (a whole log file pasted by mistake)
    is a usage error, not a request that would cost a fortune or overflow the model's context."""
    question = question.strip()
    if len(question) > MAX_QUESTION_CHARS:
        raise UsageError(f"the message is too long: {len(question):,} characters (at most {MAX_QUESTION_CHARS:,}); "
                         "paste only the customer's message")
    order_id = (order_id or "").strip().upper()
    return question or (f"What is the status of order {order_id}?" if order_id else "")


def model_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages as a model is sent them: a question's named order becomes words before it
    (always: other id-shaped words in the message, a product code or a room number, must not
    push it out), and no key a chat-completion API does not know is left."""
    return [_for_model(m) if "order" in m else m for m in messages]


def _for_model(message: dict[str, Any]) -> dict[str, Any]:
    sent = {k: v for k, v in message.items() if k != "order"}
    if message["order"]:
        sent["content"] = f"Order {message['order']}: {sent.get('content') or ''}"
    return sent
