"""`triage serve` as a real process on loopback for the tests of its clients (the terminal with
--server, the page), answering with the real openai SDK against a ScriptedServer. Started on a free
port (the port is read from its "listening on" line) and stopped by its pid."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from scripted_server import ScriptedServer

TOKEN = "test-token-0123456789"
START_TIMEOUT = 60  # a loaded 2-core machine imports FastAPI, uvicorn and the SDK slowly
_LISTENING = re.compile(r"listening on (http://\S+)")


def serve_env(home: Path, model: ScriptedServer, **extra: str) -> dict[str, str]:
    """The server's environment: its own data directory and config, the scripted model, a token."""
    config = home.parent / f"{home.name}-config.toml"
    config.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "OPENAI_"))}
    env.update({"TRIAGE_HOME": str(home), "TRIAGE_CONFIG": str(config), "OPENAI_API_KEY": "sk-test-not-a-real-key",
                "OPENAI_BASE_URL": model.base_url, "TRIAGE_SERVER_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1", **extra})
    return env


class ServeProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.url = ""
        self.log: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> ServeProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "triage_cli", "serve", "--port", "0"], env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        found = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                self.log.append(line)
                match = _LISTENING.search(line)
                if match and not self.url:
                    self.url = match[1]
                    found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(START_TIMEOUT) or not self.url:
            self.kill()
            raise RuntimeError("triage serve did not start: " + "".join(self.log))
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGTERM, as an operator stops it; SIGKILL if it has not gone within the grace."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Gone at once, open streams and all (a crash, a pulled plug)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(15)
