"""A real balancer for the replica tests: Debian's HAProxy in front of `triage serve` processes,
round robin, a failed connection retried on another replica, a replica that stops answering
taken out by its health check. Started on a free loopback port and stopped by its pid. Where
HAProxy is missing the test skips with the reason, except in CI (.ci/run installs it)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from serve_helpers import WAIT, eventually

CONFIG = """\
global
    maxconn 2000
defaults
    mode http
    option http-no-delay
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    retries 2
    option redispatch
frontend triage
    bind 127.0.0.1:{port}
    default_backend replicas
backend replicas
    balance roundrobin
{servers}
"""


def haproxy() -> str:
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("HAProxy is needed in CI (.ci/run installs Debian's haproxy)")
        pytest.skip("no HAProxy here (apt-get install haproxy)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@contextmanager
def balancer(backends: list[str], root: Path) -> Iterator[str]:
    """HAProxy in front of `backends` (their base URLs); yields its own base URL."""
    program = haproxy()
    port = _free_port()
    servers = "\n".join(f"    server replica{number} {urlsplit(url).netloc} check inter 200ms fall 1 rise 1"
                        for number, url in enumerate(backends))
    config = root / "haproxy.cfg"
    config.write_text(CONFIG.format(port=port, servers=servers))
    with (root / "haproxy.log").open("wb") as log:
        process = subprocess.Popen([program, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        eventually(lambda: process.poll() is None and _listening(port), "HAProxy to listen", timeout=WAIT)
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
