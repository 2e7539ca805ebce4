"""Shared fixtures: an isolated home for every test, and a way to run the real CLI."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cli_runner import Result, run_in_process, run_process  # noqa: E402
from helpers import CHAT_TIMEOUT, PROMPT  # noqa: E402
from postgres_server import PostgresServer, start_postgres  # noqa: E402
from scripted_server import ScriptedServer  # noqa: E402
from serve_helpers import TEAM_TOKEN, environment, start_serve  # noqa: E402

# The processes the tests start stand for a person's terminal, where Ctrl-C and a closed window
# reach the program. A job started in the background by a script (a non-interactive shell gives
# an `&` job SIGINT ignored; nohup, SIGHUP) would pass the ignoring on to every one of them, and
# triage, like any Unix program, keeps a signal its parent ignored ignored: give them the default.
for _signal in (signal.SIGINT, signal.SIGHUP):
    if signal.getsignal(_signal) == signal.SIG_IGN:
        signal.signal(_signal, signal.default_int_handler if _signal == signal.SIGINT else signal.SIG_DFL)

# Variables that would leak a developer's own setup into a test. COLUMNS and LINES would fix the
# size of every pty the tests open (pytest-xdist sets them in its workers).
_LEAKY = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GROQ_API_KEY", "OPENROUTER_API_KEY", "SAMBANOVA_API_KEY",
          "TOGETHER_API_KEY", "CEREBRAS_API_KEY", "VLLM_API_KEY", "TRIAGE_API_KEY", "NO_COLOR", "FORCE_COLOR",
          "COLUMNS", "LINES")


@pytest.fixture(scope="session", autouse=True)
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cache directory (XDG_CACHE_HOME) for the whole run, every worker's and every process
    a test starts: the rules' compiled patterns are made once, as on a user's machine, and never
    in the user's own cache."""
    shared = tmp_path_factory.getbasetemp().parent / "cache"
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(shared)
    yield shared
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture
def triage_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_home: Path) -> dict[str, str]:
    """A clean environment: own TRIAGE_HOME, no config file, no keys, a cwd without .env; the
    run's shared cache directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_") and k not in _LEAKY}
    env.update({
        "XDG_CACHE_HOME": str(cache_home),
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
    for key in ("TRIAGE_HOME", "TRIAGE_CONFIG", "XDG_CACHE_HOME"):
        monkeypatch.setenv(key, env[key])
    return env


@pytest.fixture
def run_triage(triage_env: dict[str, str]):
    """Run the real CLI: run_triage("ask", "...", input="...", env={...}). In this process by
    default (tests/cli_runner.py); process=True starts `python -m triage_cli` for what only a
    process shows (its exit status after a broken pipe, import-time behaviour, raw argv bytes)."""

    def run(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None,
            timeout: float = 60, process: bool = False) -> Result:
        merged = {**triage_env, **(env or {})}
        data = (input.encode() if isinstance(input, str) else input) or b""
        if process:
            return run_process(args, data, merged, timeout)
        return run_in_process(args, data, merged)

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


@pytest.fixture(scope="module")
def team_model():
    """The scripted model behind `team`: one for a test module, replies added by each test."""
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def team(team_model: ScriptedServer, tmp_path_factory: pytest.TempPathFactory):
    """A real `triage serve` process with a token (TEAM_TOKEN) for a test module."""
    root = tmp_path_factory.mktemp("serve")
    env = environment(root / "home", root / "config.toml", team_model.base_url, TRIAGE_SERVER_TOKEN=TEAM_TOKEN)
    with start_serve(env, root / "stderr.log") as srv:
        yield srv


@pytest.fixture
def spawn_chat(triage_env):
    """Start `triage chat` in a 40x120 pty; the child is ended at teardown if a test left it alive."""
    children: list[pexpect.spawn] = []

    def spawn(extra_env: dict[str, str] | None = None, *args: str) -> pexpect.spawn:
        env = {**triage_env, "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1", "TERM": "xterm-256color",
               **(extra_env or {})}
        child = pexpect.spawn(
            sys.executable, ["-m", "triage_cli", "chat", *args], env=env, cwd=".",
            dimensions=(40, 120), encoding="utf-8", timeout=CHAT_TIMEOUT,
        )
        children.append(child)
        child.expect(PROMPT)  # the first prompt: the REPL is ready for input
        return child

    yield spawn
    for child in children:
        if child.isalive():
            end_child(child)


def end_child(child: pexpect.spawn) -> None:
    """End a pty child by its pid: SIGKILL, then wait for it (pexpect's own close gives a child
    0.1 s to go after SIGKILL, which a loaded machine can overrun)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(child.pid, signal.SIGKILL)
    with contextlib.suppress(pexpect.ExceptionPexpect, ChildProcessError):
        child.wait()
    child.close(force=False)


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL server for the session (each pytest-xdist worker has its own)."""
    server = start_postgres()
    yield server
    server.stop()
    server.remove()


@pytest.fixture
def postgres_url(postgres: PostgresServer):
    """The URL of a new, empty database on the session's server; the pool this process may
    have opened for it is closed after the test."""
    url = postgres.new_database()
    yield url
    if "triage_cli.store.postgres" in sys.modules:
        from triage_cli.store.postgres import shared_database

        shared_database(url).close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path):
    """The state database on each backend: the SQLite file in a new data directory, and a new
    database on a real PostgreSQL server."""
    if request.param == "sqlite":
        from triage_cli.store.database import SqliteDatabase

        yield SqliteDatabase(tmp_path / "state")
        return
    from triage_cli.store.postgres import PostgresDatabase

    db = PostgresDatabase(request.getfixturevalue("postgres_url"))
    yield db
    db.close()
