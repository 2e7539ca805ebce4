"""Running cases: each trial of each case is one `ask` in its own session (the same engine, the
same policy), with nothing stored unless `keep`. Trials run `concurrency` at a time, and borrow
one engine (one model client) as the server's turns do: a client per trial would cost tens of ms
of CPU each."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from triage_cli.config import Settings
from triage_cli.engine.events import Done, Error, TextDelta, TriageRecord, Usage
from triage_cli.errors import TriageError
from triage_cli.eval.cases import Case
from triage_cli.eval.scoring import CaseResult, Trial, score
from triage_cli.session import SharedEngine, TriageSession


async def run_trial(settings: Settings, case: Case, *, keep: bool = False, shared: SharedEngine | None = None) -> Trial:
    trial = Trial()
    reply: list[str] = []
    started = time.perf_counter()
    try:
        async with await TriageSession.open(settings, source="eval", order=case.order, keep=keep,
                                            shared=shared) as session:
            async for event in session.ask(case.message):
                if isinstance(event, TextDelta):
                    reply.append(event.text)
                elif isinstance(event, TriageRecord):
                    trial.next_step, trial.order_id, trial.issue = event.next_step, event.order_id, event.issue
                    trial.guard = event.guard
                elif isinstance(event, Usage):
                    trial.tokens += event.prompt_tokens + event.completion_tokens
                    trial.model_calls += event.model_calls
                elif isinstance(event, Error):
                    trial.error = event.message
                elif isinstance(event, Done):
                    reply[:] = [event.reply]
    except TriageError as exc:  # the model or its API failed: this trial is wrong, the run goes on
        trial.error = str(exc)
    trial.reply = "".join(reply)
    trial.seconds = time.perf_counter() - started
    return score(case, trial)


async def run_cases(settings: Settings, cases: list[Case], *, trials: int = 1, concurrency: int = 1,
                    keep: bool = False, progress: Callable[[], None] | None = None,
                    finished: Callable[[CaseResult], None] | None = None) -> list[CaseResult]:
    """Every case `trials` times; `progress` is called after each trial, `finished` with each
    case's result as soon as all its trials are in (so a run stopped midway keeps those)."""
    limit = asyncio.Semaphore(max(1, concurrency))
    shared = SharedEngine(settings)

    async def one(case: Case) -> Trial:
        async with limit:
            trial = await run_trial(settings, case, keep=keep, shared=shared)
        if progress is not None:
            progress()
        return trial

    async def all_trials(case: Case) -> CaseResult:
        result = CaseResult(case, list(await asyncio.gather(*(one(case) for _ in range(trials)))))
        if finished is not None:
            finished(result)
        return result

    runs = [asyncio.ensure_future(all_trials(case)) for case in cases]
    try:
        return list(await asyncio.gather(*runs))
    finally:
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        await shared.aclose()
