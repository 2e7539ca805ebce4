"""Labelled cases: one JSON object a line,
`{"id": "c17", "message": "...", "order": "A1002", "expect": {"next_step": "escalate",
"order_id": "A1002", "mentions": ["weather"]}}` (order, order_id and mentions optional)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from triage_cli.errors import UsageError

NEXT_STEPS = ("answer", "escalate")
# The shipped parts: dev tunes the offline engine, test was held out; the blind parts were written
# by people who never saw the rules (see the README's figures for when each was scored).
SHIPPED = ("dev", "test", "blind", "blind2", "blind3", "blind4", "blind5", "blind6", "blind7", "blind8", "blind9", "blind10", "blind11", "blind12", "blind13",
           "blind14", "blind15", "blind16", "blind17")


@dataclass(frozen=True)
class Case:
    id: str
    message: str
    next_step: str
    order: str | None = None
    order_id: str | None = None
    mentions: tuple[str, ...] = field(default_factory=tuple)

    def expected(self) -> dict[str, object]:
        expect: dict[str, object] = {"next_step": self.next_step}
        if self.order_id is not None:
            expect["order_id"] = self.order_id
        if self.mentions:
            expect["mentions"] = list(self.mentions)
        return expect


def load_cases(source: str | None) -> list[Case]:
    """The cases in the file `source`; with None, every shipped part; a name in SHIPPED (when
    no such file exists) one shipped part. A bad file or line is a UsageError naming it."""
    if source is None:  # ids are a part's own: with all of them, each is named with its part
        return [replace(case, id=f"{part}/{case.id}") for part in SHIPPED for case in load_cases(part)]
    if source in SHIPPED and not Path(source).exists():
        text = resources.files("triage_cli.eval").joinpath(f"cases/{source}.jsonl").read_text(encoding="utf-8")
        return parse_cases(text, f"the shipped {source} cases")
    try:
        text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no such case file: {source}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the case file {source}: {exc}") from None
    return parse_cases(text, source)


def parse_cases(text: str, name: str) -> list[Case]:
    cases: list[Case] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            case = _case(json.loads(line))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{name}, line {number}: not JSON ({exc.msg})") from None
        except ValueError as exc:
            raise UsageError(f"{name}, line {number}: {exc}") from None
        if case.id in seen:
            raise UsageError(f"{name}, line {number}: the id {case.id!r} is used twice")
        seen.add(case.id)
        cases.append(case)
    if not cases:
        raise UsageError(f"{name} holds no cases")
    return cases


def _case(data: object) -> Case:
    if not isinstance(data, dict):
        raise ValueError("a case is a JSON object")
    case_id, message, order, expect = (data.get(k) for k in ("id", "message", "order", "expect"))
    if not isinstance(case_id, (str, int)) or isinstance(case_id, bool) or not str(case_id).strip():
        raise ValueError('"id" must be a non-empty string')
    if not isinstance(message, str) or not message.strip():
        raise ValueError('"message" must be a non-empty string')
    if order is not None and not isinstance(order, str):
        raise ValueError('"order" must be a string')
    if not isinstance(expect, dict) or expect.get("next_step") not in NEXT_STEPS:
        raise ValueError('"expect" must be an object with "next_step": "answer" or "escalate"')
    order_id, mentions = expect.get("order_id"), expect.get("mentions", [])
    if order_id is not None and not isinstance(order_id, str):
        raise ValueError('"expect.order_id" must be a string')
    if not isinstance(mentions, list) or not all(isinstance(m, str) for m in mentions):
        raise ValueError('"expect.mentions" must be a list of strings')
    return Case(str(case_id), message, expect["next_step"], order or None, order_id, tuple(mentions))
