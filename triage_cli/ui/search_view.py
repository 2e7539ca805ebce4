"""`triage history search` and chat's /search: the stored questions, replies and ticket notes that
say something, best match first, each with the words around the match (the matched ones marked).
Everything shown was said by a customer, a model or an agent, so all of it is sanitized."""

from __future__ import annotations

import re
import sys

from triage_cli.record_types import SearchHit
from triage_cli.sanitize import clean, json_text, one_line
from triage_cli.ui.render import when

_COLUMNS = ("conversation", "turn", "ticket", "said in", "at", "matched", "context")
HINT = "triage history show ID: the whole conversation · triage tickets show ID: the ticket"


def where_said(hit: SearchHit) -> str:
    """`#12 turn 2 question` or `ticket 7 note (conversation #12)`."""
    conversation = f"#{hit.conversation_id}" if hit.conversation_id is not None else ""
    kind = one_line(hit.kind)  # a team server's word: sanitized like the rest
    if hit.ticket_id is not None:
        about = f" (conversation {conversation})" if conversation else ""
        return f"ticket {hit.ticket_id} {kind}{about}"
    return f"{conversation} turn {hit.turn} {kind}"


def print_hits(hits: list[SearchHit], text: str, *, as_json: bool, hint: str = HINT) -> None:
    """Hits as JSON, tab-separated lines (the matched words in a column of their own) or, on a
    terminal, a line each with the matched words highlighted."""
    if as_json:
        sys.stdout.write(json_text([hit.to_dict() for hit in hits]) + "\n")
        return
    if not sys.stdout.isatty():
        rows = [list(_COLUMNS), *(_row(hit) for hit in hits)]
        sys.stdout.write("".join("\t".join(row) + "\n" for row in rows))
        return
    from rich.text import Text

    from triage_cli.ui.terminal import make_console

    console = make_console()
    if not hits:
        console.print(Text(f"Nothing stored says {one_line(text)[:80]!r}.", style="dim"))
        return
    for hit in hits:
        console.print(Text.assemble((where_said(hit), "bold"), ("  " + one_line(when(hit.at)), "dim")))
        line = Text("  ")
        for part, matched in hit.parts:
            line.append(_flat(part), style="bold yellow" if matched else "")
        console.print(line)
    console.print(Text(hint, style="dim"))


def _row(hit: SearchHit) -> list[str]:
    return [str(hit.conversation_id or ""), str(hit.turn or ""), str(hit.ticket_id or ""), one_line(hit.kind),
            one_line(hit.at), one_line(" ".join(hit.matched)), _flat(hit.context).strip()]


def _flat(text: str) -> str:
    """Sanitized, every run of whitespace one space, the spaces at its ends kept (a part sits
    between others)."""
    return re.sub(r"\s+", " ", clean(text))
