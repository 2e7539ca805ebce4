"""Scoring: one trial's answer against its case, and the summary of a run (accuracy, missed and
needless escalations per topic, pass^k: a case passes only if every one of its K trials is right)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from triage_cli.eval.cases import Case
from triage_cli.record_types import issue_topics


@dataclass
class Trial:
    """One run of a case: what came back and what it cost."""

    next_step: str | None = None
    order_id: str | None = None
    issue: str | None = None
    guard: str | None = None  # why triage escalated where the model said answer (engine/record.py)
    reply: str = ""
    error: str | None = None
    tokens: int = 0
    model_calls: int = 0
    seconds: float = 0.0
    checks: dict[str, bool] = field(default_factory=dict)
    why: list[str] = field(default_factory=list)

    @property
    def right(self) -> bool:
        return self.error is None and all(self.checks.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "got": {"next_step": self.next_step, "order_id": self.order_id, "issue": self.issue, "guard": self.guard},
            "right": self.right, "why": self.why, "checks": self.checks, "error": self.error,
            "tokens": self.tokens, "model_calls": self.model_calls, "seconds": round(self.seconds, 4),
        }


def trial_from(data: dict[str, Any]) -> Trial:
    """A trial as `to_dict` wrote it (a results file being resumed)."""
    got = data.get("got") or {}
    return Trial(next_step=got.get("next_step"), order_id=got.get("order_id"), issue=got.get("issue"),
                 guard=got.get("guard"), error=data.get("error"), tokens=int(data.get("tokens") or 0),
                 model_calls=int(data.get("model_calls") or 0), seconds=float(data.get("seconds") or 0),
                 checks={k: bool(v) for k, v in (data.get("checks") or {}).items()},
                 why=[str(w) for w in data.get("why") or ()])


def score(case: Case, trial: Trial) -> Trial:
    """Fill in `trial.checks` and `trial.why` from the case's expectations."""
    if trial.error is not None:
        trial.checks["next_step"] = False
        trial.why.append(f"error: {trial.error}")
        return trial
    trial.checks["next_step"] = trial.next_step == case.next_step
    if not trial.checks["next_step"]:
        kind = "missed escalation" if case.next_step == "escalate" else "needless escalation"
        trial.why.append(f"{kind}: expected {case.next_step}, got {trial.next_step}"
                         + (f" ({trial.issue})" if trial.next_step == "escalate" and trial.issue else ""))
    if case.order_id is not None:
        got = {part.upper() for part in re.split(r"[\s,;]+", trial.order_id or "") if part}
        trial.checks["order_id"] = case.order_id.upper() in got
        if not trial.checks["order_id"]:
            trial.why.append(f"order_id: expected {case.order_id}, got {trial.order_id}")
    if case.mentions:
        reply = trial.reply.lower()
        absent = [word for word in case.mentions if word.lower() not in reply]
        trial.checks["mentions"] = not absent
        if absent:
            trial.why.append(f"the reply does not mention: {', '.join(absent)}")
    return trial


@dataclass
class CaseResult:
    case: Case
    trials: list[Trial]

    @property
    def passed(self) -> bool:
        return all(trial.right for trial in self.trials)

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.case.message, "order": self.case.order, "expected": self.case.expected(),
                "right": self.passed, "trials": [trial.to_dict() for trial in self.trials]}


def summarise(results: list[CaseResult], trials: int) -> dict[str, Any]:
    """The run's figures: accuracies over all trials, pass^k over cases, the confusion table and
    the escalation errors per topic (a needless one under the topic the engine named, a missed
    one under the case's expected order's topic as the engine did not name one: "-")."""
    runs = [trial for result in results for trial in result.trials]
    confusion: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    needless: Counter[str] = Counter()
    needless_trials = 0  # a needless escalation naming two topics is one mistake, listed under both
    for result in results:
        for trial in result.trials:
            got = trial.next_step or "error"
            confusion[f"{result.case.next_step}->{got}"] += 1
            if result.case.next_step == "escalate" and got == "answer":
                missed[result.case.id] += 1
            elif result.case.next_step == "answer" and got == "escalate":
                needless_trials += 1
                needless.update(issue_topics(trial.issue))

    def rate(check: str) -> float | None:
        scored = [trial.checks[check] for trial in runs if check in trial.checks]
        return round(sum(scored) / len(scored), 4) if scored else None

    seconds = sum(trial.seconds for trial in runs)
    return {
        "cases": len(results),
        "trials": trials,
        "accuracy": round(sum(trial.right for trial in runs) / len(runs), 4) if runs else 0.0,
        "next_step_accuracy": rate("next_step"),
        "order_id_accuracy": rate("order_id"),
        "mentions_accuracy": rate("mentions"),
        f"pass^{trials}": round(sum(result.passed for result in results) / len(results), 4) if results else 0.0,
        "missed_escalations": sum(missed.values()),
        "needless_escalations": needless_trials,
        "confusion": {key: confusion.get(key, 0) for key in
                      ("answer->answer", "answer->escalate", "escalate->escalate", "escalate->answer")}
        | ({"errors": sum(v for k, v in confusion.items() if k.endswith("->error"))}
           if any(k.endswith("->error") for k in confusion) else {}),
        # How often triage's policy guard overrode the model's "answer", and which way that went:
        # a missed escalation prevented (the case expects escalate) or a needless one made.
        "guard_overrides": sum(trial.guard is not None for trial in runs),
        "guard_overrides_by_outcome": {
            "prevented_missed": sum(trial.guard is not None and result.case.next_step == "escalate"
                                    for result in results for trial in result.trials),
            "made_needless": sum(trial.guard is not None and result.case.next_step == "answer"
                                 for result in results for trial in result.trials),
        },
        "missed_by_case": dict(missed),
        "needless_by_topic": dict(needless.most_common()),
        "escalations_by_topic": dict(Counter(topic for trial in runs if trial.next_step == "escalate"
                                             for topic in issue_topics(trial.issue)).most_common()),
        "per_case": {
            "tokens": round(sum(trial.tokens for trial in runs) / len(runs), 1) if runs else 0,
            "model_calls": round(sum(trial.model_calls for trial in runs) / len(runs), 2) if runs else 0,
            "seconds": round(seconds / len(runs), 4) if runs else 0,
        },
        "errors": sum(trial.error is not None for trial in runs),
    }
