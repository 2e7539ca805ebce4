"""The shape of an order id: the `order_id_pattern` setting, compiled once when the settings load
and handed to everything that recognises ids (--order, /order, the scan of a message, chat's
completion, the engines). Ids are matched ignoring case, as the order store looks them up."""

from __future__ import annotations

import re
from functools import lru_cache

DEFAULT_ORDER_ID_PATTERN = r"[A-Za-z][0-9]{3,9}"


def compile_order_id_pattern(text: str) -> re.Pattern[str]:
    """The pattern for one whole id; ValueError (saying why) for one that is not a usable
    regular expression or that matches the empty string (it would find ids everywhere)."""
    try:
        pattern = re.compile(text, re.IGNORECASE)
        scanner(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValueError(f"not a valid regular expression ({exc})") from None
    if pattern.fullmatch(""):
        raise ValueError("it matches the empty string")
    return pattern


@lru_cache(maxsize=8)
def scanner(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """`pattern` as a whole word in a text: not part of a longer run of letters and digits, so
    XA10022 holds no A1002."""
    return re.compile(rf"(?<![A-Za-z0-9])(?:{pattern.pattern})(?![A-Za-z0-9])", pattern.flags)


ORDER_ID_PATTERN = compile_order_id_pattern(DEFAULT_ORDER_ID_PATTERN)
