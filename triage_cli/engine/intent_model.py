"""A small linear classifier behind the intent rules: does a message ask for something the order
data cannot settle? Hashed word and character n-grams, logistic regression, trained from the
shipped dev cases by scripts/train_intent_model.py; the weights ship as intent_weights.json.

It decides only where the rules read no topic, biased toward escalating, as a missed escalation is
the expensive mistake and a needless one is cheap: a message with no question the order data
answers ("this is not acceptable, sort it out") escalates unless the classifier is sure it asks for
nothing (its `threshold` is well below one half); one with such a question ("where is it?")
escalates only when the classifier is sure it asks for more (`sure`, near one). The weights are
read on first use, not at import, so `ask` pays for them only when the rules find no topic.
"""

from __future__ import annotations

import array
import base64
import json
import math
import re
import zlib
from functools import cache
from pathlib import Path
from typing import Any

BUCKETS = 1 << 18
WEIGHTS = Path(__file__).with_name("intent_weights.json")  # package data, shipped in the wheel
_ORDER_ID = re.compile(r"\b[a-z]\d{3,}\b")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|<id>")


def features(text: str) -> list[int]:
    """The hashed features of `text`: words, word pairs and the 3-5 letter pieces of each word."""
    words = _WORD.findall(_ORDER_ID.sub("<id>", text.lower()))
    grams = [f"w:{w}" for w in words] + [f"b:{a} {b}" for a, b in zip(words, words[1:])]
    for word in words:
        padded = f"<{word}>"
        grams += [f"c:{padded[i:i + n]}" for n in (3, 4, 5) for i in range(len(padded) - n + 1)]
    return sorted({zlib.crc32(gram.encode()) % BUCKETS for gram in grams})


def scale(feats: list[int]) -> float:
    """Each feature's value: a long message's many small weights must not add up to certainty."""
    return 8 / math.sqrt(max(64, len(feats)))


def probability(weights: dict[int, float], bias: float, feats: list[int]) -> float:
    score = bias + scale(feats) * sum(weights.get(f, 0.0) for f in feats)
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, score))))


def pack(values: list[int] | list[float], typecode: str) -> str:
    """Numbers as base64 of a machine array: read back in a millisecond, where a JSON list takes ten."""
    return base64.b64encode(array.array(typecode, values).tobytes()).decode("ascii")


def _unpack(text: str, typecode: str) -> array.array[Any]:
    values = array.array(typecode)
    values.frombytes(base64.b64decode(text))
    return values


@cache
def _model() -> tuple[dict[int, float], float, float, float]:
    data: dict[str, Any] = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    weights = dict(zip(_unpack(data["buckets"], "i"), _unpack(data["weights"], "f")))
    return weights, float(data["bias"]), float(data["threshold"]), float(data["sure"])


def request_probability(text: str) -> float:
    """How much the classifier reads `text` as a request or complaint to escalate (0 to 1); 0.5
    without shipped weights."""
    try:
        weights, bias, _, _ = _model()
    except (OSError, ValueError, KeyError):
        return 0.5
    return probability(weights, bias, features(text))


def asks_for_action(text: str, *, sure: bool = False) -> bool:
    """Whether the classifier reads `text` as a request or complaint to escalate; with `sure`, only
    when it is sure of it (the rules read a question the order data answers)."""
    try:
        weights, bias, threshold, sure_at = _model()
    except (OSError, ValueError, KeyError):  # no weights shipped: the rules decide alone
        return not sure  # and what they cannot read at all goes to a person
    return probability(weights, bias, features(text)) >= (sure_at if sure else threshold)
