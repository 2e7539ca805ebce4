"""Timing of a rendered answer, for the benchmark (benchmarks/render_bench.py).

Collected only when TRIAGE_RENDER_STATS names a file; the numbers are written there as JSON when
the answer ends. Nothing here changes what is shown.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

STATS_ENV = "TRIAGE_RENDER_STATS"


@dataclass
class RenderStats:
    path: Path
    content_events: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # content arrival -> on screen
    frame_ms: list[float] = field(default_factory=list)  # wall time of each frame
    renderer_cpu_s: float = 0.0  # thread CPU spent handling content events and frames
    first_content: float | None = None
    last_screen: float | None = None
    _waiting: list[float] = field(default_factory=list)

    @classmethod
    def from_environment(cls) -> "RenderStats | None":
        path = os.environ.get(STATS_ENV)
        return cls(Path(path)) if path else None

    def content(self) -> None:
        now = time.perf_counter()
        self.content_events += 1
        self.first_content = self.first_content or now
        self._waiting.append(now)

    def on_screen(self) -> None:
        """Everything received so far has been written and flushed."""
        now = time.perf_counter()
        self.latencies_ms.extend((now - t) * 1000 for t in self._waiting)
        self._waiting.clear()
        self.last_screen = now

    def write(self) -> None:
        span = (self.last_screen - self.first_content) if self.first_content and self.last_screen else 0.0
        self.path.write_text(json.dumps({
            "content_events": self.content_events,
            "latencies_ms": self.latencies_ms,
            "frame_ms": self.frame_ms,
            "renderer_cpu_s": self.renderer_cpu_s,
            "answer_span_s": span,
        }))
