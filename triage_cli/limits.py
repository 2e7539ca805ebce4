"""How much one request may carry, the same through every door: the HTTP API (server/), the MCP
server (`triage mcp`) and the command line. A plain module, so every front end can use it."""

from __future__ import annotations

MAX_BODY_BYTES = 64 * 1024  # an HTTP request's body
MAX_MESSAGE_CHARS = 50_000  # a customer's message; a ticket's note
MAX_SUMMARY_CHARS = 2_000  # a ticket's summary: one or two sentences
MAX_ISSUE_CHARS = 100  # a ticket's issue: a short label
MAX_ORDER_ID_CHARS = 100  # an order id as given, before it is checked against order_id_pattern
MAX_ORDER_STATUS_CHARS = 100  # an order's status as a ticket keeps it
MAX_AGENT_CHARS = 100  # an agent's name in the queue
MAX_TICKET_ID = 2**63 - 1  # the largest id a database keeps (a signed 64-bit integer)


def check_length(name: str, value: str, limit: int) -> str:
    """`value`, or a ValueError saying that `name` is longer than `limit` characters."""
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit:,} characters ({len(value):,})")
    return value


def check_ticket_id(ticket_id: int) -> int:
    """`ticket_id`, or a ValueError when no ticket can have it (zero, negative, too large)."""
    if not 1 <= ticket_id <= MAX_TICKET_ID:
        raise ValueError(f"ticket_id must be a ticket's number, from 1 to {MAX_TICKET_ID}")
    return ticket_id
