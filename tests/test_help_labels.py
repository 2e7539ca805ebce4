"""--help reads as what a user types: flags alone, values by a metavar, arguments by name."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from triage_cli.cli import app

COMMANDS = [[], ["ask"], ["chat"], ["tickets"], ["tickets", "list"], ["tickets", "show"], ["tickets", "close"],
            ["history"], ["history", "list"], ["history", "show"], ["history", "export"], ["history", "prune"]]


def help_text(args: list[str]) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "100", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "triage")
def test_help_shows_no_type_labels_and_plain_usages(args):
    text = help_text(args)
    assert not re.search(r"<(bool|str|int|list\[str\]|int range)>", text), text
    assert "{ID}" not in text and "[[ID]]" not in text
    for flag in ("--json", "--help", "--events", "--plain", "--version"):
        assert not re.search(rf"{flag}\b[ -]*\S*(bool|BOOLEAN)", text)


def test_help_names_the_values_and_arguments():
    assert re.search(r"Usage: triage ask \[OPTIONS\] \[MESSAGE\]\.\.\.", help_text(["ask"]))
    assert re.search(r"--order\s+-o\s+ID\b", help_text(["ask"]))
    assert "Usage: triage tickets show [OPTIONS] ID" in help_text(["tickets", "show"])
    assert "Usage: triage history show [OPTIONS] [ID]" in help_text(["history", "show"])
    assert re.search(r"--older-than\s+AGE\b", help_text(["history", "prune"]))
