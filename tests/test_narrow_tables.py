"""`triage tickets`, `/tickets` and `triage history` in narrow windows: whole columns are left out
by priority, the others wrap at word boundaries, nothing is wider than the window."""

from __future__ import annotations

import io
import re
import sys

import pytest
from rich.console import Console

from pty_capture import run_in_pty, terminal_lines

QUESTIONS = ("A9999 never arrived, I ordered a charger for my phone two weeks ago",
             "A9998 is missing and I want a refund please")
TICKET_HEADERS = {40: ["Id", "Status", "Order", "Summary"], 60: ["Id", "Status", "Order", "Issue", "Summary"],
                  100: ["Id", "Created", "Status", "Order", "Issue", "Summary"]}
HISTORY_HEADERS = {40: ["Id", "Orders", "Next step", "First question"],
                   60: ["Id", "Last active", "Orders", "Next step", "First question"],
                   100: ["Id", "Last active", "From", "Turns", "Orders", "Next step", "First question"]}


@pytest.fixture
def stored(run_triage):
    for question in QUESTIONS:  # offline answers: each escalates and opens a ticket
        assert run_triage("ask", question).code == 0


def render(monkeypatch, width: int, show) -> str:  # noqa: ANN001
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, no_color=True, highlight=False, emoji=False)
    import triage_cli.ui.terminal as terminal
    import triage_cli.ui.tickets_view as tickets_view

    monkeypatch.setattr(terminal, "make_console", lambda: console)
    monkeypatch.setattr(tickets_view, "make_console", lambda: console)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    show()
    return re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())


def headers(table: str) -> list[str]:
    """The header row's cells, a header wrapped over two lines joined again."""
    rows = [line for line in table.splitlines() if line.startswith("┃")]
    cells = [[cell.strip() for cell in row.strip("┃").split("┃")] for row in rows]
    return [" ".join(part for part in parts if part) for parts in zip(*cells, strict=True)]


def words(text: str) -> set[str]:
    return set(re.findall(r"[\w?,.:]+", text))


@pytest.mark.parametrize("width", [40, 60, 100])
def test_tables_drop_whole_columns_and_wrap_at_words(stored, monkeypatch, triage_env, width):
    from pathlib import Path

    from triage_cli.session.records import LocalRecords
    from triage_cli.ui.history_view import list_conversations
    from triage_cli.ui.tickets_view import list_tickets

    home = LocalRecords(Path(triage_env["TRIAGE_HOME"]))
    tickets = render(monkeypatch, width, lambda: list_tickets(home, status="open", as_json=False, limit=20))
    history = render(monkeypatch, width, lambda: list_conversations(home, limit=20, order=None, as_json=False))
    for output, expected in ((tickets, TICKET_HEADERS[width]), (history, HISTORY_HEADERS[width])):
        assert all(len(line) <= width for line in output.splitlines()), output
        assert headers(output) == expected, output
        assert ("Not shown at this width" in output) == (width < 100)
    # Wrapped at word boundaries: every word of the questions and summaries is whole somewhere.
    for question in QUESTIONS:
        assert set(question.split()) <= words(history), history
    assert {"A9999", "was", "not", "found.", "escalate."} <= words(tickets), tickets


def test_tickets_in_a_40_column_terminal(stored, triage_env):
    _, _, output = run_in_pty(["tickets"], {**triage_env, "NO_COLOR": "1"}, 24, 40)
    lines = terminal_lines(output, 24, 40)
    header = next(line for line in lines if "Id" in line and "Summary" in line)
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == ["Id", "Status", "Order", "Summary"]
    assert any("Not shown at this width: created, issue." in line for line in lines)
