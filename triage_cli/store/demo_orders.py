"""The demo order data a fresh install starts with, dated relative to the moment it is created.

The rows read as a day seen from the evening. Created earlier, no event may lie in the future:
today's events later than a few minutes ago move back to just before now, or to yesterday when
the day has only begun, and what is promised for today (a collection, a delivery window) is
promised only while it can still happen."""

from __future__ import annotations

from datetime import datetime, time, timedelta

# (order_id, status, carrier, eta offset in days or None, last event, event day offset, event time, note, items)
_Row = tuple[str, str, str | None, int | None, str, int, str, str, str]
_ROWS: list[_Row] = [
    ("A1001", "packed", "UPS", 2, "Packed at the Leeds warehouse; ships {collection}", 0, "08:45",
     "Ships with the afternoon collection on the day it is packed.", "Espresso machine"),
    ("A1002", "delayed", "DHL", 1, "Held at the Manchester hub: severe weather", 0, "07:10",
     "Delayed by one day due to weather at the carrier's hub.", "Running shoes"),
    ("A1003", "delivered", "Royal Mail", -1, "Delivered, signed for by R. PATEL", -1, "16:20",
     "", "Wireless headphones"),
    ("A1004", "shipped", "DPD", 3, "Collected by DPD from the warehouse", 0, "11:30",
     "", "Desk lamp"),
    ("A1005", "in_transit", "UPS", 1, "Arrived at the local delivery depot", 0, "05:55",
     "", "Yoga mat, water bottle"),
    ("A1006", "delivered", "Evri", -3, "Delivered to the front porch (photo taken)", -3, "12:02",
     "", "Phone case"),
    ("A1007", "cancelled", None, None, "Cancelled at the customer's request", -2, "09:14",
     "Refund of the full amount issued to the original card.", "Bluetooth speaker"),
    ("A1008", "returned", "Royal Mail", None, "Return received and inspected at the warehouse", -1, "14:40",
     "Refund approved; it reaches the card in 3-5 working days.", "Winter jacket (size M)"),
    ("A1009", "lost", "Evri", None, "Carrier investigation closed: parcel lost in transit", -2, "10:00",
     "Carrier confirmed the parcel is lost; a replacement or refund needs approval.", "Smart watch"),
    ("A1010", "in_transit", "DHL", 2, "Departed the Birmingham sorting centre", -1, "22:35",
     "", "Board games (x3)"),
    ("A1011", "delayed", "UPS", 3, "Address could not be verified by the carrier", -1, "15:20",
     "Delayed by two days while the carrier verifies the address.", "Office chair"),
    ("A1012", "packed", "DPD", 3, "Packed; waiting for carrier collection", 0, "10:05",
     "Ships with the next carrier collection.", "Coffee beans (2 kg)"),
    ("A1013", "shipped", "Royal Mail", 2, "Handed to Royal Mail", 0, "13:15", "", "Paperback books (x4)"),
    ("A1014", "delivered", "DPD", -7, "Delivered to a neighbour at number 12", -7, "18:45",
     "", "Kettle"),
    ("A1015", "in_transit", "Evri", 1, "At the regional hub", 0, "03:20", "", "T-shirts (x2)"),
    ("A1016", "delayed", "DHL", 4, "Customs inspection", -1, "12:00",
     "Delayed in customs; inspections usually take 2-4 days.", "Camera lens"),
    ("A1017", "cancelled", None, None, "Cancelled: payment was declined", -4, "17:30",
     "Payment declined three times; the customer was emailed.", "Gaming keyboard"),
    ("A1018", "returned", "UPS", None, "Return in transit to the warehouse", -1, "09:50",
     "Refund is issued when the return is inspected.", "Hiking boots"),
    ("A1019", "lost", "Royal Mail", None, "No tracking scans for 10 days", -10, "08:00",
     "Tracking stopped at the Glasgow depot; a claim with the carrier is open.", "Perfume"),
    ("A1020", "shipped", "UPS", 4, "Label created and parcel collected", 0, "16:05", "", "Blender"),
    ("A1021", "delivered", "Royal Mail", -2, "Delivered to the parcel locker", -2, "11:11",
     "Locker code was sent by text message.", "Vitamins"),
    ("A1022", "in_transit", "DPD", 0, "{delivery}", 0, "08:30",
     "", "Monitor stand"),
    ("A1023", "packed", "Evri", 2, "Packed at the Leeds warehouse", 0, "09:40", "", "Bath towels"),
    ("A1024", "delivered", "DHL", -14, "Delivered, signed for by J. SMITH", -14, "10:25", "", "Laptop sleeve"),
    ("A1025", "delayed", "Royal Mail", 2, "Missed the scheduled collection", 0, "18:00",
     "Delayed by one day: the parcel missed its scheduled collection.", "Plant pot set"),
    ("A1026", "shipped", "DHL", 5, "Shipped from the EU warehouse", -1, "19:45",
     "International shipment; may incur import fees.", "Espresso cups"),
    ("A1027", "returned", "Evri", None, "Refused by the recipient and returned", -3, "13:00",
     "", "Curtains"),
    ("A1028", "in_transit", "Royal Mail", 1, "In transit to the delivery office", 0, "06:40", "", "Notebook set"),
]

