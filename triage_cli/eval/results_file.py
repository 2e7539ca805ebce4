"""`triage eval --out FILE` and `--resume FILE`: each case's result appended as one JSON line the
moment it is scored (a slow model's run loses nothing when it is stopped), and read back to skip
the cases already done. A line is {"id": …, "run": {"provider", "model", "trials"}, "message": …,
"expected": …, "right": …, "trials": […]}: a file is resumed only by a run like the one that wrote it."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import IO, Any

from triage_cli.errors import TriageError, UsageError
from triage_cli.eval.cases import Case
from triage_cli.eval.scoring import CaseResult, trial_from


def read_done(path: Path, cases: list[Case], run: dict[str, Any]) -> dict[str, CaseResult]:
    """The results in `path` of the cases in `cases` (by id); none when the file is not there yet.
    A line cut short by a stop mid-write is skipped: its case runs again. Results of another kind
    of run (another engine, model or number of trials) are refused: their figures would mix."""
    if not path.exists():
        return {}
    _regular(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the results file {path}: {exc}") from None
    by_id = {case.id: case for case in cases}
    done: dict[str, CaseResult] = {}
    for line in text.splitlines():
        data = _line(line)
        case = by_id.get(str(data.get("id"))) if data else None
        if data and case is not None and isinstance(data.get("trials"), list):
            if data.get("run") != run:
                raise UsageError(f"{path} holds results of another run ({_described(data.get('run'))}), not of "
                                 f"{_described(run)}: resume with the same settings, or use another file")
            if data.get("message") != case.message:
                raise UsageError(f"{path} holds results of other cases (case {case.id} says something else): "
                                 "resume with the cases it was written for, or use another file")
            done[case.id] = CaseResult(case, [trial_from(t) for t in data["trials"] if isinstance(t, dict)])
    return done


def _line(line: str) -> dict[str, Any] | None:
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _described(run: Any) -> str:
    if not isinstance(run, dict):
        return "an unknown run"
    engine = " ".join(str(run.get(k)) for k in ("provider", "model") if run.get(k))
    return f"{engine or 'an unknown engine'}, {run.get('trials')} trial(s) a case"


def _regular(path: Path) -> None:
    if not path.is_file():
        raise UsageError(f"{path} is not a regular file: name a file for the results")


class ResultsFile:
    """The file results are appended to (created 0600 if new), a line each, flushed at once.
    `resumed`: appending to a file of earlier results is meant; otherwise one holding anything
    is refused (its lines would mix with this run's)."""

    def __init__(self, path: Path | None, run: dict[str, Any], *, resumed: bool = False) -> None:
        self.run, self.path = run, path
        self.file: IO[str] | None = None
        if path is not None:
            if path.exists():
                _regular(path)
                if not resumed and path.stat().st_size:
                    raise UsageError(f"{path} is not empty: resume it with --resume {path}, or name a new file")
            try:
                self.file = os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a", encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot write the results file {path}: {exc.strerror or exc}") from None

    def add(self, result: CaseResult) -> None:
        if self.file is not None:
            line = {"id": result.case.id, "run": self.run, **result.to_dict()}
            try:
                self.file.write(json.dumps(line, ensure_ascii=False) + "\n")
                self.file.flush()
            except OSError as exc:
                raise TriageError(f"cannot write the results file {self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self.file is not None:
            with contextlib.suppress(OSError):  # a write that failed said so already
                self.file.close()
