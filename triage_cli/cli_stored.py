"""`triage tickets` and `triage history`: the escalation queue and the stored conversations, on
this machine's store or, with --server, a team server's."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from triage_cli.cli_common import ServerOpt
from triage_cli.cli_common import agent as _agent
from triage_cli.cli_common import local_only as _local_only
from triage_cli.cli_common import note as _note
from triage_cli.cli_common import options_belong_after as _options_belong_after
from triage_cli.cli_common import records as _records
from triage_cli.cli_common import local_records as _local_records
from triage_cli.cli_common import user_errors as _user_errors
from triage_cli.cli_parts import Command as _Command
from triage_cli.cli_parts import Group as _Group
from triage_cli.cli_parts import conversation_ids as _conversation_ids
from triage_cli.cli_parts import ticket_ids as _ticket_ids
from triage_cli.errors import UsageError

tickets_app = typer.Typer(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"]},
)

StatusOpt = Annotated[str, typer.Option("--status", "-s", metavar="STATUS", help="Which tickets: open, closed or all.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
MAX_LIMIT = 100_000
LimitOpt = Annotated[int, typer.Option("--limit", "-n", metavar="N", min=1, max=MAX_LIMIT, help="Show at most this many, newest first.")]
TicketArg = Annotated[str, typer.Argument(help="The ticket id, e.g. 12.", metavar="ID", show_default=False,
                                          autocompletion=_ticket_ids)]


@tickets_app.callback(invoke_without_command=True)
def tickets(ctx: typer.Context, status: StatusOpt = "open", as_json: JsonOpt = False, limit: LimitOpt = 50,
            server: ServerOpt = None) -> None:
    """The escalation queue: every answer that escalates opens a ticket.

    With no command, lists tickets newest first (the open ones unless --status says otherwise).

    \b
    Examples:
      triage tickets
      triage tickets --status all --json
      triage tickets show 3
      triage tickets claim
      triage tickets close 3 --note "Refund approved"
    """
    if ctx.invoked_subcommand is None:
        tickets_list(status, as_json, limit, server)
    else:
        _options_belong_after(ctx)


AssigneeOpt = Annotated[Optional[str], typer.Option("--assignee", "-a", metavar="NAME", show_default=False,
                                                    help="Only the tickets this agent holds (or closed).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Even if another agent holds it.")]


@tickets_app.command("list", cls=_Command)
def tickets_list(status: StatusOpt = "open", as_json: JsonOpt = False, limit: LimitOpt = 50,
                 server: ServerOpt = None, assignee: AssigneeOpt = None) -> None:
    """List tickets, newest first."""
    with _user_errors():
        from triage_cli.record_types import TICKET_STATES

        if status.strip().lower() not in TICKET_STATES:
            raise UsageError(f"--status must be one of {', '.join(TICKET_STATES)}, got '{status.strip().lower()}'")
        from triage_cli.ui.tickets_view import list_tickets

        list_tickets(_records(server), status=status, as_json=as_json, limit=limit, assignee=assignee)


@tickets_app.command("export", cls=_Command)
def tickets_export(
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help="csv or json.")] = "csv",
    status: Annotated[str, typer.Option("--status", "-s", metavar="STATUS", help="Which tickets: open, closed or all.")]
    = "all",
    server: ServerOpt = None,
) -> None:
    """Write every ticket, with all its fields, as CSV (a header row) or JSON, newest first.

    \b
    Examples:
      triage tickets export > tickets.csv
      triage tickets export --format json --status closed
    """
    with _user_errors():
        from triage_cli.record_types import TICKET_STATES
        from triage_cli.ui.tickets_view import EXPORT_FORMATS, export_tickets

        if fmt.strip().lower() not in EXPORT_FORMATS:
            raise UsageError(f"--format must be csv or json, got '{fmt.strip()}'")
        if status.strip().lower() not in TICKET_STATES:
            raise UsageError(f"--status must be one of {', '.join(TICKET_STATES)}, got '{status.strip().lower()}'")
        export_tickets(_records(server), status=status, fmt=fmt.strip().lower(), limit=MAX_LIMIT)


@tickets_app.command("show", cls=_Command)
def tickets_show(ticket_id: TicketArg, as_json: JsonOpt = False, server: ServerOpt = None) -> None:
    """Show one ticket: the record, the customer's message and the reply."""
    with _user_errors():
        from triage_cli.ui.tickets_view import show_ticket

        show_ticket(_records(server), ticket_id, as_json=as_json)


@tickets_app.command("reopen", cls=_Command)
def tickets_reopen(ticket_id: TicketArg) -> None:
    """Open a closed ticket again, back in the queue (its closing note is kept)."""
    with _user_errors():
        _local_only("tickets reopen")
        from triage_cli.ui.tickets_view import reopen_ticket

        reopen_ticket(_local_records(), ticket_id, agent=_agent())


@tickets_app.command("close", cls=_Command)
def tickets_close(
    ticket_id: TicketArg,
    note: Annotated[Optional[str], typer.Option("--note", metavar="TEXT", help="What was done, kept with the ticket.",
                                                show_default=False)] = None,
    server: ServerOpt = None,
    force: ForceOpt = False,
) -> None:
    """Close a ticket you hold or nobody holds (--force: another's), with an optional note."""
    with _user_errors():
        note = _note(note)
        from triage_cli.ui.tickets_view import close_ticket

        close_ticket(_records(server), ticket_id, note=note, agent=_agent(), force=force)


