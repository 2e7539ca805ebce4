"""`triage tickets`: the escalation queue as a rich table on a terminal, tab-separated text in
a pipe, or JSON. Ticket text came from a model or a customer, so all of it is sanitized."""

from __future__ import annotations

import sys

from rich.text import Text

from triage_cli.record_types import Ticket, TicketEvent, parse_ticket_id
from triage_cli.sanitize import clean, json_text, one_line
from triage_cli.session.records import LocalRecords, Records
from triage_cli.ui.render import when
from triage_cli.ui.table_layout import Column, fit_table, hidden_note
from triage_cli.ui.terminal import make_console

_COLUMNS = ("id", "created", "status", "order", "issue", "summary")
# Piped, every column always, the holder last (a script's columns keep their places).
_PIPED_COLUMNS = (*_COLUMNS, "holder")


def list_tickets(records: Records, *, status: str, as_json: bool, limit: int, assignee: str | None = None) -> None:
    print_tickets(records.tickets(status.strip().lower(), limit, assignee=assignee), status=status, as_json=as_json)


def print_tickets(tickets: list[Ticket], *, status: str, as_json: bool) -> None:
    """Tickets (from this machine's store or a server's) as JSON, tab-separated lines or a table."""
    if as_json:
        _print_json([t.to_dict() for t in tickets])
    elif not sys.stdout.isatty():
        rows = ["\t".join(_PIPED_COLUMNS)] + ["\t".join(one_line(v) for v in [*_row(t), t.assignee or ""])
                                              for t in tickets]
        sys.stdout.write("\n".join(rows) + "\n")
    elif not tickets:
        make_console().print(Text(f"No {'' if status == 'all' else status + ' '}tickets.", style="dim"))
    else:
        _print_table(status, tickets)


# Kept longest first: id, status, order, summary; a narrow window drops created, then issue, then
# who holds the ticket (a column shown only when someone holds one of those listed).
_PRIORITY = {"id": 0, "status": 1, "order": 2, "summary": 3, "holder": 4, "issue": 5, "created": 6}


def _print_table(status: str, tickets: list[Ticket]) -> None:
    console = make_console()
    held = any(ticket.assignee for ticket in tickets)
    names = (*_COLUMNS[:4], "holder", *_COLUMNS[4:]) if held else _COLUMNS
    columns = [Column(c.capitalize(), _PRIORITY[c], wraps=c in ("issue", "summary")) for c in names]
    rows = []
    for ticket in tickets:
        cells = _row(ticket)
        if held:
            cells.insert(4, ticket.assignee or "")
        values = [Text(one_line(v)) for v in cells]
        values[2].stylize("red" if ticket.status == "open" else "green")
        rows.append(values)
    title = f"{status.capitalize()} tickets" if status != "all" else "Tickets"
    table, dropped = fit_table(title, columns, rows, console.width)
    console.print(table)
    note = hidden_note(dropped)
    if note is not None:
        console.print(note)


EXPORT_FORMATS = ("csv", "json")


