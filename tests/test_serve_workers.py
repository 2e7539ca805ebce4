"""`triage serve --workers N`: N processes forked onto one socket, each with its own engine, on
the one database. A hundred streams open at once all complete; a worker that dies is replaced; a
stop signal ends the supervisor and every worker."""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx

from scripted_server import ScriptedServer, text
from serve_helpers import WAIT, Streamed, environment, eventually, read_events, start_serve

STREAMS = 100


def workers_of(pid: int) -> set[int]:
    """The supervisor's child processes, from /proc."""
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        children |= {int(child) for child in (task / "children").read_text().split()}
    return children


def test_two_workers_serve_a_hundred_streams_at_once_replace_a_dead_one_and_stop_together(tmp_path: Path) -> None:
    opened = threading.Barrier(STREAMS + 1)  # every stream has its first words before any finishes
    quiet = threading.Event()
    reply = text("Order A1002 is a day late because of the weather.\n\n**Next step:** answer", stall_after=3,
                 stall_until=quiet, stall_seconds=WAIT)
    with ScriptedServer(lambda body, index: reply) as model:
        env = environment(tmp_path / "home", tmp_path / "config.toml", model.base_url,
                          TRIAGE_MAX_CONCURRENT_TURNS=str(STREAMS))
        served = start_serve(env, tmp_path / "stderr.log", "--workers", "2")
        try:
            assert "2 workers" in served.log().splitlines()[0]
            first = eventually(lambda: len(workers_of(served.process.pid)) == 2 and workers_of(served.process.pid),
                               "two workers")
            limits = httpx.Limits(max_connections=STREAMS + 10, max_keepalive_connections=0)
            with httpx.Client(base_url=served.url, timeout=WAIT, limits=limits) as client:

                def one(number: int) -> Streamed:
                    body = {"message": f"Where is A1002? ({number})"}
                    with client.stream("POST", "/v1/chat/stream", json=body) as response:
                        result = Streamed(response.status_code, dict(response.headers))
                        events = read_events(response)
                        for event in events:
                            if event is not None:
                                result.events.append(event)
                                if event.name == "content":
                                    break
                        opened.wait(timeout=WAIT)
                        result.events += [e for e in events if e is not None]
                    return result

                with ThreadPoolExecutor(STREAMS) as pool:
                    running = [pool.submit(one, number) for number in range(STREAMS)]
                    opened.wait(timeout=WAIT)  # a hundred streams open at once
                    quiet.set()
                    results = [future.result(timeout=WAIT) for future in running]
            assert [r.status for r in results] == [200] * STREAMS
            assert all(r.names[-1] == "done" for r in results)
            assert {r.headers["x-triage-replica"].split(".")[0] for r in results} <= {str(pid) for pid in first}

            # A worker that dies is replaced; the supervisor keeps serving on the same port.
            gone = min(first)
            os.kill(gone, signal.SIGKILL)
            now = eventually(lambda: (w := workers_of(served.process.pid)) and len(w) == 2 and gone not in w and w,
                             "a new worker")
            assert "starting another" in served.log()
            assert httpx.get(f"{served.url}/healthz", timeout=WAIT).json()["ok"]

            # A stop signal ends every worker and then the supervisor.
            os.kill(served.process.pid, signal.SIGTERM)
            assert served.process.wait(timeout=WAIT) == 0
            assert not any(Path(f"/proc/{pid}").exists() for pid in now)
        finally:
            quiet.set()
            served.stop()
