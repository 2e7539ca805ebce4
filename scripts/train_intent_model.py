"""Train the offline engine's intent classifier (triage_cli/engine/intent_model.py) from the
shipped dev cases and the outsider parts once they were scored (TRAINED_ON), and write
triage_cli/engine/intent_weights.json. The held-out test cases are never read here, nor the cases
that escalate for the data's sake (a missing or lost order).

    python scripts/train_intent_model.py

The classifier decides only where the rules read no topic, biased to escalate (a missed escalation
costs more than a needless one): with no question the data answers, a message escalates from
THRESHOLD (well below one half); with one, only from SURE (near one). 5-fold cross-validation on
dev prints how well it separates the classes on its own.
"""

from __future__ import annotations

import json
import math
import random

from triage_cli.engine.intent_model import WEIGHTS, features, pack, probability, scale
from triage_cli.eval.cases import Case, load_cases
from triage_cli.order_ids import ORDER_ID_PATTERN
from triage_cli.store.demo_orders import demo_rows

OUT = WEIGHTS
EPOCHS, RATE, L2, FOLDS, THRESHOLD, SURE, SEEDS = 10, 0.05, 1e-2, 5, 0.1, 0.95, 5
# An outsider part joins the training data only after its first score is in the README.
TRAINED_ON = ("dev", "blind", "blind2", "blind3", "blind4", "blind5", "blind6", "blind7", "blind8", "blind9", "blind10", "blind11", "blind12", "blind13",
              "blind14", "blind15", "blind16", "blind17")


def train(rows: list[tuple[list[int], int]]) -> tuple[dict[int, float], float]:
    """The mean of SEEDS models trained in different orders: one order's luck must not decide
    whether a borderline question escalates (a linear model's mean is the mean of their scores)."""
    models = [train_once(rows, seed) for seed in range(SEEDS)]
    buckets = set().union(*(weights for weights, _ in models))
    mean = {f: sum(weights.get(f, 0.0) for weights, _ in models) / SEEDS for f in buckets}
    return mean, sum(bias for _, bias in models) / SEEDS


def train_once(rows: list[tuple[list[int], int]], seed: int) -> tuple[dict[int, float], float]:
    weights: dict[int, float] = {}
    bias = 0.0
    order = list(range(len(rows)))
    rng = random.Random(seed)
    for _ in range(EPOCHS):
        rng.shuffle(order)
        for i in order:
            feats, label = rows[i]
            error = probability(weights, bias, feats) - label
            bias -= RATE * error
            value = scale(feats)
            for f in feats:
                w = weights.get(f, 0.0)
                weights[f] = w - RATE * (error * value + L2 * w)
    return weights, bias


def decided_by_the_text(case: Case, statuses: dict[str, str]) -> bool:
    """Whether the case's label comes from its words: a missing order or a lost parcel escalates
    whatever is asked, so "Where is A1019?" would teach the classifier that "where is" escalates."""
    ids = [i.upper() for i in ORDER_ID_PATTERN.findall(case.message)] + ([case.order.upper()] if case.order else [])
    return all(statuses.get(i) not in (None, "lost") for i in ids)


def main() -> None:
    statuses = {str(row["order_id"]): str(row["status"]) for row in demo_rows()}
    cases = [c for part in TRAINED_ON for c in load_cases(part) if decided_by_the_text(c, statuses)]
    rows = [(features(c.message), int(c.next_step == "escalate")) for c in cases]
    folds = [rows[i::FOLDS] for i in range(FOLDS)]
    right_out_of_fold = 0
    for k in range(FOLDS):
        weights, bias = train([row for j, fold in enumerate(folds) if j != k for row in fold])
        right_out_of_fold += sum((probability(weights, bias, f) >= THRESHOLD) == bool(y) for f, y in folds[k])
    threshold = THRESHOLD
    weights, bias = train(rows)
    kept = {f: round(w, 4) for f, w in sorted(weights.items()) if abs(w) >= 1e-3}
    OUT.write_text(json.dumps({"bias": round(bias, 4), "threshold": round(threshold, 4), "sure": SURE,
                               "buckets": pack(list(kept), "i"), "weights": pack(list(kept.values()), "f")},
                              separators=(",", ":")) + "\n")
    right = sum((probability(weights, bias, f) >= threshold) == bool(y) for f, y in rows)
    print(f"{len(rows)} dev cases decided by their text, {len(kept)} weights, threshold {threshold} (sure {SURE}), training accuracy "
          f"{right / len(rows):.3f}, {FOLDS}-fold out-of-fold accuracy {right_out_of_fold / len(rows):.3f}")
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB); mean |w| "
          f"{sum(map(abs, weights.values())) / max(1, len(weights)):.3f}, log-loss "
          f"{-sum(math.log(max(1e-9, probability(weights, bias, f) if y else 1 - probability(weights, bias, f))) for f, y in rows) / len(rows):.3f}")


if __name__ == "__main__":
    main()
