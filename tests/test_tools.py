"""The tool registry and the order tool: schemas, validation, errors as text, concurrency."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading

import pytest

from triage_cli.errors import StoreError
from triage_cli.store.orders import OrderStore
from triage_cli.tools.orders import order_registry
from triage_cli.tools.registry import ToolRegistry, describe


@pytest.fixture
def registry(tmp_path):
    return order_registry(OrderStore.demo(tmp_path))


def call(registry, name, arguments):
    return asyncio.run(registry.call(name, arguments))


def test_the_schema_comes_from_signature_and_docstring(registry):
    [schema] = registry.schemas()
    function = schema["function"]
    assert function["name"] == "get_order_status"
    assert "status" in function["description"]
    assert function["parameters"]["properties"]["order_id"] == {"type": "string", "description": "The order id, e.g. A1002."}
    assert function["parameters"]["required"] == ["order_id"]


def test_a_lookup_returns_structured_data(registry):
    outcome = call(registry, "get_order_status", '{"order_id": "a1002"}')
    data = json.loads(outcome.content)
    assert outcome.ok and data["found"] is True
    assert {k: data[k] for k in ("order_id", "status", "carrier")} == {"order_id": "A1002", "status": "delayed", "carrier": "DHL"}
    assert "weather" in data["note"] and data["eta"] and data["last_event"]


def test_a_missing_order_is_a_clear_not_found(registry):
    data = json.loads(call(registry, "get_order_status", '{"order_id": "A9999"}').content)
    assert data == {"found": False, "order_id": "A9999", "message": "No order A9999 in the order system."}


@pytest.mark.parametrize("name, arguments, expected", [
    ("get_order_status", "{not json", "not valid JSON"),
    ("get_order_status", '["A1002"]', "must be a JSON object"),
    ("get_order_status", '{"order_id": 1002}', "must be a string"),
    ("get_order_status", "{}", "missing required argument"),
    ("get_order_status", '{"order_id": "A1", "extra": 1}', "unknown argument"),
    ("refund_order", '{"order_id": "A1002"}', "unknown tool 'refund_order'"),
    ("get_order_status", '{"order_id": ""}', "non-empty"),
    ("get_order_status", '{"order_id": "A1002.RESPONSE BODY"}', "is not an order id; order ids look like A1002"),
    ("get_order_status", '{"order_id": "my order"}', "is not an order id"),
])
def test_bad_calls_become_error_text_for_the_model(registry, name, arguments, expected):
    outcome = call(registry, name, arguments)
    assert not outcome.ok and outcome.content.startswith("error:") and expected in outcome.content


def test_a_hanging_tool_times_out_as_text():
    registry = ToolRegistry(timeout=0.2)

    async def slow(order_id: str) -> str:
        """Never answers in time."""
        await asyncio.sleep(5)
        return "late"

    registry.register(slow)
    outcome = call(registry, "slow", '{"order_id": "A1"}')
    assert not outcome.ok and "timed out after 0.2 s" in outcome.content


def test_a_raising_tool_is_reported_not_raised():
    registry = ToolRegistry()

    def broken(order_id: str) -> str:
        """Fails."""
        raise RuntimeError("disk on fire")

    registry.register(broken)
    outcome = call(registry, "broken", '{"order_id": "A1"}')
    assert not outcome.ok and "disk on fire" in outcome.content


def test_blocking_tools_of_one_round_overlap():
    registry = ToolRegistry()

    # Order of events, not timing: each call waits at a barrier that opens only once both
    # are inside it, which cannot happen if they run one after the other.
    barrier = threading.Barrier(2, timeout=30)

    def wait(order_id: str) -> str:
        """Blocks until the other call has started."""
        barrier.wait()
        return order_id

    registry.register(wait)

    async def both():
        return await asyncio.gather(registry.call("wait", '{"order_id": "a"}'),
                                    registry.call("wait", '{"order_id": "b"}'))

    assert [outcome.ok for outcome in asyncio.run(both())] == [True, True]
    assert not barrier.broken


def test_huge_results_are_truncated():
    registry = ToolRegistry()

    def big(order_id: str) -> str:
        """A lot of text."""
        return "x" * 1_000_000

    registry.register(big)
    outcome = call(registry, "big", '{"order_id": "a"}')
    assert len(outcome.content) < 20_000 and "truncated" in outcome.content


def test_describe_maps_python_types_to_json_types():
    def f(a: str, b: int, c: float = 1.0, d: bool = False) -> None:
        """Summary line.

        Args:
            a: first
            b (int): second
        """

    tool = describe(f)
    props = tool.parameters["properties"]
    assert [props[k]["type"] for k in "abcd"] == ["string", "integer", "number", "boolean"]
    assert props["b"]["description"] == "second" and tool.parameters["required"] == ["a", "b"]


def test_the_demo_store_covers_every_status_and_the_tutorial_orders(tmp_path):
    store = OrderStore.demo(tmp_path)
    ids = store.order_ids()
    assert len(ids) >= 25
    statuses = {store.lookup(i)["status"] for i in ids}
    assert {"packed", "shipped", "in_transit", "delayed", "delivered", "cancelled", "returned", "lost"} <= statuses
    assert store.lookup("A1001")["status"] == "packed"
    assert store.lookup("A1003")["last_event_at"].endswith("16:20")


def test_lookups_are_parameterised(tmp_path):
    store = OrderStore.demo(tmp_path)
    assert store.lookup("A1'; DROP TABLE orders;--") is None
    assert store.lookup("A1001") is not None


def test_a_users_own_database_with_fewer_columns_works(tmp_path):
    path = tmp_path / "mine.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (order_id TEXT PRIMARY KEY, status TEXT NOT NULL, eta TEXT)")
        db.execute("INSERT INTO orders VALUES ('Z100', 'shipped', '2030-01-02')")
    store = OrderStore.open(path)
    assert store.lookup("z100") == {"order_id": "Z100", "status": "shipped", "eta": "2030-01-02", "carrier": None,
                                    "tracking": None, "last_event": None, "last_event_at": None, "note": None,
                                    "items": None}


def test_a_database_without_an_orders_table_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE things (id TEXT)")
    with pytest.raises(StoreError, match="no usable 'orders' table"):
        OrderStore.open(path)
    with pytest.raises(StoreError, match="not found"):
        OrderStore.open(tmp_path / "absent.sqlite")


def test_the_demo_database_is_rebuilt_on_a_later_day(tmp_path):
    store = OrderStore.demo(tmp_path)
    with sqlite3.connect(tmp_path / "orders.sqlite") as db:
        db.execute("UPDATE demo_meta SET value = '2000-01-01'")
        db.execute("UPDATE orders SET status = 'stale' WHERE order_id = 'A1001'")
    assert store.lookup("A1001")["status"] == "stale"
    assert OrderStore.demo(tmp_path).lookup("A1001")["status"] == "packed"
