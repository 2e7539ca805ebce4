"""Helpers for the `triage serve` tests: an SSE client that reads the stream line by line (as a
browser's fetch reader would), the server in a thread of this process, and `triage serve` as a
process. Tests never import each other; both test_serve*.py files use these."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx

TEAM_TOKEN = "test-token-0123456789"  # the token of the `team` fixture's server (conftest.py)
WAIT = 30  # seconds: a generous bound on anything the tests wait for (never asserted as a duration)


@dataclass
class SSE:
    name: str
    id: int
    data: dict[str, Any]


@dataclass
class Streamed:
    status: int
    headers: dict[str, str]
    events: list[SSE] = field(default_factory=list)
    comments: int = 0
    body: dict[str, Any] | None = None  # the JSON error of a refused request

    def named(self, name: str) -> list[SSE]:
        return [e for e in self.events if e.name == name]

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.events]

    @property
    def content(self) -> str:
        return "".join(e.data["content"] for e in self.named("content"))


def read_events(response: httpx.Response, stop_after: str | None = None) -> Iterator[SSE | None]:
    """Each SSE message as it arrives (None for a comment). Each message must be exactly
    `event:`, `id:` and one `data:` line of JSON."""
    lines: list[str] = []
    for line in response.iter_lines():
        if line:
            lines.append(line)
            continue
        if not lines:
            continue
        if all(item.startswith(":") for item in lines):
            lines = []
            yield None
            continue
        assert len(lines) == 3 and lines[0].startswith("event: ") and lines[1].startswith("id: ") \
            and lines[2].startswith("data: "), lines
        yield SSE(lines[0][7:], int(lines[1][4:]), json.loads(lines[2][6:]))
        lines = []


def stream(client: httpx.Client, body: Any, *, until: str | None = None, headers: dict[str, str] | None = None,
           path: str = "/v1/chat/stream") -> Streamed:
    """POST a turn and read its stream to the end (or, with `until`, up to the first event of
    that name, then hang up)."""
    with client.stream("POST", path, json=body, headers=headers, timeout=WAIT) as response:
        result = Streamed(response.status_code, dict(response.headers))
        if response.status_code != 200:
            response.read()
            result.body = response.json()
            return result
        for event in read_events(response):
            if event is None:
                result.comments += 1
                continue
            result.events.append(event)
            if event.name == until:
                break
    return result


def eventually(check: Any, what: str, timeout: float = WAIT) -> Any:
    """Poll `check()` until it returns something truthy, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.05)


def error_of(response: httpx.Response) -> dict[str, str]:
    """The `{"error": {"message", "code"}}` body, checked to be just that."""
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "code"}, body
    assert body["error"]["message"], body
    return body["error"]


def environment(home: Path, config: Path, base_url: str | None, **extra: str) -> dict[str, str]:
    """The environment of a server: its own home and config, the scripted model when given."""
    leaky = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "COLUMNS", "LINES")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_") and k not in leaky
           and not k.endswith("_API_KEY")}
    config.write_text("")
    env.update({"TRIAGE_HOME": str(home), "TRIAGE_CONFIG": str(config), "PYTHONUNBUFFERED": "1", **extra})
    if base_url is not None:
        env.update({"OPENAI_API_KEY": "sk-test-not-a-real-key", "OPENAI_BASE_URL": base_url})
    return env


@contextmanager
def server_in_thread(env: dict[str, str], parser: str = "auto") -> Iterator[str]:
    """The app under uvicorn in a thread of this process, on a free loopback port; its base URL.
    `parser`: uvicorn's HTTP parser (httptools when installed, or h11)."""
    import uvicorn

    from triage_cli.config import load_settings
    from triage_cli.config_server import load_server_settings
    from triage_cli.server.app import create_app
    from triage_cli.server.run import bind, uvicorn_config

    settings = load_settings({}, environ=env, cwd=Path(env["TRIAGE_HOME"]).parent)
    server_settings = load_server_settings({"port": 0}, environ=env)
    sock = bind(server_settings)
    app = create_app(settings, server_settings)
    server = uvicorn.Server(uvicorn_config(app, server_settings, parser))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    eventually(lambda: server.started, "the server to start")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        app.state.service.begin_shutdown()
        server.should_exit = True
        thread.join(timeout=WAIT)


@dataclass
class ServeProcess:
    process: subprocess.Popen[bytes]
    stderr: Path
    url: str

    def log(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kill(self) -> None:
        """SIGKILL by pid: gone at once, open streams and all (a crash, a pulled plug)."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=WAIT)

    def stop(self) -> int:
        """SIGTERM by pid, then wait (killed if it does not end)."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def start_serve(env: dict[str, str], log: Path, *args: str) -> ServeProcess:
    """`triage serve --port 0` as a process; its URL from the line it prints when listening."""
    with log.open("wb") as err:
        process = subprocess.Popen([sys.executable, "-m", "triage_cli", "serve", "--port", "0", *args],
                                   env=env, stdout=subprocess.DEVNULL, stderr=err)
    served = ServeProcess(process, log, "")

    def listening() -> str | None:
        assert process.poll() is None, served.log()
        first = served.log().split("\n", 1)[0]
        return first.split("listening on ", 1)[1].split(" ", 1)[0] if "listening on " in first else None

    try:
        served.url = eventually(listening, "triage serve to listen")
    except BaseException:
        served.stop()
        raise
    return served