@tickets_app.command("claim", cls=_Command)
def tickets_claim(
    ticket_id: Annotated[Optional[str], typer.Argument(help="The ticket id; none: the oldest open one nobody holds.",
                                                       metavar="[ID]", show_default=False,
                                                       autocompletion=_ticket_ids)] = None,
    server: ServerOpt = None,
) -> None:
    """Take a ticket to work on, as agent_name: no one else can claim it until you release it."""
    with _user_errors():
        from triage_cli.ui.tickets_view import claim_ticket

        claim_ticket(_records(server), ticket_id, agent=_agent())


@tickets_app.command("release", cls=_Command)
def tickets_release(ticket_id: TicketArg, force: ForceOpt = False, server: ServerOpt = None) -> None:
    """Put a ticket you hold back in the queue."""
    with _user_errors():
        from triage_cli.ui.tickets_view import release_ticket

        release_ticket(_records(server), ticket_id, agent=_agent(), force=force)


history_app = typer.Typer(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"]},
)

HistoryLimitOpt = Annotated[
    int, typer.Option("--limit", "-n", metavar="N", min=1, max=MAX_LIMIT, help="Show at most this many, most recent first.")
]
HistoryOrderOpt = Annotated[
    Optional[str], typer.Option("--order", "-o", metavar="ID", help="Only conversations about this order id.", show_default=False)
]
ConversationArg = Annotated[
    Optional[str],
    typer.Argument(help="The conversation id, e.g. 12; the latest when omitted.", metavar="ID", show_default=False,
                   autocompletion=_conversation_ids),
]


@history_app.callback(invoke_without_command=True)
def history(ctx: typer.Context, as_json: JsonOpt = False, limit: HistoryLimitOpt = 20,
            order: HistoryOrderOpt = None, server: ServerOpt = None) -> None:
    """Stored conversations: every question from chat and ask, with its lookups, answer and record.

    With no command, lists conversations, the most recently active first.

    \b
    Examples:
      triage history
      triage history --order A1002 --json
      triage history show 12
      triage history search refund A1002
      triage history export 12 --format md > conversation-12.md
      triage history prune --older-than 30d
      triage chat --resume 12
      triage chat --server http://triage.internal:8787
    """
    if ctx.invoked_subcommand is None:
        history_list(as_json, limit, order, server)
    else:
        _options_belong_after(ctx)


@history_app.command("list", cls=_Command)
def history_list(as_json: JsonOpt = False, limit: HistoryLimitOpt = 20, order: HistoryOrderOpt = None,
                 server: ServerOpt = None) -> None:
    """List conversations, the most recently active first."""
    with _user_errors():
        from triage_cli.ui.history_view import list_conversations

        list_conversations(_records(server), limit=limit, order=order, as_json=as_json)


@history_app.command("search", cls=_Command)
def history_search(
    words: Annotated[list[str], typer.Argument(help="The words to find (every one of them), e.g. refund A1002.",
                                               metavar="TEXT", show_default=False)],
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option("--limit", "-n", metavar="N", min=1, max=1000,
                                       help="Show at most this many, best match first.")] = 20,
    server: ServerOpt = None,
) -> None:
    """Find what was said: questions, replies and ticket notes that have every word, best match first.

    Words match their other forms (refund finds refunded); each hit shows the words around the match.

    \b
    Examples:
      triage history search refund A1002
      triage history search "left with a neighbour" --json
      triage history search chargeback --server http://triage.internal:8787
    """
    with _user_errors():
        from triage_cli.ui.search_view import print_hits

        text = " ".join(words)
        print_hits(_records(server).search(text, limit), text, as_json=as_json)


@history_app.command("show", cls=_Command)
def history_show(conversation_id: ConversationArg = None, server: ServerOpt = None) -> None:
    """Show a conversation's transcript: questions, lookups, answers and records."""
    with _user_errors():
        from triage_cli.ui.history_view import show_conversation

        show_conversation(_records(server), conversation_id)


@history_app.command("export", cls=_Command)
def history_export(
    conversation_id: ConversationArg = None,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help="md (a readable transcript) or json (everything).")] = "md",
) -> None:
    """Print a conversation as Markdown or JSON, e.g. to attach to a ticket elsewhere."""
    with _user_errors():
        _local_only("history export")
        from triage_cli.ui.history_view import export_conversation

        export_conversation(_local_records(), conversation_id, fmt=fmt)


@history_app.command("prune", cls=_Command)
def history_prune(
    older_than: Annotated[
        str, typer.Option("--older-than", metavar="AGE", help="Delete conversations with no activity for this long: 30d, 12h, 2w.",
                          show_default=False)
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking (needed when not on a terminal).")]
    = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say how many would be deleted.")] = False,
) -> None:
    """Delete old conversations (their tickets stay), after saying how many.

    On a terminal it asks first; in a script pass --yes (without it, nothing is deleted: exit 2).
    """
    with _user_errors():
        _local_only("history prune")
        from triage_cli.ui.history_view import prune_conversations

        code = prune_conversations(_local_records(), older_than, yes=yes, dry_run=dry_run)
    raise typer.Exit(code)


@history_app.command("delete", cls=_Command)
def history_delete(
    conversation_id: Annotated[str, typer.Argument(help="The conversation id, e.g. 12.", metavar="ID",
                                                   show_default=False, autocompletion=_conversation_ids)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
) -> None:
    """Delete one conversation with its turns (its tickets stay).

    On a terminal it asks first (unless --yes); in a script the id is enough.
    """
    with _user_errors():
        _local_only("history delete")
        from triage_cli.ui.history_view import delete_conversation

        code = delete_conversation(_local_records(), conversation_id, yes=yes)
    raise typer.Exit(code)
