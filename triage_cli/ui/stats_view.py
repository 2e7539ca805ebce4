"""`triage stats`: a period's figures (store/stats.py) on a terminal as a few lines and small bar
charts per day, tab-separated `section  key  value` lines when piped, or the object with --json.
Topic, status, engine and agent names came from records and people: sanitized."""

from __future__ import annotations

import sys
from typing import Any

from triage_cli.errors import TriageError
from triage_cli.sanitize import json_text, one_line
from triage_cli.session.records import Records

BAR = 30  # the widest bar, in characters


def show_stats(records: Records, since: str, *, as_json: bool) -> None:
    figures = records.stats(since)
    if not isinstance(figures.get("turns"), int):  # a server of another version, or not a triage server
        raise TriageError("the server's figures could not be read (GET /v1/stats)")
    if as_json:
        sys.stdout.write(json_text(figures, indent=2) + "\n")
    elif not sys.stdout.isatty():
        sys.stdout.write("".join("\t".join("" if cell is None else one_line(str(cell)) for cell in row) + "\n"
                                 for row in rows(figures)))
    else:
        _draw(figures)


def rows(figures: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """Every figure as (section, key, value): what a pipe gets, one a line."""
    out: list[tuple[str, str, Any]] = [("period", "since", figures["since"]), ("period", "until", figures["until"])]
    out += [("turns", key, figures[key]) for key in ("turns", "conversations", "escalations", "escalation_rate")]
    for section in ("by_topic", "by_status", "by_source", "by_engine"):
        out += [(section, key, value) for key, value in figures[section].items()]
    out += [("per_day", day["day"], f"{day['turns']} {day['escalations']}") for day in figures["per_day"]]
    tickets = figures["tickets"]
    out += [("tickets", key, tickets[key]) for key in ("opened", "claimed", "closed", "open_now")]
    out += [("tickets_open_by_age", key, value) for key, value in tickets["open_by_age"].items()]
    for wait in ("to_claim_minutes", "to_close_minutes"):
        out += [(f"tickets_{wait}", key, value) for key, value in tickets[wait].items()]
    out += [("by_agent", agent, f"{n['claimed']} {n['closed']}") for agent, n in tickets["by_agent"].items()]
    model = figures["model"]
    out += [("model", key, model[key]) for key in ("calls", "tokens_in", "tokens_out", "guard_overrides")]
    out += [("model_ttft_ms", key, value) for key, value in model["time_to_first_token_ms"].items()]
    out += [("model_errors", key, value) for key, value in model["errors"].items()]
    return out


def _draw(figures: dict[str, Any]) -> None:
    from rich.text import Text

    from triage_cli.ui.terminal import make_console

    console = make_console()
    rate = figures["escalation_rate"]
    console.print(Text(f"Since {one_line(figures['since'][:16].replace('T', ' '))} UTC", style="bold"))
    console.print(Text(f"{figures['turns']:,} turns in {figures['conversations']:,} conversations · "
                  f"{figures['escalations']:,} escalated" + (f" ({rate:.0%})" if rate is not None else "")))
    days = figures["per_day"]
    if days:
        console.print(Text("\nturns a day (escalated in red)", style="dim"))
        widest = max(day["turns"] for day in days) or 1
        for day in days:
            whole = max(1, round(BAR * day["turns"] / widest)) if day["turns"] else 0
            red = round(whole * day["escalations"] / day["turns"]) if day["turns"] else 0
            console.print(Text(f"{one_line(str(day['day']))} ") + Text("█" * red, style="red") + Text("█" * (whole - red), style="green")
                          + Text(f" {day['turns']} ({day['escalations']})", style="dim"))
    _counts(console, "escalations by topic", figures["by_topic"])
    _counts(console, "turns by source", figures["by_source"])
    _counts(console, "turns by engine", figures["by_engine"])
    tickets, model = figures["tickets"], figures["model"]
    console.print(Text("\ntickets", style="bold"))
    console.print(Text(f"opened {tickets['opened']} · claimed {tickets['claimed']} · closed {tickets['closed']} · "
                  f"open now {tickets['open_now']} ({_listed(tickets['open_by_age'])})"))
    console.print(Text(f"to claim: median {_minutes(tickets['to_claim_minutes']['median'])}, p90 "
                  f"{_minutes(tickets['to_claim_minutes']['p90'])} · to close: median "
                  f"{_minutes(tickets['to_close_minutes']['median'])}, p90 {_minutes(tickets['to_close_minutes']['p90'])}"))
    for agent, done in tickets["by_agent"].items():
        console.print(Text(f"  {one_line(agent)}: claimed {done['claimed']}, closed {done['closed']}"))
    ttft = model["time_to_first_token_ms"]
    console.print(Text("\nthe model", style="bold"))
    console.print(Text(f"{model['calls']:,} calls · {model['tokens_in']:,} tokens in, {model['tokens_out']:,} out · first "
                  f"token p50 {_ms(ttft['p50'])}, p95 {_ms(ttft['p95'])} · guard overrides {model['guard_overrides']}"))
    if model["errors"]:
        console.print(Text(f"errors: {_listed(model['errors'])}"))


def _counts(console: Any, title: str, counts: dict[str, int]) -> None:
    if counts:
        from rich.text import Text

        console.print(Text(f"\n{title}", style="dim"))
        widest = max(counts.values())
        for name, count in list(counts.items())[:10]:
            console.print(Text(f"  {one_line(name)[:30]:<30} {'▇' * max(1, round(BAR * count / widest))} {count}"))


def _listed(counts: dict[str, int]) -> str:
    return ", ".join(f"{one_line(k)} {v}" for k, v in counts.items() if v) or "none"


def _minutes(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} min" if value < 120 else f"{value / 60:.1f} h"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"