_TRACKING_PREFIX = {"UPS": "1Z", "DHL": "JD", "DPD": "15", "Royal Mail": "RM", "Evri": "H0"}


RECENT = timedelta(minutes=10)  # the latest event happened at least this long ago
STAGGER = timedelta(minutes=7)  # between the events moved back, so they keep their order
COLLECTION = time(16, 0)  # the afternoon carrier collection ("ships today")
FIRST_ROUND, LAST_WINDOW = time(7, 0), 19  # delivery rounds: from 07:00, the last window at 19:00


def demo_rows(now: datetime | None = None) -> list[dict[str, str | None]]:
    """The demo orders as column dicts, with times counted from `now` (local time)."""
    now = (now or datetime.now()).replace(second=0, microsecond=0)
    today = now.date()
    latest = now - RECENT
    late = sorted((time.fromisoformat(row[6]), row[0]) for row in _ROWS if row[5] == 0
                  and datetime.combine(today, time.fromisoformat(row[6])) > latest)
    # Moved back one after another, unless that would cross midnight: then to yesterday.
    room = latest - STAGGER * len(late) >= datetime.combine(today, time(0, 0))
    moved = {order_id: latest - STAGGER * (len(late) - 1 - n) if room else
             datetime.combine(today - timedelta(days=1), at) for n, (at, order_id) in enumerate(late)}
    rows = []
    for number, (order_id, status, carrier, eta, event, event_day, event_time, note, items) in enumerate(_ROWS):
        event_at = moved.get(order_id) or datetime.combine(today + timedelta(days=event_day),
                                                           time.fromisoformat(event_time))
        if event == "{delivery}":
            event, eta = _delivery_round(now)
        rows.append({
            "order_id": order_id,
            "status": status,
            "carrier": carrier,
            "tracking": f"{_TRACKING_PREFIX[carrier]}{7340021 + number * 7919:09d}" if carrier else None,
            "eta": (today + timedelta(days=eta)).isoformat() if eta is not None else None,
            "last_event": event.format(collection="today" if now.time() < COLLECTION else "tomorrow"),
            "last_event_at": event_at.isoformat(timespec="minutes"),
            "note": note or None,
            "items": items,
        })
    return rows


def _delivery_round(now: datetime) -> tuple[str, int]:
    """An out-for-delivery event whose window is still ahead: (event, eta in days)."""
    start = max(14, now.hour + 2)
    if now.time() >= FIRST_ROUND and start <= LAST_WINDOW:
        return f"Out for delivery: 1-hour window {start:02d}:00-{start + 1:02d}:00", 0
    day = "today" if now.time() < FIRST_ROUND else "tomorrow"
    return f"At the delivery office; out for delivery {day}, 1-hour window 10:00-11:00", int(day == "tomorrow")
