"""What keeping conversations costs, and how it scales. Run by hand:

    python benchmarks/history_bench.py                 # 1,000 conversations of 3 turns
    python benchmarks/history_bench.py --conversations 5000
    python benchmarks/history_bench.py --database-url postgresql://triage@/bench?host=/run/postgresql

Every turn of every answer is stored (store/sessions.py): the question when it starts, the reply
so far about once a second, the rest in one transaction at the end. This measures those writes
against the time of an offline answer measured in the same run, then fills a data directory and
times the reads `triage history` does, comparing a full database with a one-conversation one, so
the figures are ratios that hold on a shared, noisy machine.

Then the two backends in the same run: storing a turn and listing history on PostgreSQL against
SQLite (each filled with the same conversations), and the ticket queue's claims per second with 8
processes claiming at once on each. PostgreSQL is the server at --database-url (an empty database:
the run fills it), or else a throwaway one started like the tests' (tests/postgres_server.py);
`--no-postgres` leaves the comparison out.
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

from triage_cli.store.database import DATABASE_NAME, Database, SqliteDatabase  # noqa: E402
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


def timed_pair(actions: list, runs: int) -> tuple[float, float]:
    """Median milliseconds of each of two actions, their runs taken in turn."""
    samples: list[list[float]] = [[], []]
    for _ in range(runs):
        for action, found in zip(actions, samples):
            started = time.perf_counter()
            action()
            found.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples[0]), statistics.median(samples[1])


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
    parser.add_argument("--database-url", help="an empty PostgreSQL database to compare with SQLite")
    parser.add_argument("--no-postgres", action="store_true", help="leave the PostgreSQL comparison out")
    parser.add_argument("--tickets", type=int, default=800, help="tickets the 8 claimers empty")
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
        if not options.no_postgres:
            compare_backends(options, Path(scratch))


CLAIMERS = 8
CLAIMER = """
import sys, time
from pathlib import Path
from triage_cli.errors import NotFound
from triage_cli.store.database import open_database
from triage_cli.store.tickets import TicketStore
target, start_at = sys.argv[1], float(sys.argv[2])
store = TicketStore(open_database(Path(target), target if '://' in target else None))
store.list(limit=1)  # connected (and the pool filled) before the start
ready = time.time()
time.sleep(max(0.0, start_at - ready))
claimed, last = 0, start_at
while True:
    try:
        store.claim("bench")
    except NotFound:
        break
    claimed, last = claimed + 1, time.time()
print(claimed, last, ready)
"""


def claims_per_second(database: Database, target: str, tickets: int) -> float:
    """`tickets` open tickets emptied by CLAIMERS processes at once, all starting at one moment."""
    from triage_cli.engine.events import TriageRecord
    from triage_cli.store.tickets import TicketStore

    store = TicketStore(database)
    record = TriageRecord("A1009", "lost parcel", "lost", "escalate", "A1009 is lost.")
    for _ in range(tickets):
        store.open_ticket(record, question="Where is my parcel?", reply="It is lost; a person will look.")
    start_at = time.time() + 6.0  # every process has started and connected by then
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen([sys.executable, "-c", CLAIMER, target, str(start_at)], stdout=subprocess.PIPE,
                                text=True, env=env) for _ in range(CLAIMERS)]
    results = [worker.communicate(timeout=600)[0].split() for worker in workers]
    claimed = sum(int(count) for count, _, _ in results)
    assert claimed == tickets, (claimed, tickets)
    late = sum(float(ready) > start_at for _, _, ready in results)
    if late:
        print(f"  ({late} of the {CLAIMERS} claimers were not ready at the start: the machine is busy)")
    return claimed / (max(float(last) for _, last, _ in results) - start_at)


def compare_backends(options: argparse.Namespace, scratch: Path) -> None:
    server = None
    url = options.database_url
    if not url:
        sys.path.insert(0, str(ROOT / "tests"))
        from postgres_server import PostgresServer, Unavailable

        try:
            server = PostgresServer()
            server.start(durable=True)  # fsync on, as SQLite's commits are
        except Unavailable as exc:
            print(f"\nPostgreSQL comparison left out: {exc}")
            return
        url = server.new_database()
    from triage_cli.store.postgres import PostgresDatabase

    postgres = PostgresDatabase(url, max_size=1)
    try:
        stores = [SessionStore(SqliteDatabase(scratch / "compare")), SessionStore(postgres)]
        for store in stores:
            store_turn(store, None, 1)  # migrated, connected
            for number in range(options.conversations):
                conversation = store_turn(store, None, number)
                store_turn(store, conversation, number + 1)
                store_turn(store, conversation, number + 2)
        # Each figure's samples alternate between the backends: a busy moment of a shared machine
        # falls on both alike.
        rows = [
            ("store one turn (ms)", *timed_pair([lambda s=s: store_turn(s, None, 1) for s in stores], options.runs * 10)),
            ("list the latest 20 (ms)", *timed_pair([lambda s=s: s.list(limit=20) for s in stores], options.runs * 3)),
            ("list about one order (ms)",
             *timed_pair([lambda s=s: s.list(limit=20, order_id="A1500") for s in stores], options.runs * 3)),
        ]
        claims = {}
        claims["SQLite"] = claims_per_second(SqliteDatabase(scratch / "queue"), str(scratch / "queue"), options.tickets)
        queue_url = server.new_database() if server else url
        queue = PostgresDatabase(queue_url, max_size=1)
        try:
            if not server:  # one database given: the comparison's tickets are there already
                close_all_tickets(queue)
            claims["PostgreSQL"] = claims_per_second(queue, queue_url, options.tickets)
        finally:
            queue.close()
    finally:
        postgres.close()
        if server:
            server.stop()
            server.remove()
    print(f"\nSQLite against PostgreSQL ({'at --database-url' if options.database_url else 'a local server on a unix socket'}),"
          f" each with {options.conversations:,} conversations / {options.conversations * 3:,} turns:")
    print(f"{'':<36}{'SQLite':>10}{'PostgreSQL':>12}{'ratio':>8}")
    for label, a, b in rows:
        print(f"{label:<36}{a:>10.2f}{b:>12.2f}{b / a:>7.2f}×")
    a, b = claims["SQLite"], claims["PostgreSQL"]
    print(f"{f'claims a second, {CLAIMERS} processes at once':<36}{a:>10.0f}{b:>12.0f}{b / a:>7.2f}×")


def close_all_tickets(database: Database) -> None:
    """Close every ticket already there, so the claimers find only the benchmark's."""
    with database.transaction("the benchmark") as db:
        db.execute("UPDATE tickets SET status = 'closed'")


if __name__ == "__main__":
    main()
