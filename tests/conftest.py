"""Shared fixtures: an isolated home for every test, and a way to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from scripted_server import ScriptedServer  # noqa: E402

# Variables that would leak a developer's own setup into a test.
_LEAKY = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GROQ_API_KEY", "OPENROUTER_API_KEY", "SAMBANOVA_API_KEY",
          "TOGETHER_API_KEY", "CEREBRAS_API_KEY", "VLLM_API_KEY", "TRIAGE_API_KEY", "NO_COLOR", "FORCE_COLOR")


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def triage_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean environment: own TRIAGE_HOME, no config file, no keys, a cwd without .env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_") and k not in _LEAKY}
    env.update({
        "TRIAGE_HOME": str(tmp_path / "home"),
        "TRIAGE_CONFIG": str(tmp_path / "config.toml"),
        "TERM": "xterm-256color",
        "PYTHONUNBUFFERED": "1",
    })
    (tmp_path / "config.toml").write_text("")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for key in list(os.environ):
        if key.startswith("TRIAGE_") or key in _LEAKY:
            monkeypatch.delenv(key)
    for key in ("TRIAGE_HOME", "TRIAGE_CONFIG"):
        monkeypatch.setenv(key, env[key])
    return env


@pytest.fixture
def run_triage(triage_env: dict[str, str]):
    """Run the real CLI in a subprocess: run_triage("ask", "...", input="...", env={...})."""

    def run(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> Result:
        merged = {**triage_env, **(env or {})}
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run(
            [sys.executable, "-m", "triage_cli", *args],
            input=data if data is not None else b"",
            capture_output=True, env=merged, timeout=timeout, cwd=os.getcwd(),
        )
        return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))

    return run


@pytest.fixture
def server():
    """A scripted OpenAI-compatible server on loopback; add replies with server.add(...)."""
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def model_env(server: ScriptedServer) -> dict[str, str]:
    """Environment that points the openai provider at the scripted server."""
    return {"OPENAI_API_KEY": "sk-test-not-a-real-key", "OPENAI_BASE_URL": server.base_url}
