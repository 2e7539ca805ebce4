"""`triage config`: the effective settings and where each came from, as lines or JSON."""

from __future__ import annotations

import sys
from typing import Any

from triage_cli.sanitize import json_text, one_line


def show_config(report: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json_text(report, indent=2) + "\n")
        return
    exists = "" if report["config_file_exists"] else " (not there: every setting has its default)"
    lines = [f"config file     {one_line(report['config_file'])}{exists}",
             f"data directory  {one_line(report['data_directory'])}", ""]
    for key, row in report["settings"].items():
        value = "not set" if row["value"] is None else str(row["value"])
        if key == "api_key":
            value = f"{value} (from {row['source']})" if value == "set" else f"{value} ({row['source']})"
            lines.append(f"{key:<18} {one_line(value)}")
        else:
            lines.append(f"{key:<18} {one_line(value):<40} {one_line(row['source'])}")
    sys.stdout.write("\n".join(line.rstrip() for line in lines) + "\n")
