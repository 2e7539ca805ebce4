"""The plain records the stores keep and every front end shows: a stored conversation and its
turns, a ticket and what happened to it, an agent, and the ids people type for them. Plain data
(no database), so the terminal views, the server and a team server's client read the same types
that store/ writes, without importing the stores."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from triage_cli.errors import InvalidValue
from triage_cli.transcript import interrupted_reply

LATEST = ("last", "latest")  # what names the latest conversation
TICKET_STATES = ("open", "closed", "all")


@dataclass(frozen=True)
class StoredTurn:
    number: int
    started_at: str
    finished_at: str | None
    state: str  # complete, interrupted, or running (its process is still answering)
    provider: str
    model: str
    question: str
    partial: str
    tool_calls: tuple[dict[str, Any], ...]
    record: dict[str, Any] | None
    usage: dict[str, Any] | None
    error: str | None
    messages: tuple[dict[str, Any], ...]
    order: str | None = None  # the order the agent named with the question (--order, /order)

    @property
    def reply(self) -> str:
        """The answer as it was shown; an unfinished one ends with the interrupted mark."""
        last = self.messages[-1] if self.messages else None
        content = last.get("content") if last else None
        if last and last["role"] == "assistant" and not last.get("tool_calls") and isinstance(content, str):
            return content
        return interrupted_reply(self.partial)

    def history(self) -> list[dict[str, Any]]:
        """The turn's messages as a model should see them again: every tool call with its result,
        and an answer, marked interrupted if the turn never finished."""
        messages = paired(list(self.messages) or [{"role": "user", "content": self.question}])
        if messages[-1]["role"] != "assistant" or messages[-1].get("tool_calls"):
            messages.append({"role": "assistant", "content": self.reply})
        return messages

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number, "started_at": self.started_at, "finished_at": self.finished_at,
            "state": self.state, "provider": self.provider, "model": self.model, "question": self.question,
            "order": self.order, "reply": self.reply, "tool_calls": list(self.tool_calls), "triage": self.record, "usage": self.usage,
            "error": self.error, "messages": list(self.messages),
        }


@dataclass(frozen=True)
class StoredConversation:
    id: int
    created_at: str
    updated_at: str
    source: str
    provider: str
    model: str
    title: str
    order_ids: tuple[str, ...]
    turns: tuple[StoredTurn, ...]

    @property
    def next_step(self) -> str | None:
        """The next step of the latest answer that has a record."""
        for turn in reversed(self.turns):
            if turn.record:
                return turn.record.get("next_step")
        return None

    def history(self) -> list[dict[str, Any]]:
        return [message for turn in self.turns for message in turn.history()]

    def to_dict(self, *, messages: bool = True) -> dict[str, Any]:
        turns = [turn.to_dict() for turn in self.turns]
        if not messages:
            turns = [{k: t[k] for k in ("number", "started_at", "state", "question", "order", "triage")} for t in turns]
        return {
            "id": self.id, "created_at": self.created_at, "updated_at": self.updated_at, "source": self.source,
            "provider": self.provider, "model": self.model,
            "first_question": self.turns[0].question if self.turns else self.title,
            "order_ids": list(self.order_ids), "next_step": self.next_step, "turns": turns,
        }


def paired(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop any tool call that lacks its result (and any result without its call): a model
    rejects a history holding either."""
    answered = {m.get("tool_call_id") for m in messages if m["role"] == "tool"}
    kept: list[dict[str, Any]] = []
    asked: set[str] = set()
    for message in messages:
        calls = message.get("tool_calls")
        if calls:
            if not all(c.get("id") in answered for c in calls):
                continue
            asked.update(c["id"] for c in calls)
        if message["role"] == "tool" and message.get("tool_call_id") not in asked:
            continue
        kept.append(message)
    return kept


@dataclass(frozen=True)
class Ticket:
    id: int
    created_at: str
    order_id: str | None
    issue: str
    order_status: str
    summary: str
    question: str
    reply: str
    status: str  # open or closed
    closed_at: str | None
    note: str | None
    conversation_id: int | None = None  # the conversation that escalated, when there was one
    updated_at: str | None = None  # when a later escalation last updated it
    assignee: str | None = None  # the agent holding it (claimed), None while nobody does
    claimed_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TicketEvent:
    """One thing that happened to a ticket: `action` is opened, updated, claimed, released, closed
    or reopened; `agent` who did it (None: triage, filing an escalation); `forced` when a lead
    released or closed a ticket another agent held."""

    at: str
    action: str
    agent: str | None
    forced: bool = False
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SEARCHED = ("question", "reply", "note")  # what a search finds


@dataclass(frozen=True)
class SearchHit:
    """One stored text that matched a search: a question, a reply or a ticket note, with the
    words around the match; `parts` alternate plain and matched text (matched: True)."""

    kind: str  # question, reply or note
    at: str
    parts: tuple[tuple[str, bool], ...]
    conversation_id: int | None = None
    turn: int | None = None
    ticket_id: int | None = None

    @property
    def context(self) -> str:
        return "".join(text for text, _ in self.parts)

    @property
    def matched(self) -> list[str]:
        """The matched words, each once, as written."""
        return list(dict.fromkeys(text for text, hit in self.parts if hit))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": self.at, "conversation_id": self.conversation_id, "turn": self.turn,
                "ticket_id": self.ticket_id, "context": self.context, "matched": self.matched,
                "parts": [[text, hit] for text, hit in self.parts]}


def issue_topics(issue: Any) -> list[str]:
    """The topics a record's issue names ("refund and damage" -> both); "-" when it names none;
    one "asks: …" for a request the rules could not name (its quote is the customer's own words)."""
    text = str(issue or "")
    if text.startswith("asks: "):
        return ["asks: (a request the rules could not name)"]
    return [part for part in re.split(r",\s*|\s+and\s+", text) if part.strip()] or ["-"]


def parse_ticket_id(text: str) -> int:
    """`12` or `#12` -> 12; anything else is a usage error."""
    ticket_id = parse_row_id(text)
    if ticket_id is None:
        raise InvalidValue(f"a ticket id is a number like 12, got '{text[:40]}'")
    return ticket_id


@dataclass(frozen=True)
class Agent:
    name: str
    lead: bool
    created_at: str
    rotated_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_row_id(text: str) -> int | None:
    """`12` or `#12` -> 12 (ASCII digits only); None for anything else."""
    match = re.fullmatch(r"#?([0-9]{1,18})", text.strip())
    return int(match[1]) if match and int(match[1]) > 0 else None
