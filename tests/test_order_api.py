"""Orders from the shop's HTTP API (`[orders_api]`, issue 18) against a local HTTP server the test
starts: found (with the field mapping and a header from the environment), 404, 500 then success,
a timeout, bad JSON, and 5xx after the retries, which the offline engine escalates."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from triage_cli.errors import ConfigError, StoreError
from triage_cli.store.order_api import OrderApi, OrderApiConfig

ORDER = {"id": "A1002", "fulfillment": {"state": "delayed", "carrier": "DHL"},
         "delivery": {"expected": "2026-12-02"}, "memo": "Held by weather at the hub", "items": ["mug", "tea"]}
FIELDS = {"order_id": "id", "status": "fulfillment.state", "carrier": "fulfillment.carrier",
          "eta": "delivery.expected", "note": "memo"}


class ShopApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str | None]] = []  # (path, Authorization)
        self.flaky_left = 1  # /orders/R1005 fails this many times first


class _Handler(BaseHTTPRequestHandler):
    server: ShopApi

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        self.server.requests.append((self.path, self.headers.get("Authorization")))
        order_id = self.path.rsplit("/", 1)[-1]
        if order_id == "A1002":
            self._send(200, json.dumps(ORDER).encode())
        elif order_id == "R1005" and self.server.flaky_left:
            self.server.flaky_left -= 1
            self._send(500, b"{}")
        elif order_id == "R1005":
            self._send(200, json.dumps({**ORDER, "id": "R1005", "fulfillment": {"state": "shipped"}}).encode())
        elif order_id == "B4290":
            self._send(429, b"{}", {"Retry-After": "0"})
        elif order_id == "D5030":
            self._send(503, b"{}")
        elif order_id == "X1000":
            self._send(200, b"<html>maintenance</html>")
        elif order_id == "S1000":
            time.sleep(5)
            self._send(200, json.dumps(ORDER).encode())
        else:
            self._send(404, b'{"error": "not found"}')

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def shop() -> Iterator[ShopApi]:
    api = ShopApi()
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    yield api
    api.shutdown()
    api.server_close()
    thread.join()


def url(shop: ShopApi) -> str:
    return f"http://127.0.0.1:{shop.server_address[1]}/api/orders/{{order_id}}"


def test_found_mapped_404_retried_and_failures(shop: ShopApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_API_TOKEN", "tok-123")
    api = OrderApi(OrderApiConfig(url=url(shop), headers={"Authorization": "Bearer ${SHOP_API_TOKEN}"},
                                  timeout=0.5, retries=2, fields=FIELDS), backoff=0.01)
    found = api.lookup("A1002")
    assert found is not None
    assert (found["order_id"], found["status"], found["carrier"], found["eta"], found["note"]) == (
        "A1002", "delayed", "DHL", "2026-12-02", "Held by weather at the hub")
    assert found["items"] == "mug, tea" and found["tracking"] is None  # unmapped: the same name, or empty
    assert shop.requests[-1] == ("/api/orders/A1002", "Bearer tok-123")
    assert api.lookup("Z9999") is None  # 404: no such order
    assert api.lookup("R1005") == {**found, "order_id": "R1005", "status": "shipped", "carrier": None}
    assert [p for p, _ in shop.requests].count("/api/orders/R1005") == 2  # the 500, then the answer
    with pytest.raises(StoreError, match="HTTP 503 after retries"):
        api.lookup("D5030")
    assert [p for p, _ in shop.requests].count("/api/orders/D5030") == 3
    with pytest.raises(StoreError, match="HTTP 429"):
        api.lookup("B4290")
    with pytest.raises(StoreError, match="not JSON"):
        api.lookup("X1000")
    with pytest.raises(StoreError, match="did not answer"):
        api.lookup("S1000")


def test_ask_answers_from_the_api_and_escalates_when_it_fails(
        shop: ShopApi, run_triage: Any, triage_env: dict[str, str]) -> None:
    fields = "\n".join(f'{k} = "{v}"' for k, v in FIELDS.items())
    Path(triage_env["TRIAGE_CONFIG"]).write_text(
        f'[orders_api]\nurl = "{url(shop)}"\ntimeout = 2\nretries = 1\n[orders_api.fields]\n{fields}\n')
    found = run_triage("ask", "--order", "A1002", "--json", "where is it")
    assert found.code == 0 and found.out, (found.code, found.out, found.err)
    record = json.loads(found.out)["triage"]
    assert (record["order_id"], record["status"]) == ("A1002", "delayed")
    assert "weather" in json.loads(found.out)["reply"]
    failed = run_triage("ask", "--order", "D5030", "--json", "where is it")
    summary = json.loads(failed.out)
    assert summary["triage"]["next_step"] == "escalate"
    assert "HTTP 503" in summary["reply"]
    # The record says what happened: the id was given, the order system could not be read.
    assert summary["triage"]["issue"] == "order system unavailable"
    assert "D5030 could not be read from the order system" in summary["triage"]["summary"]


def test_orders_api_settings_are_checked(run_triage: Any, triage_env: dict[str, str]) -> None:
    config = Path(triage_env["TRIAGE_CONFIG"])
    for text, message in [('[orders_api]\nurl = "https://shop.example/api/orders"\n', "{order_id}"),
                          ('[orders_api]\nurl = "https://s/{order_id}"\ntimeout = "x"\n', "timeout must be"),
                          ('[orders_api]\nurl = "https://s/{order_id}"\n[orders_api.fields]\nprice = "p"\n',
                           "fields.price is not an order field")]:
        config.write_text(text)
        from triage_cli.config import load_settings

        with pytest.raises(ConfigError, match=message):
            load_settings({}, environ=triage_env)
