"""`triage config`: the effective settings and where each came from, as lines or JSON."""

from __future__ import annotations

import sys
from typing import Any

from triage_cli.config import Settings
from triage_cli.sanitize import json_text, one_line

_GROUPS = {"answering": "Answering", "storage": "Storage", "tools": "Tools (MCP servers)",
           "server": "A team's server (--server)", "serve": "Serving (triage serve)"}


def show_config(report: dict[str, Any], *, as_json: bool, settings: Settings | None = None) -> None:
    if settings is not None:
        report["settings"]["endpoint_memory"] = endpoint_memory(settings)
    if as_json:
        sys.stdout.write(json_text(report, indent=2) + "\n")
        return
    exists = "" if report["config_file_exists"] else " (not there: every setting has its default)"
    lines = [f"config file     {one_line(report['config_file'])}{exists}",
             f"data directory  {one_line(report['data_directory'])}"]
    for group, title in _GROUPS.items():
        lines += ["", title]
        lines += [_line(key, row) for key, row in report["settings"].items() if row.get("group") == group]
    sys.stdout.write("\n".join(line.rstrip() for line in lines) + "\n")


SHOWN_CHARACTERS = 60  # of the team's instructions, which can be long; --json has all of them


def _line(key: str, row: dict[str, Any]) -> str:
    value = row["value"]
    value = "not set" if value in (None, [], "") else ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    if key == "instructions" and len(value) > SHOWN_CHARACTERS:
        value = f"{one_line(value)[:SHOWN_CHARACTERS - 1]}… ({len(value):,} characters)"
    if key == "api_key":
        value = f"{value} (from {row['source']})" if value == "set" else f"{value} ({row['source']})"
        return f"{key:<20} {one_line(value)}"
    return f"{key:<20} {one_line(value):<40} {one_line(row['source'])}"


def endpoint_memory(settings: Settings) -> dict[str, Any]:
    """What the endpoint refused in an earlier run, as a row: the steps it starts at, and until when."""
    from triage_cli.session.endpoint import remembered

    learned = remembered(settings)
    if learned is None:
        source = "offline: no endpoint" if settings.offline else "nothing refused in the last day"
        return {"value": None, "source": source, "group": "answering"}
    rounds = {"plain": "tool_rounds plain",
              "plain?": "streamed tool calls failed once (plain from the next failure)"}.get(learned.tool_rounds or "", "")
    steps = [f"structured_output {learned.structured_output}" if learned.structured_output else "", rounds]
    fixed = [f"{key} is set to {getattr(settings, key)}" for key, step in
             (("structured_output", steps[0]), ("tool_rounds", rounds)) if step and getattr(settings, key) != "auto"]
    if fixed:  # the settings win: what was learned waits unused
        steps.append(f"(not used while {' and '.join(fixed)})")
    until = learned.until().strftime("%Y-%m-%d %H:%M UTC")
    return {"value": ", ".join(step for step in steps if step), "group": "answering",
            "source": f"learned {learned.at[:16].replace('T', ' ')} UTC; kept until {until} (--reprobe forgets)",
            "learned": {"structured_output": learned.structured_output, "tool_rounds": learned.tool_rounds,
                        "at": learned.at}}
