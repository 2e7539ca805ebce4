"""What an endpoint refused, remembered between runs: a server without structured output or
without streamed tool calls costs a refused request (and a note) the first time only. Kept per
base URL (without credentials) and model in `endpoints.json` in the data directory (0600), for a
day; a later refusal of the remembered step replaces it, and `forget` (--reprobe) drops it. Only
refusals are kept: an endpoint that takes everything leaves nothing here."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from triage_cli.private_dirs import write_private
from triage_cli.providers import without_credentials

MEMORY_FILE = "endpoints.json"
KEEP = timedelta(days=1)


@dataclass(frozen=True)
class Learned:
    """The steps an endpoint settled on: `structured_output` (json_object or off: json_schema
    was refused) and `tool_rounds` (plain: streamed tool calls were refused); None: not refused."""

    structured_output: str | None
    tool_rounds: str | None
    at: str  # ISO 8601, UTC

    def until(self) -> datetime:
        return datetime.fromisoformat(self.at) + KEEP


class EndpointMemory:
    def __init__(self, home: Path, clock: Callable[[], datetime] | None = None) -> None:
        self.path = home / MEMORY_FILE
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    @staticmethod
    def key(base_url: str, model: str) -> str:
        url = without_credentials(base_url).partition("?")[0].partition("#")[0]  # nothing secret in the file
        return f"{url.rstrip('/')} {model}"

    def recall(self, base_url: str, model: str) -> Learned | None:
        """What this endpoint refused, unless it was learned more than a day ago."""
        found = self._read().get(self.key(base_url, model))
        if not isinstance(found, dict):
            return None
        try:
            learned = Learned(found.get("structured_output"), found.get("tool_rounds"), str(found["at"]))
            return learned if learned.until() > self.clock() else None
        except (KeyError, TypeError, ValueError):
            return None  # not ours to read

    def learn(self, base_url: str, model: str, *, structured_output: str | None, tool_rounds: str | None) -> None:
        """Remember the steps an endpoint settled on (nothing refused: forget it)."""
        entries = self._read()
        key = self.key(base_url, model)
        if structured_output is None and tool_rounds is None:
            entries.pop(key, None)
        else:
            entries[key] = asdict(Learned(structured_output, tool_rounds, self.clock().isoformat()))
        self._write(entries)

    def forget(self, base_url: str, model: str) -> bool:
        """Drop what this endpoint refused; whether anything was remembered."""
        entries = self._read()
        if entries.pop(self.key(base_url, model), None) is None:
            return False
        self._write(entries)
        return True

    def _read(self) -> dict[str, Any]:
        try:
            found = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # none yet, or unreadable: probe again, which rewrites it
        return found if isinstance(found, dict) else {}

    def _write(self, entries: dict[str, Any]) -> None:
        """Atomically, 0600: two processes never leave half a file."""
        write_private(self.path, json.dumps(entries, indent=1, sort_keys=True).encode("utf-8"))
