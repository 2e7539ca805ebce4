"""`triage eval`: run labelled cases through the session like `ask` and show the score, with a
progress bar on a terminal (none in a pipe), or one JSON object with `--json`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

from triage_cli.config import Settings
from triage_cli.errors import UsageError
from triage_cli.eval.cases import load_cases
from triage_cli.eval.runner import run_cases
from triage_cli.eval.scoring import CaseResult, summarise
from triage_cli.sanitize import json_text, one_line

SHOWN_FAILURES = 30


def parse_min(text: str | None) -> float | None:
    """`--min`: a fraction (0.97) or a percentage (97, 97%)."""
    if text is None:
        return None
    raw = text.strip().removesuffix("%")
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"--min must be an accuracy like 0.97 or 97%, got {text!r}") from None
    if text.strip().endswith("%") or value > 1:
        value /= 100
    if not 0 <= value <= 1:
        raise UsageError(f"--min must be between 0 and 1 (or 0% and 100%), got {text!r}")
    return value


def run_eval(settings: Settings, source: str | None, *, trials: int = 1, concurrency: int = 1,
             as_json: bool = False, minimum: float | None = None, keep: bool = False) -> int:
    """Score `settings`' engine on the cases; 0, or 1 when the accuracy is under `minimum`."""
    cases = load_cases(source)
    total = len(cases) * trials
    with _progress(total, show=not as_json and sys.stderr.isatty()) as advance:
        results = asyncio.run(run_cases(settings, cases, trials=trials, concurrency=concurrency, keep=keep,
                                        progress=advance))
    summary = summarise(results, trials)
    summary["engine"] = {"provider": settings.provider, "model": settings.model or None}
    if minimum is not None:
        summary["min"] = minimum
    if as_json:
        print(json_text({"summary": summary, "cases": {r.case.id: r.to_dict() for r in results}}, indent=2))
    else:
        print(_report(summary, results))
    return 1 if minimum is not None and summary["accuracy"] < minimum else 0


class _progress:
    """A rich progress bar on stderr while the trials run; nothing when not shown."""

    def __init__(self, total: int, *, show: bool) -> None:
        self.total, self.show = total, show
        self.bar: Any = None

    def __enter__(self) -> Callable[[], None]:
        if not self.show:
            return lambda: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=Console(stderr=True), transient=True)
        self.bar.start()
        task = self.bar.add_task("eval", total=self.total)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _report(summary: dict[str, Any], results: list[CaseResult]) -> str:
    engine = summary["engine"]
    name = engine["provider"] + (f" / {engine['model']}" if engine["model"] else "")
    trials = summary["trials"]
    confusion = summary["confusion"]
    lines = [
        f"triage eval: {summary['cases']} cases x {trials} trial{'s' if trials != 1 else ''}, {one_line(name)}",
        f"  accuracy           {_percent(summary['accuracy'])}  (every check right)",
        f"  next step          {_percent(summary['next_step_accuracy'])}",
        f"  order id           {_percent(summary['order_id_accuracy'])}",
        f"  must-mention words {_percent(summary['mentions_accuracy'])}",
        f"  pass^{trials:<14}{_percent(summary[f'pass^{trials}'])}  (a case passes only if all its trials are right)",
        "",
        "                   got answer   got escalate",
        f"  expect answer    {confusion['answer->answer']:>10}   {confusion['answer->escalate']:>12}",
        f"  expect escalate  {confusion['escalate->answer']:>10}   {confusion['escalate->escalate']:>12}",
        f"  missed escalations {summary['missed_escalations']}, needless escalations "
        f"{summary['needless_escalations']}, errors {summary['errors']}",
    ]
    if summary["guard_overrides"]:
        outcome = summary["guard_overrides_by_outcome"]
        lines.append(f"  guard overrides {summary['guard_overrides']} (the model said answer; triage escalated): "
                     f"{outcome['prevented_missed']} prevented a missed escalation, "
                     f"{outcome['made_needless']} made a needless one")
    if summary["needless_by_topic"]:
        lines.append("  needless by topic: " + ", ".join(
            f"{one_line(topic)} {count}" for topic, count in summary["needless_by_topic"].items()))
    if summary["escalations_by_topic"]:
        lines.append("  escalations by topic: " + ", ".join(
            f"{one_line(topic)} {count}" for topic, count in summary["escalations_by_topic"].items()))
    cost = summary["per_case"]
    lines.append(f"  per case: {cost['tokens']} tokens, {cost['model_calls']} model calls, {cost['seconds']:.3f} s")
    failed = [result for result in results if not result.passed]
    if failed:
        lines += ["", f"wrong ({len(failed)}):"]
        for result in failed[:SHOWN_FAILURES]:
            why = next((trial.why for trial in result.trials if not trial.right), [])
            lines.append(f"  {one_line(result.case.id)}: {one_line(result.case.message)[:80]}")
            lines.append(f"      {one_line('; '.join(why))}")
        if len(failed) > SHOWN_FAILURES:
            lines.append(f"  … and {len(failed) - SHOWN_FAILURES} more (see --json)")
    if "min" in summary:
        verdict = "passes" if summary["accuracy"] >= summary["min"] else "is under"
        lines += ["", f"accuracy {_percent(summary['accuracy'])} {verdict} --min {_percent(summary['min'])}"]
    return "\n".join(lines)
