"""Realistic Markdown answers of a given size, for the streaming tests and the benchmark."""

from __future__ import annotations

import random

CHARS_PER_TOKEN = 4  # the scripted server sends one chunk of this many characters per token

WORDS = ("order parcel carrier delivery tracking customer weather hub depot courier label address "
         "refund update window estimate tomorrow signed warehouse scanned route van driver").split()


def realistic_markdown(tokens: int, seed: int = 1) -> str:
    """About `tokens` tokens of the Markdown a support answer holds."""
    rng = random.Random(seed)

    def sentence() -> str:
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 14))]
        if rng.random() < 0.3:
            words[rng.randrange(len(words))] = f"**{rng.choice(WORDS)}**"
        if rng.random() < 0.2:
            words[rng.randrange(len(words))] = f"`A{rng.randint(1000, 1999)}`"
        return " ".join(words).capitalize() + "."

    blocks: list[str] = []
    size = 0
    while size < tokens * CHARS_PER_TOKEN:
        kind = rng.random()
        if kind < 0.12:
            block = f"## {sentence()[:-1]}"
        elif kind < 0.5:
            block = " ".join(sentence() for _ in range(rng.randint(2, 5)))
        elif kind < 0.72:
            block = "\n".join(f"- {sentence()}" for _ in range(rng.randint(3, 6)))
        elif kind < 0.82:
            block = "\n".join(f"{i}. {sentence()}" for i in range(1, rng.randint(3, 6)))
        elif kind < 0.94:
            lines = [f"    status = lookup('A{rng.randint(1000, 1999)}')  # {rng.choice(WORDS)}"
                     for _ in range(rng.randint(4, 12))]
            block = "```python\ndef check():\n" + "\n".join(lines) + "\n```"
        else:
            rows = [f"| A{rng.randint(1000, 1999)} | {rng.choice(WORDS)} | {rng.randint(1, 9)} days |"
                    for _ in range(rng.randint(2, 5))]
            block = "| order | state | wait |\n|---|---|---|\n" + "\n".join(rows)
        blocks.append(block)
        size += len(block) + 2
    return "\n\n".join(blocks) + "\n"
