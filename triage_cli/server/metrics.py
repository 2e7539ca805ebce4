"""`/metrics` for Prometheus (prometheus-client), behind the token like the API: what the server
answered (turns by engine and next step, their time and time to the first token, tokens, model
errors, tool calls), the streams open now, and the open tickets (read from the database at each
scrape). Each turn's events pass through `Metrics.observed` on their way out.

With `serve --workers N` every worker counts in its own files under PROMETHEUS_MULTIPROC_DIR (the
supervisor makes the directory before the workers start: prometheus-client reads it at import),
and a scrape, whichever worker answers it, sums them: one server's figures."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from triage_cli.engine.events import Done, Error, EventStream, TextDelta, ToolFinished, TriageRecord, Usage
from triage_cli.errors import StoreError
from triage_cli.session.tracing import tool_label
from triage_cli.store.backend import Database

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"
MAX_TOOLS = 32  # distinct tool labels at most
TURN_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class Metrics:
    def __init__(self, database: Database, engine: str) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.database, self.engine = database, engine
        self.registry = CollectorRegistry(auto_describe=True)
        metric: dict[str, Any] = {"registry": None if os.environ.get(MULTIPROCESS) else self.registry}
        self.turns = Counter("triage_turns", "Turns answered, by the engine that answered and the next step "
                             "(none: no record, as when the turn failed)", ["engine", "next_step"], **metric)
        self.turn_seconds = Histogram("triage_turn_seconds", "A turn's time, from the question to the last event",
                                      buckets=TURN_BUCKETS, **metric)
        self.first_token = Histogram("triage_time_to_first_token_seconds", "The time to the answer's first token",
                                     buckets=FIRST_TOKEN_BUCKETS, **metric)
        self.tokens = Counter("triage_model_tokens", "Tokens the model read (in) and wrote (out)", ["kind"], **metric)
        self.errors = Counter("triage_model_errors", "Turns that failed, by the kind of failure", ["kind"], **metric)
        self.tool_calls = Counter("triage_tool_calls", "Tool calls, by tool and whether they worked", ["tool", "ok"],
                                  **metric)
        self.streams = Gauge("triage_streams_active", "Turns being answered now", multiprocess_mode="livesum", **metric)
        self.registry.register(_OpenTickets(database))
        self._tools: set[str] = set()  # the tool names labelled so far (a model may name any)

    async def observed(self, events: EventStream) -> EventStream:
        """The turn's events, as they were, counted on the way; a turn's time whatever its end
        (answered, failed, cut short)."""
        self.streams.inc()
        started = time.perf_counter()
        next_step, engine = "none", self.engine
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    if type(event) is not TextDelta:  # the many pieces of text cost a type check only
                        next_step, engine = self._count(event, next_step, engine)
                    yield event
        finally:
            self.streams.dec()
            self.turn_seconds.observe(time.perf_counter() - started)
            self.turns.labels(engine, next_step).inc()

    def _count(self, event: Any, next_step: str, engine: str) -> tuple[str, str]:
        if isinstance(event, TriageRecord):
            next_step = event.next_step
        elif isinstance(event, Usage):
            if event.ttft_ms is not None:
                self.first_token.observe(event.ttft_ms / 1000)
            self.tokens.labels("in").inc(event.prompt_tokens)
            self.tokens.labels("out").inc(event.completion_tokens)
        elif isinstance(event, ToolFinished):
            self.tool_calls.labels(self._tool(event.name), str(event.ok).lower()).inc()
        elif isinstance(event, Error):
            self.errors.labels(event.kind).inc()
        elif isinstance(event, Done) and event.answered_by:
            engine = event.answered_by
        return next_step, engine

    def _tool(self, name: str) -> str:
        """The label of a tool: its name, for the first MAX_TOOLS names seen; "other" after
        (the model chooses names, and every label is a series kept for good)."""
        name = tool_label(name)
        if name not in self._tools and len(self._tools) < MAX_TOOLS:
            self._tools.add(name)
        return name if name in self._tools else "other"

    def exposition(self) -> tuple[bytes, str]:
        """The text a scrape reads, and its content type: every worker's figures summed."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if not os.environ.get(MULTIPROCESS):
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(_OpenTickets(self.database))
        return generate_latest(registry), CONTENT_TYPE_LATEST


class _OpenTickets:
    """`triage_tickets_open`: read from the database when scraped (one figure for every replica)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        try:
            with self.database.opened("the open tickets") as db:
                count = db.execute("SELECT count(*) FROM tickets WHERE status = 'open'").fetchone()[0]
        except StoreError:
            return  # the database is away: the scrape still has everything else
        yield GaugeMetricFamily("triage_tickets_open", "Tickets open in the queue now", value=int(count))
