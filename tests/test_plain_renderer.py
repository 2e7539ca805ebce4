"""`--plain` output: chunks that come close together are flushed together, never later than the
next tick, and the reply so far is flushed before a remark on stderr or the record."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

from triage_cli.engine.events import Event, Notice, TextDelta, TriageRecord
from triage_cli.ui.render import PlainRenderer, present


class _Recorded(io.StringIO):
    """A stream that notes in a shared log what reached its reader (at each flush)."""

    def __init__(self, name: str, log: list[tuple[str, str]]) -> None:
        super().__init__()
        self.name, self.log, self._sent = name, log, 0

    def flush(self) -> None:
        text = self.getvalue()
        if len(text) > self._sent:
            self.log.append((self.name, text[self._sent:]))
            self._sent = len(text)

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.name == "err":
            self.flush()  # stderr is unbuffered
        return written


def test_a_burst_is_flushed_in_one_and_before_what_follows_it():
    log: list[tuple[str, str]] = []
    # A clock that never moves: only the first chunk goes at once, then the tick or a remark.
    renderer = PlainRenderer(out=_Recorded("out", log), err=_Recorded("err", log), clock=lambda: 1.0)
    record = TriageRecord(order_id="A1002", issue="late", status="delayed", next_step="answer", summary="Late.")

    async def events() -> AsyncIterator[Event]:
        for word in ("Order ", "A1002 ", "is ", "late."):
            yield TextDelta(word)
        yield Notice("a note")
        for word in ("\nMore ", "text"):
            yield TextDelta(word)
        while log[-1] != ("out", "\nMore text"):  # a quiet spell: the tick flushes what came before it
            await asyncio.sleep(0.01)
        yield record

    asyncio.run(present(events(), renderer))
    assert log[:4] == [("out", "Order "), ("out", "A1002 is late."), ("err", "note: a note\n"), ("out", "\nMore text")]
    assert len(log) == 5 and log[-1][0] == "out" and "Order: A1002" in log[-1][1]


def test_the_first_chunk_goes_out_at_once_however_long_the_machine_has_been_up():
    log: list[tuple[str, str]] = []
    renderer = PlainRenderer(out=_Recorded("out", log), err=_Recorded("err", log), clock=lambda: 0.0)
    renderer.handle(TextDelta("Order "))
    assert log == [("out", "Order ")]  # a clock at 0 (a machine just booted) must not hold it back
