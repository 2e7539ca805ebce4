"""What keeping conversations costs, and how it scales. Run by hand:

    python benchmarks/history_bench.py                 # 1,000 conversations of 3 turns
    python benchmarks/history_bench.py --conversations 5000

Every turn of every answer is stored (store/sessions.py): the question when it starts, the reply
so far about once a second, the rest in one transaction at the end. This measures those writes
against the time of an offline answer measured in the same run, then fills a data directory and
times the reads `triage history` does, comparing a full database with a one-conversation one, so
the figures are ratios that hold on a shared, noisy machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from triage_cli.store.database import DATABASE_NAME  # noqa: E402
from triage_cli.store.sessions import SessionStore  # noqa: E402

TARGETS = {
    "turn_vs_answer": 0.10,  # storing a turn costs at most a tenth of an offline answer
    "partial_ms": 5.0,  # one partial save
    "list_ratio": 1.5,  # `triage history` on a full database / on a one-conversation one
    "kib_per_turn": 16.0,
}

REPLY = ("Order **A1002** is delayed by one day due to weather at the carrier's hub. " * 12).strip()
RESULT = ('{"found": true, "order_id": "A1002", "status": "delayed", "carrier": "DHL", "eta": "2026-11-22", '
          '"last_event": "Held at the Manchester hub: severe weather", "note": "Delayed by one day"}')


def store_turn(store: SessionStore, conversation_id: int | None, number: int, partials: int = 0) -> int:
    question = {"role": "user", "content": f"Order A{1000 + number % 900}: it still hasn't arrived, where is it?"}
    turn = store.begin_turn(conversation_id, source="chat", provider="openai", model="gpt-4.1-mini", question=question)
    for i in range(partials):
        store.save_partial(turn, REPLY[: (i + 1) * len(REPLY) // max(partials, 1)])
    arguments = '{"order_id": "A1002"}'
    messages = [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_order_status", "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": RESULT},
        {"role": "assistant", "content": REPLY},
    ]
    record = {"order_id": "A1002", "issue": "late delivery", "status": "delayed", "next_step": "answer",
              "summary": "A1002 is delayed by a day.", "ticket": None}
    usage = {"model_calls": 2, "prompt_tokens": 812, "completion_tokens": 95, "ttft_ms": 640.2, "total_ms": 1710.5}
    store.finish_turn(turn, complete=True, messages=messages, partial=REPLY,
                      tool_calls=[{"name": "get_order_status", "arguments": arguments, "ok": True, "result": RESULT,
                                   "duration_ms": 2.1}],
                      record=record, usage=usage, error=None, order_ids=["A1002"])
    return turn.conversation_id


def timed(action, runs: int) -> float:
    """Median milliseconds of `action()`."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def cli_ms(home: Path, *args: str, runs: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "OPENAI_"))}
    env.update({"TRIAGE_HOME": str(home), "TRIAGE_CONFIG": os.devnull, "PYTHONPATH": str(ROOT)})

    def run() -> None:
        subprocess.run([sys.executable, "-m", "triage_cli", *args], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    run()  # warm the page cache
    return timed(run, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        small, full = Path(scratch, "small"), Path(scratch, "full")
        store_turn(SessionStore(small), None, 1)
        store = SessionStore(full)
        turn_ms = timed(lambda: store_turn(store, None, 1), options.runs * 10)
        handle = store.begin_turn(None, source="ask", provider="offline", model="", question={"role": "user",
                                                                                            "content": "x"})
        partial_ms = timed(lambda: store.save_partial(handle, REPLY), options.runs * 10)
        answer_ms = cli_ms(small, "ask", "--order", "A1002", "It still hasn't arrived", runs=options.runs)
        answer_ms -= cli_ms(small, "--version", runs=options.runs)  # the answer, not Python starting

        started = time.perf_counter()
        for number in range(options.conversations):
            conversation = store_turn(store, None, number)
            store_turn(store, conversation, number + 1)
            store_turn(store, conversation, number + 2)
        fill_s = time.perf_counter() - started
        turns = options.conversations * 3
        size = sum(p.stat().st_size for p in full.iterdir() if p.name.startswith(DATABASE_NAME))

        list_ms = timed(lambda: store.list(limit=20), options.runs)
        order_ms = timed(lambda: store.list(limit=20, order_id="A1500"), options.runs)
        get_ms = timed(lambda: store.get(conversation), options.runs)
        cli_full = cli_ms(full, "history", "--json", runs=options.runs)
        cli_small = cli_ms(small, "history", "--json", runs=options.runs)

        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, median of {options.runs}+ runs\n")
        print(f"store one turn (question, then the rest in one transaction): {turn_ms:6.2f} ms")
        print(f"save a partial reply:                                        {partial_ms:6.2f} ms")
        print(f"an offline answer (`ask`, less interpreter start):           {answer_ms:6.1f} ms")
        print(f"fill {options.conversations:,} conversations / {turns:,} turns:                  {fill_s:6.1f} s "
              f"({fill_s * 1000 / turns:.2f} ms a turn)")
        print(f"database size:                                               {size / 2**20:6.1f} MiB "
              f"({size / 1024 / turns:.1f} KiB a turn)")
        print(f"list the latest 20 / about one order / load one:             {list_ms:.1f} / {order_ms:.1f} / "
              f"{get_ms:.1f} ms")
        print(f"`triage history --json`, full / one conversation:            {cli_full:.0f} / {cli_small:.0f} ms\n")
        checks = [
            ("storing a turn / an offline answer", turn_ms / answer_ms, "×", "turn_vs_answer"),
            ("one partial save", partial_ms, "ms", "partial_ms"),
            (f"`triage history` with {options.conversations:,} / 1 conversations", cli_full / cli_small, "×",
             "list_ratio"),
            ("database size per turn", size / 1024 / turns, "KiB", "kib_per_turn"),
        ]
        for label, value, unit, key in checks:
            verdict = "ok" if value <= TARGETS[key] else "OVER TARGET"
            print(f"{label:<48} {value:8.2f} {unit:<4} target ≤ {TARGETS[key]:<6} {verdict}")


if __name__ == "__main__":
    main()
