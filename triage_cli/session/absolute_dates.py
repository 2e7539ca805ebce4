"""Replies as they are stored: "tomorrow", "today" and "yesterday" said the day an answer was
given are wrong when it is read a week later, so what is kept (the stored reply and answer
messages, the record, a ticket's reply) says the date instead: "tomorrow (Mon 07 Dec)" becomes
"Mon 07 Dec", "today at 07:10" becomes "Sun 06 Dec at 07:10". What was shown at the time, and the
customer's own words, stay as they were."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

_OFFSETS = {"today": 0, "tomorrow": 1, "yesterday": -1}
# A relative day word, and the date the offline engine puts after it in brackets, if any.
_RELATIVE = re.compile(r"\b(today|tomorrow|yesterday)\b(?:\s*\(((?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,? "
                       r"\d{1,2} [a-z]{3,9}(?: \d{4})?)\))?", re.IGNORECASE)


def absolute(text: str, today: date) -> str:
    """`text` with each relative day word replaced by the date it meant on `today`."""
    def dated(match: re.Match[str]) -> str:
        if match.group(2):
            return match.group(2)
        day = today + timedelta(days=_OFFSETS[match.group(1).lower()])
        return day.strftime("%a %d %b" if day.year == today.year else "%a %d %b %Y")

    return _RELATIVE.sub(dated, text)


def absolute_answers(messages: list[dict[str, Any]], today: date) -> list[dict[str, Any]]:
    """The turn's messages with the assistant's text dated (tool calls and results as they were)."""
    return [{**m, "content": absolute(m["content"], today)}
            if m.get("role") == "assistant" and isinstance(m.get("content"), str) else m for m in messages]
