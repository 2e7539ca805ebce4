"""The order source when the orders live behind the shop's HTTP API (`[orders_api]`): one GET per
lookup, retried with backoff on 429 and 5xx, a 404 meaning "no such order", and the service's JSON
mapped onto triage's order record by dotted paths. Same interface as the SQLite `OrderStore`.

Blocking (urllib): the tool registry runs lookups in threads.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from triage_cli.envfile import MissingVariable, expand
from triage_cli.errors import StoreError
from triage_cli.store.orders import COLUMNS

MAX_BODY_BYTES = 1_000_000
MAX_RETRY_AFTER = 5.0  # seconds: a longer Retry-After is waited this long at most


@dataclass(frozen=True)
class OrderApiConfig:
    """`url` has `{order_id}` in it; header values may be `${ENV_VAR}`; `fields` maps a field of
    triage's order record to a dotted path in the service's JSON (unset: the same name)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    retries: int = 2
    fields: Mapping[str, str] = field(default_factory=dict)


class OrderApi:
    def __init__(self, config: OrderApiConfig, *, backoff: float = 0.5) -> None:
        self.config = config
        self.busy_timeout = config.timeout  # the order tool lowers it to its own timeout
        self.backoff = backoff  # seconds before the first retry; doubled for each next one

    def lookup(self, order_id: str) -> dict[str, str | None] | None:
        """The order's fields, or None when the service says 404."""
        data = self._get(order_id.strip())
        if data is None:
            return None
        if not isinstance(data, dict):
            raise StoreError("the order API answered with JSON that is not an object")
        record = {column: _text(_at(data, self.config.fields.get(column, column))) for column in COLUMNS}
        record["order_id"] = record["order_id"] or order_id.strip().upper()
        if record["status"] is None:
            raise StoreError(f"the order API's answer has no status at "
                             f"'{self.config.fields.get('status', 'status')}' (set [orders_api.fields] status)")
        return record

    def order_ids(self, limit: int = 1000) -> list[str]:
        """An API is not listed: no ids to complete."""
        return []

    def _get(self, order_id: str) -> Any:
        try:
            headers = {k: expand(v) for k, v in self.config.headers.items()}
        except MissingVariable as exc:
            raise StoreError(f"the order API's headers cannot be sent: {exc}") from None
        url = self.config.url.replace("{order_id}", quote(order_id, safe=""))
        request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
        timeout = min(self.config.timeout, self.busy_timeout)
        for attempt in range(self.config.retries + 1):
            last = attempt == self.config.retries
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the configured URL
                    body = response.read(MAX_BODY_BYTES + 1)
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return None
                if (exc.code == 429 or exc.code >= 500) and not last:
                    time.sleep(self._delay(attempt, exc.headers.get("Retry-After")))
                    continue
                raise StoreError(f"the order API answered HTTP {exc.code}"
                                 f"{' after retries' if attempt else ''}") from None
            except (urllib.error.URLError, TimeoutError, OSError) as exc:  # a timeout is not retried: it would only wait longer
                reason = getattr(exc, "reason", exc)
                raise StoreError(f"the order API did not answer: {reason}") from None
            if len(body) > MAX_BODY_BYTES:
                raise StoreError("the order API's answer is larger than 1 MB")
            try:
                return json.loads(body)
            except ValueError:
                raise StoreError("the order API's answer is not JSON") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        """Retry-After when the service gives one (capped), else exponential backoff."""
        try:
            return min(MAX_RETRY_AFTER, max(0.0, float(retry_after or "")))
        except ValueError:
            return float(self.backoff * 2 ** attempt)


def _at(data: Any, path: str) -> Any:
    """The value at `a.b.c` in nested objects, or None."""
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
