"""Starting and stopping `triage serve`: the socket bound before anything else (a busy port or a
refused address is one line), uvicorn serving the app on it, and SIGTERM or Ctrl-C ending the
open streams (their turns stored interrupted) before the process exits, within 5 s."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import signal
import socket
import sys
import tempfile
from types import FrameType
from typing import Any

from triage_cli.config import Settings
from triage_cli.config_server import ServerSettings
from triage_cli.errors import UsageError
from triage_cli.sanitize import one_line
from triage_cli.server.guard import replica
from triage_cli.server.metrics import MULTIPROCESS
from triage_cli.session.tracing import check_tracing

GRACE_SECONDS = 3  # for the streams to end and their turns to be stored, within the 5 s promised


def refuse_unprotected(settings: Settings, server: ServerSettings) -> None:
    """Only this machine may reach a server that asks nobody for a token (no server_token, no agents)."""
    if server.loopback or server.token is not None:
        return
    from triage_cli.store.agents import AgentStore
    from triage_cli.store.database import open_database

    if not AgentStore(open_database(settings.home, settings.database_url)).any():
        raise UsageError(f"refusing to listen on {one_line(server.host)} without a token: add the team's agents "
                         "(triage agents add NAME) or set TRIAGE_SERVER_TOKEN (server_token), or serve on 127.0.0.1")


def bind(server: ServerSettings) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(server.host, server.port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        raise UsageError(f"cannot listen on {one_line(server.host)}:{server.port}: "
                         f"{exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: Any, server: ServerSettings, parser: str = "auto") -> Any:
    """How uvicorn serves the app: at most `max_connections` at once (503 beyond), idle and
    dripping connections closed (connections.py, on httptools' parser when installed, else
    h11's; `parser` names one), the open streams given drain_seconds and GRACE_SECONDS to end.
    uvicorn runs on uvloop when it is installed."""
    import uvicorn

    from triage_cli.server.connections import deadline_protocol

    return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", log_config=None,
                          timeout_graceful_shutdown=math.ceil(server.drain_seconds) + GRACE_SECONDS,
                          limit_concurrency=server.max_connections,
                          timeout_keep_alive=server.keep_alive_seconds,  # type: ignore[arg-type]  # a float works
                          http=deadline_protocol(server.header_seconds, server.body_seconds, server.send_seconds,
                                                 parser))


def serve(settings: Settings, server: ServerSettings) -> int:
    refuse_unprotected(settings, server)
    check_tracing(settings)
    sock = bind(server)
    if server.workers > 1:
        return _supervise(settings, server, sock)
    _announce(settings, sock, f"replica {replica()}")
    return _serve_on(settings, server, sock)


def _announce(settings: Settings, sock: socket.socket, who: str) -> None:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    sys.stderr.write(f"triage serve: listening on http://{shown}:{port} ({settings.describe()}; {who}); "
                     "Ctrl-C stops\n")
    sys.stderr.flush()


def _serve_on(settings: Settings, server: ServerSettings, sock: socket.socket) -> int:
    """One process serving the bound socket until a stop signal."""
    import uvicorn

    from triage_cli.server.app import create_app

    app = create_app(settings, server)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log = logging.getLogger("triage.serve")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    config = uvicorn_config(app, server)
    service = app.state.service

    class Server(uvicorn.Server):
        """uvicorn's server: it stops accepting at the first stop signal. SIGTERM (a deploy, a
        balancer's replica going away) lets the open turns finish for drain_seconds, then ends
        the rest; Ctrl-C, or a second signal, ends them at once."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            draining = sig == signal.SIGTERM and not self.should_exit and server.drain_seconds > 0
            super().handle_exit(sig, frame)
            if draining:
                service.drain(server.drain_seconds)
            else:
                service.begin_shutdown()

    Server(config).run(sockets=[sock])
    return 0


def _supervise(settings: Settings, server: ServerSettings, sock: socket.socket) -> int:
    """`--workers N`: N processes forked onto the one bound socket, each with its own engine and
    its own pool on the shared database; a worker that dies is replaced. A stop signal is passed
    to every worker once (they run in process groups of their own, so a terminal's Ctrl-C does not
    reach them twice), and the supervisor returns when they have all ended."""
    if "triage_cli.store.postgres" in sys.modules:  # refuse_unprotected may have opened a pool
        from triage_cli.store.postgres import close_shared

        close_shared()
    _announce(settings, sock, f"{server.workers} workers")
    workers: dict[int, int] = {}
    stopping: list[int] = []
    made = _metrics_directory() if server.metrics == "on" else None
    counted = _multiprocess() if server.metrics == "on" else None

    def start(slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            os.setpgid(0, 0)
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_DFL)
            code = 1
            try:
                code = _serve_on(settings, server, sock)
            finally:
                from triage_cli.session.tracing import flush

                flush()  # os._exit runs no atexit: the spans still batched go now
                os._exit(code)
        workers[pid] = slot

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    for slot in range(server.workers):
        start(slot)
    while workers:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if counted is not None:  # its streams are no longer open; its counts stay in the sums
            counted.mark_process_dead(pid)
        if pid in workers and not stopping:
            sys.stderr.write(f"triage serve: worker {pid} ended ({_how(status)}); starting another\n")
            start(workers.pop(pid))
        workers.pop(pid, 0)
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)
    return 0


def _metrics_directory() -> str | None:
    """Where the workers keep their metrics: a private directory made (and removed) here, named in
    the environment before any worker imports prometheus-client; an operator's own
    PROMETHEUS_MULTIPROC_DIR is used as it is (and kept: None)."""
    if os.environ.get(MULTIPROCESS):
        return None
    os.environ[MULTIPROCESS] = made = tempfile.mkdtemp(prefix="triage-metrics-")
    return made


def _multiprocess() -> Any:
    """prometheus-client's multiprocess module (imported once the directory is named)."""
    from prometheus_client import multiprocess

    return multiprocess


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit {os.WEXITSTATUS(status)}"
