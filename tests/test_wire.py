"""One wire schema (engine/wire.py): every kind of event survives encode -> decode; `ask --events`
lines and the SSE payloads carry the same names and fields; the README's SSE table names them."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from triage_cli.engine.events import (
    Done, Error, Event, Notice, ReasoningDelta, TextDelta, ToolCall, ToolCallsPlanned, ToolFinished, ToolStarted,
    TriageRecord, Usage,
)
from triage_cli.engine.wire import FIELDS, decode, encode, line

SAMPLES: list[Event] = [
    TextDelta("Order **A1002**"),
    ReasoningDelta("thinking"),
    ToolCallsPlanned(round=2, calls=(ToolCall("tc_1", "get_order_status", '{"order_id": "A1002"}'),
                                     ToolCall("tc_2", "lookup", "not json"))),
    ToolStarted("tc_1", "get_order_status", '{"order_id": "A1002"}'),
    ToolFinished("tc_1", "get_order_status", False, "the order service did not answer", 6.3),
    TriageRecord(order_id="A1002", issue="late", status="delayed", next_step="escalate", summary="late",
                 ticket=4, guard="the customer asks for a refund"),
    Notice("a remark", hint="set OPENAI_API_KEY"),
    Usage(model_calls=2, prompt_tokens=120, completion_tokens=40, ttft_ms=210.4, total_ms=1520.0),
    Done("the whole reply", finish_reason="length", answered_by="offline"),
    Error("the model failed", kind="model"),
]


def test_every_kind_of_event_has_a_sample():
    assert {type(e) for e in SAMPLES} == set(typing.get_args(Event))


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.type)
def test_an_event_survives_the_wire(event: Event):
    name, data = encode(event, conversation_id=12)
    assert name == event.type and tuple(data) == FIELDS[name]
    assert decode(name, data) == event
    assert line(event, 12) == {"type": name, **data}  # --events: the same names and fields, plus type


def test_times_are_rounded_as_json_rounds_them():
    _, data = encode(ToolFinished("tc", "get_order_status", True, "{}", 6.3553180000042175))
    assert data["duration_ms"] == 6.4
    _, usage = encode(Usage(ttft_ms=10.04999, total_ms=99.96))
    assert (usage["ttft_ms"], usage["total_ms"]) == (10.0, 100.0)


def test_the_readme_sse_table_names_every_event_and_field():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("| event | data |", 1)[1].split("\n\n", 1)[0]
    rows = {m[1]: m[0] for m in re.finditer(r"^\| `(\w+)`[^|]*\|.*$", table, re.MULTILINE)}
    assert set(rows) == set(FIELDS) | {"conversation"}
    for name, fields in FIELDS.items():
        for field in fields:
            assert f"`{field}`" in rows[name] or f'"{field}"' in rows[name], (name, field)
