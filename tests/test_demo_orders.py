"""The demo orders are dated from the moment they are built: no past event lies in the future,
and nothing promised for today has already had its time (checked at injected clocks)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from triage_cli.store.demo_orders import COLLECTION, RECENT, demo_rows

DAY = datetime(2026, 3, 10)
CLOCKS = ("07:45", "00:10", "23:50", "12:00", "16:30", "06:59")


def at(clock: str) -> datetime:
    hours, minutes = map(int, clock.split(":"))
    return DAY.replace(hour=hours, minute=minutes)


@pytest.mark.parametrize("clock", CLOCKS)
def test_every_event_happened_before_the_moment_the_demo_data_is_built(clock):
    now = at(clock)
    rows = demo_rows(now)
    assert len(rows) == 28 and len({row["order_id"] for row in rows}) == 28
    for row in rows:
        assert datetime.fromisoformat(row["last_event_at"]) <= now - RECENT, (row["order_id"], row["last_event_at"])


@pytest.mark.parametrize("clock", CLOCKS)
def test_nothing_promised_for_today_has_had_its_time_already(clock):
    now = at(clock)
    rows = {row["order_id"]: row for row in demo_rows(now)}
    for row in rows.values():
        if "ships today" in row["last_event"]:
            assert row["status"] == "packed" and now.time() < COLLECTION, row
    assert ("ships today" in rows["A1001"]["last_event"]) == (now.time() < COLLECTION)
    window = re.search(r"window (\d\d):00", rows["A1022"]["last_event"])
    assert window is not None
    delivery_day = datetime.fromisoformat(rows["A1022"]["eta"])
    assert delivery_day + timedelta(hours=int(window[1])) > now  # the delivery window is still ahead
    if "Out for delivery" in rows["A1022"]["last_event"]:
        assert delivery_day.date() == now.date()


def test_the_evening_and_the_early_morning_keep_the_days_apart():
    evening = {row["order_id"]: row for row in demo_rows(at("23:50"))}
    assert evening["A1025"]["last_event_at"] == "2026-03-10T18:00"  # nothing needed moving
    assert evening["A1001"]["last_event"].endswith("ships tomorrow")
    early = {row["order_id"]: row for row in demo_rows(at("00:10"))}
    assert early["A1025"]["last_event_at"] == "2026-03-09T18:00"  # too early for today: yesterday
    morning = {row["order_id"]: row for row in demo_rows(at("07:45"))}
    assert morning["A1025"]["last_event_at"] == "2026-03-10T07:35"  # today, just before now
    assert morning["A1002"]["last_event_at"] == "2026-03-10T07:10"  # already past: unchanged
