"""`triage history`: stored conversations as a table, a transcript, a Markdown or JSON export.

Everything shown came from a customer, a model or the order data, so all of it is sanitized. A
transcript on a terminal replays each stored turn through the live view (tool lines, the reply
as Markdown, the record panel), so it looks as it did when it was answered; in a pipe it is the
Markdown export.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from triage_cli.ages import age_words, parse_age
from triage_cli.engine.events import Event, TriageRecord, Usage
from triage_cli.engine.turn_summary import TurnSummary
from triage_cli.errors import UsageError
from triage_cli.record_types import StoredConversation, StoredTurn
from triage_cli.sanitize import clean, json_text, one_line
from triage_cli.session.records import LocalRecords, Records
from triage_cli.ui.render import ShownAgain, format_arguments, record_lines, summarize_result, usage_line, when

if TYPE_CHECKING:
    from rich.console import Console

EXPORT_FORMATS = ("md", "json")
NO_RESULT = "no result: the turn was interrupted"
GONE = "no longer stored"  # a ticket's state when the ticket cannot be found


def clock() -> datetime:
    """Now, in UTC: what `prune --older-than` counts back from (a test moves it on)."""
    return datetime.now(timezone.utc)
_COLUMNS = ("id", "last active", "from", "turns", "orders", "next step", "first question")


# one-line summaries (also used by the REPL's /history and /resume) -----------------------------


def outcome(turn: StoredTurn) -> str:
    """`escalate`, `answer`, `interrupted` or `running`: how a turn ended."""
    if turn.state != "complete":
        return turn.state
    return str((turn.record or {}).get("next_step") or "answered")


def turn_line(turn: StoredTurn) -> str:
    return f"{turn.number:>2}. {_cut(one_line(turn.question), 80)}  → {outcome(turn)}"


def conversation_line(stored: StoredConversation) -> str:
    orders = f"  [{one_line(' '.join(stored.order_ids))}]" if stored.order_ids else ""
    last = outcome(stored.turns[-1]) if stored.turns else "empty"
    return f"{stored.id:>4}  {when(stored.updated_at)}  {_cut(one_line(stored.title), 60)}{orders}  → {last}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# the commands ------------------------------------------------------------------------------


def list_conversations(records: Records, *, limit: int, order: str | None, as_json: bool) -> None:
    print_conversations(records.conversations(limit, order.strip() if order else None), order=order, as_json=as_json)


def print_conversations(conversations: list[StoredConversation], *, order: str | None, as_json: bool) -> None:
    """Conversations (from this machine's store or a server's) as JSON, lines or a table."""
    if as_json:
        sys.stdout.write(json_text([c.to_dict(messages=False) for c in conversations]) + "\n")
        return
    rows = [_row(c) for c in conversations]
    if not sys.stdout.isatty():
        sys.stdout.write("\n".join("\t".join(r) for r in [list(_COLUMNS), *rows]) + "\n")
        return
    from rich.text import Text

    from triage_cli.ui.terminal import make_console

    console = make_console()
    if not rows:
        about = f" about {one_line(order)}" if order else ""
        console.print(Text(f"No stored conversations{about}.", style="dim"))
        return
    _print_table(console, rows)
    hints = ("triage history show ID: the transcript", "triage chat --resume ID: continue it")
    one_line_fits = len(" · ".join(hints)) <= console.width
    console.print(Text((" · " if one_line_fits else "\n").join(hints), style="dim"))


# Kept longest first; a narrow window drops from, turns, last active, then orders.
_PRIORITY = {"id": 0, "next step": 1, "first question": 2, "orders": 3, "last active": 4, "turns": 5, "from": 6}


def _print_table(console: Console, rows: list[list[str]]) -> None:
    from rich.text import Text

    from triage_cli.ui.table_layout import Column, fit_table, hidden_note

    columns = [Column(c.capitalize(), _PRIORITY[c], wraps=c in ("orders", "next step", "first question"))
               for c in _COLUMNS]
    colours = {"escalate": "bold red", "answer": "green", "interrupted": "yellow"}
    cells = [[Text(v, style=colours.get(v, "") if n == 5 else "") for n, v in enumerate(row)] for row in rows]
    table, dropped = fit_table("Conversations", columns, cells, console.width)
    console.print(table)
    note = hidden_note(dropped)
    if note is not None:
        console.print(note)


def show_conversation(records: Records, which: str | None) -> None:
    print_conversation(*records.conversation(which))


def print_conversation(stored: StoredConversation, tickets: dict[int, str] | None = None) -> None:
    """A transcript: replayed through the live view on a terminal, else the Markdown export."""
    if not sys.stdout.isatty():
        sys.stdout.write(markdown_transcript(stored, tickets))
        return
    from rich.panel import Panel
    from rich.rule import Rule
    from rich.text import Text

    from triage_cli.ui.terminal import make_console
    from triage_cli.ui.terminal_view import TerminalRenderer

    console = make_console()
    console.print(Panel(Text("\n".join(f"{k:<12}{v}" for k, v in _about(stored))), title=f"conversation {stored.id}",
                        title_align="left", expand=False))
    for turn in stored.turns:
        console.print(Rule(Text(f"{turn.number} · {when(turn.started_at)} · {one_line(turn.provider)} "
                                f"{one_line(turn.model)}".rstrip(), style="dim"), align="left", style="dim"))
        console.print(Text.assemble(("› ", "bold"), *_about_order(turn), clean(turn.question)))
        renderer = TerminalRenderer(console)
        for event in replay(turn, tickets):
            renderer.handle(event)
        renderer.finish()
        for number, line in enumerate(_footer(turn)):
            console.print(Text(line, style="yellow" if number == 0 and turn.state != "complete" else "dim"))


def export_conversation(records: Records, which: str | None, *, fmt: str) -> None:
    fmt = fmt.strip().lower()
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"--format must be md or json, got '{one_line(fmt)[:20]}'")
    stored, tickets = records.conversation(which)
    if fmt == "json":
        exported = stored.to_dict()
        for turn in exported["turns"]:
            ticket = (turn["triage"] or {}).get("ticket")
            if ticket is not None:
                turn["triage"]["ticket_state"] = tickets.get(ticket, GONE)
        sys.stdout.write(json_text(exported, indent=2) + "\n")
    else:
        sys.stdout.write(markdown_transcript(stored, tickets))


def delete_conversation(records: LocalRecords, which: str, *, yes: bool = False) -> int:
    """Delete one conversation; on a terminal, after asking (unless `yes`). Returns the exit code:
    1 when the user said no."""
    if not yes and sys.stdin.isatty():
        stored, _ = records.conversation(which)
        if not confirm(f"Delete conversation {stored.id} ({_cut(one_line(stored.title), 60)})? Its tickets stay."):
            print("Nothing deleted.")
            return 1
    gone = records.delete(which)
    tickets = " (its tickets stay)" if any((t.record or {}).get("ticket") for t in gone.turns) else ""
    print(f"Deleted conversation {gone.id}: {_cut(one_line(gone.title), 60)}{tickets}")
    return 0


def confirm(question: str) -> bool:
    """Ask `question` on the terminal; only y or yes is yes (end of input is no)."""
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def prune_conversations(records: LocalRecords, older_than: str, *, yes: bool = False, dry_run: bool = False) -> int:
    """Delete the conversations idle for `older_than`, after saying how many. On a terminal it
    asks first (unless `yes`); elsewhere it needs `yes`, so a script never deletes by accident.
    Returns the exit code: 1 when the user said no."""
    age = parse_age(older_than)
    before = clock() - age
    count = records.prunable(before)
    what = f"{count} conversation{'' if count == 1 else 's'} with no activity in the last {age_words(older_than)}"
    if dry_run:
        print(f"Would delete {what}.")
        return 0
    if count and not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"history prune would delete {what}; add --yes to confirm (or --dry-run to only count)")
        if not confirm(f"Delete {what}? Their tickets stay."):
            print("Nothing deleted.")
            return 1
    count = records.prune(before)
    print(f"Deleted {count} conversation{'' if count == 1 else 's'} with no activity in the last {age_words(older_than)}.")
    return 0


# the transcript ----------------------------------------------------------------------------


def _shown_again(record: TriageRecord | None, tickets: dict[int, str]) -> TriageRecord | None:
    if record is None or record.ticket is None:
        return record
    return ShownAgain(**asdict(record), ticket_state=tickets.get(record.ticket, GONE))


def replay(turn: StoredTurn, tickets: dict[int, str] | None = None) -> list[Event]:
    """The events a live view needs to draw a stored turn again; `tickets` holds the state now
    of the tickets it filed. A call stored without its result is shown failed, with no result."""
    calls = [call if "result" in call else {**call, "ok": False, "result": NO_RESULT} for call in turn.tool_calls]
    record = _shown_again(TriageRecord.from_stored(turn.record), tickets or {})
    return TurnSummary.restored(turn.reply, calls, record).events()


def _about_order(turn: StoredTurn) -> list[tuple[str, str]]:
    """The order the agent named with the question, shown before its words."""
    return [(f"(order {clean(turn.order)}) ", "dim")] if turn.order else []


def markdown_transcript(stored: StoredConversation, tickets: dict[int, str] | None = None) -> str:
    parts = [f"# Conversation {stored.id}\n", "\n".join(f"- {k}: {v}" for k, v in _about(stored)) + "\n"]
    for turn in stored.turns:
        parts.append(f"## {turn.number}. {when(turn.started_at)}\n")
        parts.append(f"**Customer** {''.join(text for text, _ in _about_order(turn))}".rstrip() + "\n\n" + "\n".join(f"> {line}" for line in clean(turn.question).splitlines() or [""]) + "\n")
        if turn.tool_calls:
            lookups = [f"- `{clean(c.get('name', ''))}({format_arguments(c.get('arguments', ''))})` → "
                       f"{summarize_result(c.get('result', NO_RESULT))}" for c in turn.tool_calls]
            parts.append("**Lookups**\n\n" + "\n".join(lookups) + "\n")
        parts.append("**Reply**\n\n" + clean(turn.reply).strip() + "\n")
        record = _shown_again(TriageRecord.from_stored(turn.record), tickets or {})
        if record is not None:
            parts.append("**Triage record**\n\n" + "\n".join(f"- {k}: {v}" for k, v in record_lines(record)) + "\n")
        parts.append("\n".join(f"_{line}_" for line in _footer(turn)) + "\n")
    return "\n".join(parts)


def _about(stored: StoredConversation) -> list[tuple[str, str]]:
    return [
        ("Started", when(stored.created_at)),
        ("Last active", when(stored.updated_at)),
        ("From", f"triage {one_line(stored.source)} · {one_line(stored.provider)} {one_line(stored.model)}".rstrip()),
        ("Orders", one_line(", ".join(stored.order_ids)) or "none"),
        ("Questions", str(len(stored.turns))),
    ]


def _footer(turn: StoredTurn) -> list[str]:
    lines = []
    if turn.state != "complete":
        lines.append(f"{turn.state}" + (f": {one_line(turn.error)}" if turn.error else ""))
    if turn.usage:
        lines.append(usage_line(Usage.from_fields(turn.usage)))
    return lines




def _row(stored: StoredConversation) -> list[str]:
    last = stored.turns[-1] if stored.turns else None
    return [str(stored.id), when(stored.updated_at), one_line(stored.source), str(len(stored.turns)),
            one_line(" ".join(stored.order_ids)), outcome(last) if last else "", _cut(one_line(stored.title), 120)]
