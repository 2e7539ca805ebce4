"""A conversation: the messages of every turn so far, in the chat-completion format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Conversation:
    messages: list[dict[str, Any]] = field(default_factory=list)

    def add_user(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})

    def add_assistant(self, text: str) -> None:
        self.messages.append({"role": "assistant", "content": text})

    def extend(self, messages: list[dict[str, Any]]) -> None:
        """Add a whole tool round at once, so a call is never stored without its result."""
        self.messages.extend(messages)

    def texts(self, role: str) -> list[str]:
        return [m["content"] for m in self.messages if m["role"] == role and isinstance(m.get("content"), str)]


def compose_question(question: str, order_id: str | None) -> str:
    """The user's message as the engine receives it, with the order in context if one was given."""
    question = question.strip()
    if not order_id:
        return question
    if not question:
        return f"What is the status of order {order_id}?"
    return f"Order {order_id}: {question}"
