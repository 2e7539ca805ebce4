"""`triage mcp`: triage's own tools for other agents (desktop assistants, IDEs) over MCP, on stdio
or streamable HTTP on 127.0.0.1. The order lookup and the ticket queue: get_order_status,
list_tickets and get_ticket only read; open_ticket files a ticket (not read-only, so a careful
client asks its user first). A front end: it reads the stores, never the engine."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from triage_cli.config import Settings
from triage_cli.errors import TriageError, UsageError
from triage_cli.limits import (
    MAX_ISSUE_CHARS, MAX_MESSAGE_CHARS, MAX_ORDER_ID_CHARS, MAX_ORDER_STATUS_CHARS, MAX_SUMMARY_CHARS, check_length, check_ticket_id,
)
from triage_cli.nested import map_strings
from triage_cli.redaction import Redactor
from triage_cli.sanitize import clean, escaped
from triage_cli.session.build import open_order_store  # the order source the settings name
from triage_cli.store.database import open_database
from triage_cli.store.tickets import TicketStore
from triage_cli.tools.orders import ORDER_TOOL, OrderTools


@dataclass(frozen=True)
class _Escalation:
    order_id: str | None
    issue: str
    status: str
    summary: str


def _escalation(redact: Redactor, order_id: str | None, issue: str, status: str, summary: str) -> _Escalation:
    """A ticket's fields as the HTTP API would take them: within its limits, with no secret in them."""
    if not summary.strip():
        raise ValueError("summary must say what happened and what is needed")
    fields = [check_length(name, value, limit) for name, value, limit in (
        ("issue", issue, MAX_ISSUE_CHARS), ("order_status", status, MAX_ORDER_STATUS_CHARS),
        ("summary", summary.strip(), MAX_SUMMARY_CHARS))]
    issue, status, summary = (redact.text(value) for value in fields)
    return _Escalation(order_id, issue, status, summary)


def _plain_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """A store's own error (no such ticket, a bad status) reaches the client as its message; what a
    tool returns has its control, bidi and escape characters taken out, as a terminal would get it."""
    from mcp.server.mcpserver.exceptions import ToolError

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return map_strings(function(*args, **kwargs), clean)
        except (TriageError, ValueError) as exc:  # ValueError: a tool's own check ("not an order id")
            raise ToolError(clean(str(exc))) from None

    return run


class _EscapedLog(logging.Filter):
    """Request text in a log line (the web server's "Invalid Host header: …") as escapes."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = escaped(record.getMessage()), None
        return True


def _escape_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(_EscapedLog())


def build_server(settings: Settings) -> Any:
    from mcp.server.mcpserver import MCPServer
    from mcp_types import ToolAnnotations

    server = MCPServer("triage", instructions="Look up orders and work the support ticket queue.",
                       log_level="WARNING")
    reads = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    tickets = TicketStore(open_database(settings.home, settings.database_url))  # the team's queue, if shared
    redact = Redactor([settings.api_key, *settings.secrets])  # and agent tokens, by their shape
    server.add_tool(_plain_errors(OrderTools(open_order_store(settings), settings.order_id_pattern).get_order_status),
                    name=ORDER_TOOL,
                    annotations=reads)

    def list_tickets(status: str = "open", limit: int = 20) -> list[dict[str, Any]]:
        """The support tickets, newest first.

        Args:
            status: open, closed or all.
            limit: At most this many (1-200).
        """
        return [t.to_dict() for t in tickets.list(status, limit=max(1, min(limit, 200)))]

    def get_ticket(ticket_id: int) -> dict[str, Any]:
        """One ticket: its order, issue, summary, the customer's messages, the reply and its state.

        Args:
            ticket_id: The ticket's number.
        """
        return tickets.get(check_ticket_id(ticket_id)).to_dict()

    def open_ticket(summary: str, order_id: str | None = None, issue: str = "other", customer_message: str = "",
                    order_status: str = "") -> dict[str, Any]:
        """Open a support ticket for a person to handle (an escalation).

        Args:
            summary: One or two sentences: what happened and what is needed.
            order_id: The order it is about, if any, e.g. A1002.
            issue: A short label: late, damaged, refund, address, other.
            customer_message: What the customer wrote.
            order_status: The order's status when the ticket is opened.
        """
        order_id = check_length("order_id", order_id, MAX_ORDER_ID_CHARS) if order_id else None
        if order_id and not settings.order_id_pattern.fullmatch(order_id.strip()):
            raise ValueError(f"{order_id.strip()[:20]!r} is not an order id")
        record = _escalation(redact, order_id.strip().upper() if order_id else None, issue, order_status, summary)
        question = redact.text(check_length("customer_message", customer_message, MAX_MESSAGE_CHARS))
        return tickets.open_ticket(record, question=question, reply="").to_dict()

    server.add_tool(_plain_errors(list_tickets), annotations=reads)
    server.add_tool(_plain_errors(get_ticket), annotations=reads)
    server.add_tool(_plain_errors(open_ticket), annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False,
                                                             idempotent_hint=False, open_world_hint=False))
    return server


def serve(settings: Settings, *, http_port: int | None = None) -> None:
    if http_port is not None:
        _check_port(http_port)
    server = build_server(settings)
    _escape_logs()
    if http_port is None:
        server.run()
    else:
        server.run("streamable-http", host="127.0.0.1", port=http_port)


def _check_port(port: int) -> None:
    """A port in use is one line of ours, not the web server's log line and exit status 3."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
