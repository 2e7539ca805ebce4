"""Helpers several test files share (tests never import each other)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect

# --------------------------------------------------------------------------- `triage chat` in a pty

PROMPT = "›"
CHAT_TIMEOUT = 20
# The usage line printed after each offline answer (the offline notice is said once a session).
OFFLINE_END = r"no model · [^\r\n]*\d s"

# CSI (incl. private modes like ESC[?2004h), OSC, other two-character escapes, and backspaces.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|[\x08\r]")


def plain(output: str) -> str:
    return _ANSI.sub("", output)


def turn(child: pexpect.spawn, line: str, end_marker: str) -> str:
    """Type `line` + Enter, wait for `end_marker` in the answer and for the next prompt;
    return the turn's output without escapes."""
    child.sendline(line)
    child.expect(end_marker)
    seen = child.before + child.after
    child.expect(PROMPT)
    return plain(seen + child.before)


# --------------------------------------------------------------------------- what was stored


def unpaired_calls(messages: list[dict]) -> list[str]:
    """Ids of tool calls without their result, and of results without their call."""
    called = [c["id"] for m in messages for c in m.get("tool_calls") or ()]
    answered = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    return sorted(set(called) ^ set(answered))


def stored_conversation(home: Path, which: str = "last") -> dict:
    """A stored conversation as `triage history export WHICH --format json` prints it, read
    through the stores without starting the CLI."""
    from triage_cli.store.sessions import SessionStore
    from triage_cli.store.tickets import TicketStore

    store = SessionStore(home)
    stored = store.get(store.resolve(which))
    exported = stored.to_dict()
    tickets = [turn["triage"]["ticket"] for turn in exported["turns"] if (turn["triage"] or {}).get("ticket") is not None]
    states = TicketStore(home).states(set(tickets))
    for turn in exported["turns"]:
        ticket = (turn["triage"] or {}).get("ticket")
        if ticket is not None:
            turn["triage"]["ticket_state"] = states.get(ticket, "no longer stored")
    return json.loads(json.dumps(exported))  # the types JSON keeps (tuples become lists)


# For the code run_at_once runs: `DB` is the state database its argument names (a data
# directory, or a PostgreSQL URL; see `database_argument`).
OPEN_DATABASE = ("import sys; from pathlib import Path\n"
                 "from triage_cli.store.database import open_database\n"
                 "DB = open_database(Path(sys.argv[1]), sys.argv[1] if '://' in sys.argv[1] else None)\n")


def database_argument(database) -> str:
    """The argument that names `database` (the `database` fixture's) to OPEN_DATABASE."""
    return getattr(database, "url", None) or str(database.home)


def run_at_once(code: str, argument: str, processes: int, timeout: float = 120) -> list[str]:
    """Run `python -c code argument` in `processes` processes at once; each must exit 0 (their
    stderr is the assertion's message). Each process is waited for by its own handle; returns
    what each printed."""
    workers = [subprocess.Popen([sys.executable, "-c", code, argument], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE) for _ in range(processes)]
    outputs = [w.communicate(timeout=timeout) for w in workers]
    assert [w.returncode for w in workers] == [0] * processes, [err.decode() for _, err in outputs]
    return [out.decode() for out, _ in outputs]


# --------------------------------------------------------------------------- servers in processes

MCP_TEST_SERVER = Path(__file__).parent / "mcp_test_server.py"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_listening(args: list[str], port: int, env: dict[str, str] | None = None,
                    timeout: float = 60, log: Path | None = None) -> subprocess.Popen:
    """Start `python ARGS` and wait until it accepts connections on 127.0.0.1:`port` (its stderr
    to `log`, if given). The caller stops it with `stop_process` (by its pid)."""
    import socket
    import time

    with open(log or os.devnull, "wb") as err:
        process = subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{args} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.1)
    stop_process(process)
    raise RuntimeError(f"{args} did not listen on {port}")


def stop_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def as_stored(shown: str) -> set[str]:
    """The forms a reply shown now is stored in (session/absolute_dates.py: relative days dated):
    dated today, or yesterday should the turn have been stored before midnight."""
    from datetime import date, timedelta

    from triage_cli.session.absolute_dates import absolute

    today = date.today()
    return {absolute(shown, today), absolute(shown, today - timedelta(days=1))}
