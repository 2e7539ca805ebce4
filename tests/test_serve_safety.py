"""`triage serve` against an attacker and a careless client (docs/security.md): each defence is a
test, grouped by kind. The app runs under uvicorn in a thread of this process on loopback, with
the offline engine or the scripted model; clients speak raw HTTP where a library would tidy up
what an attacker sends."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import httpx2 as httpx
import pytest

from scripted_server import ScriptedServer, answer
from serve_helpers import WAIT, environment, eventually, server_in_thread
from triage_cli.store.sessions import SessionStore


def raw_request(url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> socket.socket:
    """A connected socket that has sent one whole request."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=WAIT)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return sock


def read_headers(sock: socket.socket) -> bytes:
    seen = b""
    while b"\r\n\r\n" not in seen:
        chunk = sock.recv(4096)
        if not chunk:
            break
        seen += chunk
    return seen


# --------------------------------------------------------------------------- no turn left running

def test_clients_that_hang_up_at_any_moment_leave_no_turn_running(tmp_path: Path):
    release = threading.Event()
    reply = answer("The parcel is on its way and should arrive tomorrow morning. " * 4, order_id="A1002",
                   issue="where_is_my_order", status="in_transit", stall_after=2, stall_until=release)
    home = tmp_path / "home"
    with ScriptedServer(lambda body, index: reply) as model, \
            server_in_thread(environment(home, tmp_path / "config.toml", model.base_url)) as url, \
            httpx.Client(base_url=url, timeout=WAIT) as http:
        try:
            body = json.dumps({"message": "Where is my parcel?"}).encode()
            for number in range(15):
                sock = raw_request(url, "POST", "/v1/chat/stream", body, {"Content-Type": "application/json"})
                if number % 3 == 1:
                    read_headers(sock)  # after the headers
                elif number % 3 == 2:
                    sock.recv(1)  # mid-stream
                sock.close()  # else at once
            eventually(lambda: http.get("/healthz").json()["turns"] == 0, "every turn to end")
        finally:
            release.set()
        turns = [turn for c in SessionStore(home).list() for turn in SessionStore(home).get(c.id).turns]
        assert turns, "the turns that started were stored"
        assert [t.state for t in turns if t.state == "running"] == []
