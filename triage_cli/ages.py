"""Ages and periods people type: `30d`, `12h`, `2w`, `90m`, `45s` (history prune --older-than,
stats --since), and for a period's start a date too (`2026-12-01`). Plain: every layer may use it."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone

from triage_cli.errors import UsageError
from triage_cli.sanitize import one_line

MAX_AGE = timedelta(days=365 * 100)
_AGE = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$", re.IGNORECASE)
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str, flag: str = "--older-than") -> timedelta:
    """`30d`, `12h`, `2w`, `90m`, `45s` -> a timedelta; anything else is a usage error naming `flag`."""
    match = _AGE.match(text)
    if not match or int(match[1]) == 0:
        raise UsageError(f"{flag} takes a number above 0 and a unit (s, m, h, d, w), like 30d, "
                         f"got '{one_line(text)[:20]}'")
    age = timedelta(**{_AGE_UNITS[match[2].lower()]: int(match[1])})
    if age > MAX_AGE:
        raise UsageError(f"{flag} is at most {MAX_AGE.days // 365} years, got '{one_line(text)[:20]}'")
    return age


def age_words(text: str) -> str:
    """`30d` -> `30 days` (an age parse_age took)."""
    match = _AGE.match(text)
    assert match is not None
    number, unit = int(match[1]), _AGE_UNITS[match[2].lower()]
    return f"{number} {unit[:-1] if number == 1 else unit}"


def period_start(text: str, now: datetime, flag: str = "--since") -> datetime:
    """The start of a period: an age back from `now` (`7d`, `24h`), or a day (`2026-12-01`, from
    its midnight UTC: the same instant wherever the command or the server runs)."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return now - parse_age(text, flag)
    start = datetime.combine(day, time(), tzinfo=timezone.utc)
    if start > now:
        raise UsageError(f"{flag} {day} is in the future")
    return start
