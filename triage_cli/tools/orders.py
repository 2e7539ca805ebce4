"""The order tool: what the engine (model or offline rules) uses to look an order up."""

from __future__ import annotations

import re
from typing import Any

from triage_cli.order_ids import ORDER_ID_PATTERN
from triage_cli.store.orders import OrderSource
from triage_cli.tools.registry import ToolRegistry

ORDER_TOOL = "get_order_status"


class OrderTools:
    def __init__(self, store: OrderSource, order_id_pattern: re.Pattern[str] = ORDER_ID_PATTERN) -> None:
        self.store = store
        self.order_id_pattern = order_id_pattern

    def get_order_status(self, order_id: str) -> dict[str, Any]:
        """Look up one order in the order system: its status, carrier, tracking number, estimated
        delivery date (eta), latest tracking event and any note from the team.

        Args:
            order_id: The order id, e.g. A1002.
        """
        wanted = order_id.strip().upper()
        if not wanted or len(wanted) > 64:
            raise ValueError("order_id must be a non-empty id of at most 64 characters, e.g. A1002")
        if not self.order_id_pattern.fullmatch(wanted):
            # Not "not found": a small model's mangled id is a mistake it can correct, and no
            # lookup happened (engine/record.py leaves such a call out of the record).
            shape = "like A1002" if self.order_id_pattern.pattern == ORDER_ID_PATTERN.pattern \
                else f"matching {self.order_id_pattern.pattern}"
            raise ValueError(f"{wanted[:20]!r} is not an order id; order ids look {shape}")
        order = self.store.lookup(wanted)
        if order is None:
            return {"found": False, "order_id": wanted, "message": f"No order {wanted} in the order system."}
        return {"found": True, **{key: value for key, value in order.items() if value is not None}}


def order_registry(store: OrderSource, *, timeout: float = 10.0,
                   order_id_pattern: re.Pattern[str] = ORDER_ID_PATTERN) -> ToolRegistry:
    """A registry holding the order tool, backed by `store`."""
    registry = ToolRegistry(timeout=timeout)
    # A lookup stuck on a locked database gives up with its call, not seconds after it.
    store.busy_timeout = min(store.busy_timeout, timeout)
    registry.register(OrderTools(store, order_id_pattern).get_order_status, name=ORDER_TOOL)
    return registry
