"""`triage eval`: run labelled cases through the session like `ask` and show the score, with a
progress bar on a terminal (none in a pipe), or one JSON object with `--json`."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triage_cli.config import Settings
from triage_cli.errors import UsageError
from triage_cli.eval.cases import Case, load_cases
from triage_cli.eval.results_file import ResultsFile, read_done
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


@dataclass(frozen=True)
class EvalRun:
    """What `triage eval` was asked to run beyond the cases and the settings."""

    trials: int = 1
    concurrency: int = 1
    keep: bool = False
    out: Path | None = None  # each case's result appended as it is scored
    resume: Path | None = None  # skip the cases already in this file, and append to it
    sample: int | None = None  # a seeded sample of this many cases
    seed: int = 1


def run_eval(settings: Settings, source: str | None, run: EvalRun, *, as_json: bool = False,
             minimum: float | None = None) -> int:
    """Score `settings`' engine on the cases; 0, 1 when the accuracy is under `minimum`, or
    128 + the signal's number when Ctrl-C or SIGTERM stopped it (the cases done so far scored)."""
    cases = sampled(load_cases(source), run.sample, run.seed)
    results, stopped = _scored(settings, cases, run, show=not as_json and sys.stderr.isatty())
    summary = summarise(results, run.trials)
    summary["engine"] = {"provider": settings.provider, "model": settings.model or None}
    if stopped is not None:
        summary["stopped"] = {"signal": signal.Signals(stopped).name, "cases_done": len(results), "cases": len(cases)}
    if minimum is not None:
        summary["min"] = minimum
    if as_json:
        print(json_text({"summary": summary, "cases": {r.case.id: r.to_dict() for r in results}}, indent=2))
    else:
        print(_report(summary, results))
    if stopped is not None:
        return 128 + stopped
    return 1 if minimum is not None and summary["accuracy"] < minimum else 0


def _scored(settings: Settings, cases: list[Case], run: EvalRun, *, show: bool) -> tuple[list[CaseResult], int | None]:
    """The results of the cases, in their order (those of a resumed file first read back), and
    the signal that stopped the run (None: it ran to the end). Each result is appended to the
    results file the moment it is scored."""
    kind = {"provider": settings.provider, "model": settings.model or None, "trials": run.trials}
    done = read_done(run.resume, cases, kind) if run.resume is not None else {}
    results = list(done.values())
    output = ResultsFile(run.out or run.resume, kind, resumed=run.resume is not None)
    try:
        with _progress(len(cases), results, run.trials, show=show) as shown:
            def finished(result: CaseResult) -> None:
                results.append(result)
                output.add(result)
                shown.case(result)

            todo = [case for case in cases if case.id not in done]
            stopped = asyncio.run(_until_stopped(run_cases(settings, todo, trials=run.trials, concurrency=run.concurrency,
                                                           keep=run.keep, progress=shown.trial, finished=finished)))
    finally:
        output.close()
    order = {case.id: n for n, case in enumerate(cases)}
    return sorted(results, key=lambda r: order[r.case.id]), stopped


def sampled(cases: list[Case], size: int | None, seed: int) -> list[Case]:
    """`size` of the cases, chosen by `seed` (the same seed, the same sample), in file order."""
    if size is None or size >= len(cases):
        return cases
    import random

    chosen = set(random.Random(seed).sample(range(len(cases)), size))
    return [case for n, case in enumerate(cases) if n in chosen]


async def _until_stopped(running: Awaitable[object]) -> int | None:
    """Run until done, or until Ctrl-C or SIGTERM: then the signal's number (what finished stays
    finished: each case's result was handed over as it was scored)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(running)
    received: list[int] = []

    def stop(signum: int) -> None:
        received.append(signum)
        task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)
    try:
        await task
    except asyncio.CancelledError:
        if not received:
            raise
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return received[0] if received else None


class _progress:
    """On a terminal, a rich progress bar on stderr while the trials run: cases done, accuracy so
    far and time left; nothing when not shown."""

    def __init__(self, cases: int, earlier: list[CaseResult], trials: int, *, show: bool) -> None:
        self.cases, self.trials, self.show = cases, trials, show
        self.done, self.right = len(earlier), sum(result.passed for result in earlier)
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> _progress:
        if self.show:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[accuracy]}"), TextColumn("left"), TimeRemainingColumn(),
                                console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("eval", total=self.cases * self.trials, completed=self.done * self.trials,
                                          accuracy="")
        return self

    def trial(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def case(self, result: CaseResult) -> None:
        self.done += 1
        self.right += result.passed
        if self.bar is not None:
            self.bar.update(self.task, accuracy=f"right so far {self.right}/{self.done} ({self.right / self.done:.0%})")

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
    if "stopped" in summary:
        stopped = summary["stopped"]
        lines += ["", f"stopped by {stopped['signal']} after {stopped['cases_done']} of {stopped['cases']} cases: "
                      "the figures above are for those"]
    if "min" in summary:
        verdict = "passes" if summary["accuracy"] >= summary["min"] else "is under"
        lines += ["", f"accuracy {_percent(summary['accuracy'])} {verdict} --min {_percent(summary['min'])}"]
    return "\n".join(lines)