def export_tickets(records: Records, *, status: str, fmt: str, limit: int) -> None:
    """Every ticket with `status`, newest first, with all its fields: CSV (a header row; text
    sanitized, and a cell a spreadsheet would run as a formula prefixed with ') or JSON."""
    tickets = [ticket.to_dict() for ticket in records.tickets(status.strip().lower(), limit)]
    if fmt == "json":
        _print_json(tickets)
        return
    import csv
    from dataclasses import fields

    writer = csv.writer(sys.stdout, lineterminator="\n")
    names = [field.name for field in fields(Ticket)]
    writer.writerow(names)
    writer.writerows([_cell(ticket[name]) for name in names] for ticket in tickets)


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = clean(str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def show_ticket(records: Records, ticket_id: str, *, as_json: bool) -> None:
    print_ticket(*records.ticket(parse_ticket_id(ticket_id)), as_json=as_json)


def print_ticket(ticket: Ticket, events: list[TicketEvent], *, as_json: bool) -> None:
    """The ticket's record, who did what to it and when, the customer's messages and the reply."""
    if as_json:
        _print_json({**ticket.to_dict(), "events": [event.to_dict() for event in events]})
        return
    fields = [
        ("Ticket", f"#{ticket.id} ({ticket.status})"),
        ("Created", when(ticket.created_at)),
        ("Order", ticket.order_id or "none"),
        ("Issue", ticket.issue),
        ("Status", ticket.order_status),
        ("Summary", ticket.summary),
    ]
    fields.append(_holder(ticket))
    if ticket.closed_at:
        fields.append(("Closed", when(ticket.closed_at)))
    if ticket.closed_at or ticket.note:  # a reopened ticket keeps its closing note
        fields.append(("Note", ticket.note or ""))
    if not sys.stdout.isatty():
        lines = [f"{label}: {one_line(value)}" for label, value in fields]
        history = "".join(f"{line}\n" for line in event_lines(events))
        sys.stdout.write("\n".join(lines) + f"\n\nHistory:\n{history}\nCustomer:\n{clean(ticket.question)}\n\n"
                         f"Reply:\n{clean(ticket.reply)}\n")
        return
    from rich.markdown import Markdown
    from rich.panel import Panel

    console = make_console()
    body = Text()
    for label, value in fields:
        body.append(f"{label:<9}", style="dim")
        body.append(one_line(value) + "\n", style="bold red" if value == f"#{ticket.id} (open)" else "")
    body.rstrip()
    console.print(Panel(body, title=f"ticket #{ticket.id}", title_align="left", expand=False))
    console.print(Text("History", style="dim"))
    console.print(Text("\n".join(event_lines(events)) + "\n"))
    console.print(Text("Customer", style="dim"))
    console.print(Text(clean(ticket.question)))
    console.print(Text("\nReply", style="dim"))
    console.print(Markdown(clean(ticket.reply), hyperlinks=False))


def _holder(ticket: Ticket) -> tuple[str, str]:
    """Who holds the ticket (or closed it), since when; an open one nobody holds says so."""
    if not ticket.assignee:
        return ("Held by", "nobody: free to claim" if ticket.status == "open" else "nobody")
    since = f" (since {when(ticket.claimed_at)})" if ticket.claimed_at else ""
    return ("Held by" if ticket.status == "open" else "Closed by", ticket.assignee + since)


def event_lines(events: list[TicketEvent]) -> list[str]:
    """`2026-12-05 09:12  claimed by ana`, one line an event, oldest first."""
    return [f"{when(e.at)}  {e.action} by {one_line(e.agent or 'triage')}{' (forced)' if e.forced else ''}"
            f"{': ' + one_line(e.note) if e.note else ''}" for e in events]


def close_ticket(records: Records, ticket_id: str, *, note: str | None, agent: str | None = None,
                 force: bool = False) -> None:
    say_closed(records.close(parse_ticket_id(ticket_id), note, agent=agent, force=force))


def say_closed(ticket: Ticket) -> None:
    print(f"Closed ticket #{ticket.id}{_order(ticket)}.")


def claim_ticket(records: Records, ticket_id: str | None, *, agent: str) -> None:
    """The given ticket, or the oldest open one nobody holds, is now `agent`'s (on a server: the
    agent its token names)."""
    say_claimed(records.claim(agent, None if ticket_id is None else parse_ticket_id(ticket_id)), agent)


def say_claimed(ticket: Ticket, agent: str) -> None:
    """`agent` asked; the ticket says who holds it (a server decides that by the token sent)."""
    holder = ticket.assignee or agent
    print(f"Claimed ticket #{ticket.id}{_order(ticket)} for {one_line(holder)}: {one_line(ticket.summary)}")


def release_ticket(records: Records, ticket_id: str, *, agent: str, force: bool = False) -> None:
    say_released(records.release(parse_ticket_id(ticket_id), agent, force=force))


def say_released(ticket: Ticket) -> None:
    print(f"Released ticket #{ticket.id}{_order(ticket)}: back in the queue.")


def _order(ticket: Ticket) -> str:
    return f" ({one_line(ticket.order_id)})" if ticket.order_id else ""


def _row(ticket: Ticket) -> list[str]:
    return [str(ticket.id), when(ticket.created_at), ticket.status, ticket.order_id or "",
            ticket.issue, ticket.summary]


def _print_json(value: object) -> None:
    sys.stdout.write(json_text(value) + "\n")


def reopen_ticket(records: LocalRecords, ticket_id: str, *, agent: str | None = None) -> None:
    ticket = records.reopen(parse_ticket_id(ticket_id), agent)
    print(f"Reopened ticket #{ticket.id}{_order(ticket)}.")
