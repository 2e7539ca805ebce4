"""`triage serve` against an attacker and a careless client (docs/security.md): each defence is a
test, grouped by kind. The app runs under uvicorn in a thread of this process on loopback, with
the offline engine or the scripted model; clients speak raw HTTP where a library would tidy up
what an attacker sends."""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
from pathlib import Path

import httpx2 as httpx
import pytest

from scripted_server import ScriptedServer, answer
from serve_helpers import WAIT, environment, error_of, eventually, server_in_thread
from triage_cli.engine.events import TriageRecord
from triage_cli.store.agents import AgentStore
from triage_cli.store.sessions import SessionStore
from triage_cli.store.tickets import TicketStore


def raw_request(url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, *,
                length: int | None = None) -> socket.socket:
    """A connected socket that has sent one request (`length`: the Content-Length it claims)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=WAIT)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {length or len(body)}",
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

def test_clients_that_hang_up_at_any_moment_leave_no_turn_running(tmp_path: Path, caplog):
    caplog.set_level(logging.INFO, logger="triage.serve")  # a request's line: once its response has ended
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
            # Every request handled to its end (a turn closed before its line is logged), not only
            # none in the gate now: one a client left at once may not have reached the gate yet.
            handled = lambda: sum("POST /v1/chat/stream" in r.getMessage() for r in caplog.records)  # noqa: E731
            eventually(lambda: handled() == 15 and http.get("/healthz").json()["turns"] == 0, "every turn to end")
        finally:
            release.set()
        turns = [turn for c in SessionStore(home).list() for turn in SessionStore(home).get(c.id).turns]
        assert turns, "the turns that started were stored"
        assert [t.state for t in turns if t.state == "running"] == []


# --------------------------------------------------------------------------- rebinding, cross-site writes

@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    """The default server: loopback, no token, no agent; plus one name the team lists."""
    root = tmp_path_factory.mktemp("safety")
    env = environment(root / "home", root / "config.toml", None, TRIAGE_ALLOWED_HOSTS="help.example.com",
                      TRIAGE_CORS_ORIGINS="https://desk.example.com")
    with server_in_thread(env) as url:
        yield url, root / "home"


def file_ticket(home: Path, summary: str = "A1002 is late.") -> int:
    record = TriageRecord(order_id="A1002", issue="late", status="delayed", next_step="escalate", summary=summary)
    return TicketStore(home).open_ticket(record, question="Where is it?", reply="Sorry.").id


def test_a_request_for_a_host_name_that_is_not_this_servers_gets_421(open_server):
    url, _ = open_server
    port = url.rsplit(":", 1)[1]
    with httpx.Client(base_url=url, timeout=WAIT) as http:
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}", "",
                     f"127.0.0.1:{port}@evil", "localhost:evil.com", f"[::1].evil.com:{port}", "[::1]evil.com",
                     f"[localhost]:{port}", "localhost.", "127.1"):
            refused = http.get("/v1/conversations", headers={"Host": host})
            assert refused.status_code == 421, host
            assert error_of(refused)["code"] == "unknown_host"
            assert "conversations" not in refused.text
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST", f"help.example.com:{port}", f"[::1]:{port}"):
            assert http.get("/v1/conversations", headers={"Host": host}).status_code == 200, host


def test_a_request_from_a_page_elsewhere_gets_403_and_changes_nothing(open_server):
    url, home = open_server
    ticket = file_ticket(home)
    with httpx.Client(base_url=url, timeout=WAIT) as http:
        for origin in ("http://evil.example", "null", "http://127.0.0.1:1"):
            for method, path in (("GET", "/v1/conversations"), ("POST", f"/v1/tickets/{ticket}/close")):
                refused = http.request(method, path, json={}, headers={"Origin": origin})
                assert refused.status_code == 403, (origin, path)
                assert error_of(refused)["code"] == "foreign_origin"
        assert TicketStore(home).get(ticket).status == "open"
        for origin in (url, "https://desk.example.com"):
            assert http.get("/v1/conversations", headers={"Origin": origin}).status_code == 200, origin


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "text/plain"},
                                     {"Content-Type": "application/x-www-form-urlencoded"},
                                     {"Content-Type": "multipart/form-data; boundary=x"}],
                         ids=["none", "text", "form", "multipart"])
def test_a_state_changing_request_that_is_not_json_gets_415_even_with_no_body(open_server, headers):
    url, home = open_server
    ticket = file_ticket(home)
    sock = raw_request(url, "POST", f"/v1/tickets/{ticket}/close", b"", headers)
    status = read_headers(sock).split(b" ", 2)[1]
    sock.close()
    assert status == b"415"
    assert TicketStore(home).get(ticket).status == "open"


# --------------------------------------------------------------------------- agents who are who they say

OPERATOR_TOKEN = "operator-token-0123456789"


@pytest.fixture(scope="module")
def team_server(tmp_path_factory):
    """A server with the operator's token and two agents: ana (an agent) and lea (a lead)."""
    root = tmp_path_factory.mktemp("agents")
    home = root / "home"
    agents = AgentStore(home)
    tokens = {name: agents.add(name, lead=name == "lea")[1] for name in ("ana", "ben", "lea")}
    env = environment(home, root / "config.toml", None, TRIAGE_SERVER_TOKEN=OPERATOR_TOKEN)
    with server_in_thread(env) as url:
        yield url, home, tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_once_an_agent_exists_every_route_but_healthz_and_the_page_needs_a_token_even_on_loopback(tmp_path):
    home = tmp_path / "home"
    env = environment(home, tmp_path / "config.toml", None)  # no server_token: only agents
    with server_in_thread(env) as url, httpx.Client(base_url=url, timeout=WAIT) as http:
        assert http.get("/v1/tickets").status_code == 200  # nobody yet: this machine's own server
        _, token = AgentStore(home).add("ana")
        AgentStore(home).add("ben")
        for headers in ({}, bearer("trg_" + "x" * 43), bearer(token[:-1]), {"Authorization": token}):
            refused = http.get("/v1/tickets", headers=headers)
            assert refused.status_code == 401 and error_of(refused)["code"] == "unauthorized"
            assert http.post("/v1/chat", json={"message": "Where is A1002?"}, headers=headers).status_code == 401
        assert http.get("/healthz").status_code == 200 and http.get("/").status_code == 200
        assert http.get("/v1/me", headers=bearer(token)).json() == {"agent": "ana", "lead": False, "kind": "agent"}
        AgentStore(home).remove("ana")
        assert http.get("/v1/tickets", headers=bearer(token)).status_code == 401


def test_an_agents_token_fixes_who_acts_and_only_a_lead_may_force(team_server):
    url, home, tokens = team_server
    ticket = file_ticket(home)
    with httpx.Client(base_url=url, timeout=WAIT) as http:
        claimed = http.post("/v1/tickets/claim", json={"ticket_id": ticket, "agent": "lea"}, headers=bearer(tokens["ana"]))
        assert claimed.json()["assignee"] == "ana"  # the body's name is not who acts: the token is
        for action in ("release", "close"):
            refused = http.post(f"/v1/tickets/{ticket}/{action}", json={"force": True}, headers=bearer(tokens["ben"]))
            assert refused.status_code == 403 and error_of(refused)["code"] == "lead_only", action
            held = http.post(f"/v1/tickets/{ticket}/{action}", json={"agent": "ana"}, headers=bearer(tokens["ben"]))
            assert held.status_code == 409, action  # ben cannot pass as ana
        assert TicketStore(home).get(ticket).assignee == "ana"
        released = http.post(f"/v1/tickets/{ticket}/release", json={"force": True}, headers=bearer(tokens["lea"]))
        assert released.status_code == 200 and released.json()["assignee"] is None
        operator = http.post("/v1/tickets/claim", json={"ticket_id": ticket, "agent": "ben"}, headers=bearer(OPERATOR_TOKEN))
        assert operator.json()["assignee"] == "ben"  # the operator's scripts name the agent they act for
        assert http.get("/v1/me", headers=bearer(OPERATOR_TOKEN)).json()["kind"] == "operator"


def test_every_action_on_a_ticket_is_recorded_with_who_and_when(team_server):
    url, home, tokens = team_server
    ticket = file_ticket(home)
    with httpx.Client(base_url=url, timeout=WAIT) as http:
        http.post("/v1/tickets/claim", json={"ticket_id": ticket}, headers=bearer(tokens["ana"])).raise_for_status()
        http.post(f"/v1/tickets/{ticket}/close", json={"force": True, "note": "refunded"},
                  headers=bearer(tokens["lea"])).raise_for_status()
        TicketStore(home).reopen(ticket, by="ben")
        shown = http.get(f"/v1/tickets/{ticket}", headers=bearer(tokens["ben"])).json()
    events = shown["events"]
    assert [(e["action"], e["agent"], e["forced"]) for e in events] == [
        ("opened", None, False), ("claimed", "ana", False), ("closed", "lea", True), ("reopened", "ben", False)]
    assert events[2]["note"] == "refunded"
    assert all(e["at"].endswith("+00:00") for e in events)
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)


# --------------------------------------------------------------------------- client mistakes: a 4xx, one line

HOSTILE = "\x1b]0;pwned\x07\x1b[31mred\x1b[0m\x07\u202eevil\x9b"  # a title, colour, BEL, bidi, C1


@pytest.fixture
def logged(caplog):
    """Every log line of the server and of uvicorn, as the operator would read them."""
    with caplog.at_level(logging.INFO):
        yield caplog


def test_client_mistakes_get_a_4xx_and_one_escaped_log_line_without_a_traceback(open_server, logged):
    url, home = open_server
    deep = b'{"message": "hi", "x": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    surrogate = b'{"message": "Where is A1002? \\ud800"}'
    huge = b'{"message": "hi", "conversation_id": 1000000000000000000000000000000}'
    hostile_order = json.dumps({"message": "hi", "order": HOSTILE}).encode()
    surrogate_order = json.dumps({"message": "hi", "order": HOSTILE + "\ud800"}).encode()
    before = len(SessionStore(home).list())
    with httpx.Client(base_url=url, timeout=WAIT) as http:
        for body, code in ((deep, "too_deep"), (surrogate, "invalid_text"), (huge, "invalid_number"),
                           (hostile_order, "invalid"), (surrogate_order, "invalid_text")):
            for path in ("/v1/chat/stream", "/v1/chat"):
                refused = http.post(path, content=body, headers={"Content-Type": "application/json"})
                assert refused.status_code == 400, (code, refused.text)
                assert error_of(refused)["code"] == code
                assert "\x1b" not in refused.text and "\u202e" not in refused.text
        claim = http.post("/v1/tickets/claim", json={"agent": "ana", "ticket_id": 10**30})
        assert claim.status_code == 400
    assert len(SessionStore(home).list()) == before  # nothing stored, nothing "stored as interrupted"
    # One line a request, written as its response ends (so perhaps just after the client has it).
    def lines(route: str) -> int:
        return sum(r.getMessage().startswith(f"POST {route} ") for r in logged.records if r.name == "triage.serve")

    eventually(lambda: (lines("/v1/chat/stream"), lines("/v1/chat"), lines("/v1/tickets/claim")) == (5, 5, 1),
               "one log line for each request")
    text = "\n".join(record.getMessage() for record in logged.records)
    assert "Traceback" not in text and logged.text.count("Traceback") == 0
    assert not any(ch in text for ch in "\x1b\x07\u202e\ud800")


def test_a_client_that_drops_mid_body_is_one_log_line(open_server, logged):
    url, _ = open_server
    for _ in range(5):
        sock = raw_request(url, "POST", "/v1/chat/stream", b'{"message": "Where', {"Content-Type": "application/json"},
                           length=1000)
        sock.close()  # 18 of the 1,000 bytes it promised
    sock = raw_request(url, "GET", "/healthz")
    read_headers(sock)
    sock.close()

    def streamed() -> list[str] | None:
        lines = [r.getMessage() for r in logged.records if "/v1/chat/stream" in r.getMessage()]
        return lines if len(lines) >= 5 else None

    lines = eventually(streamed, "a line for each request")
    assert len(lines) == 5 and all(" 400 " in line for line in lines), lines
    assert "Traceback" not in logged.text and "ClientDisconnect" not in logged.text


def test_a_path_with_control_characters_is_logged_escaped(open_server, logged):
    url, _ = open_server
    with httpx.Client(base_url=url, timeout=WAIT) as http:
        assert http.get("/v1/tickets/%1b%5d0%3bpwned%07%e2%80%ae").status_code == 400
    line = eventually(lambda: next((r.getMessage() for r in logged.records
                                    if r.name == "triage.serve" and "pwned" in r.getMessage()), None), "the log line")
    assert "\\x1b]0;pwned\\x07\\u202e" in line and "\x1b" not in line


def test_a_bug_is_a_500_and_one_line_naming_its_type_never_its_message(open_server, logged, monkeypatch):
    url, _ = open_server

    def broken(*args, **kwargs):
        raise RuntimeError("customer text " + HOSTILE + "\ud800")

    monkeypatch.setattr(TicketStore, "list", broken)
    with httpx.Client(base_url=url, timeout=WAIT) as http:
        failed = http.get("/v1/tickets")
    assert failed.status_code == 500 and error_of(failed)["code"] == "internal"
    assert "customer text" not in failed.text
    eventually(lambda: any("RuntimeError at test_serve_safety.py" in r.getMessage() for r in logged.records),
               "the line naming the error")
    assert "customer text" not in logged.text and "Traceback" not in logged.text


# --------------------------------------------------------------------------- limits

@pytest.fixture(scope="module", params=["httptools", "h11"])
def strict_server(tmp_path_factory, request):
    """Short deadlines, so a test sees a dripping client cut off; room for four connections. On
    each of uvicorn's HTTP parsers: the deadlines ride on both."""
    root = tmp_path_factory.mktemp("limits")
    env = environment(root / "home", root / "config.toml", None, TRIAGE_HEADER_SECONDS="0.5",
                      TRIAGE_BODY_SECONDS="0.5", TRIAGE_KEEP_ALIVE_SECONDS="0.5", TRIAGE_MAX_CONNECTIONS="4",
                      TRIAGE_SEND_SECONDS="0.5")
    with server_in_thread(env, request.param) as url:
        yield url, root / "home"


def closed_by_server(sock: socket.socket, drip: bytes = b"") -> bool:
    """Send `drip` a byte at a time (each as the last one is taken) until the server closes."""
    try:
        for byte in drip * 1000:
            sock.sendall(bytes([byte]))
            sock.settimeout(0.05)
            try:
                if sock.recv(4096) == b"":
                    return True
            except TimeoutError:
                continue
        sock.settimeout(WAIT)
        while chunk := sock.recv(4096):
            if not chunk:
                break
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    finally:
        sock.close()


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=WAIT)


def test_idle_and_dripping_connections_are_closed(strict_server):
    url, _ = strict_server
    assert closed_by_server(connect(url))  # says nothing at all
    head = connect(url)
    head.sendall(b"GET /healthz HTTP/1.1\r\n")
    assert closed_by_server(head, b"X-Drip: 1\r\n")  # a head that never ends
    body = raw_request(url, "POST", "/v1/chat", b"{", {"Content-Type": "application/json"}, length=60_000)
    assert closed_by_server(body, b" ")  # a body that never ends
    kept = raw_request(url, "GET", "/healthz")
    assert b" 200 " in read_headers(kept)
    assert closed_by_server(kept)  # idle after its answer


def test_a_client_that_stops_reading_is_cut_off(strict_server):
    url, _ = strict_server
    sock = connect(url)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 2000)  # and reads nothing

    watch = select.poll()
    watch.register(sock, select.POLLRDHUP)  # not POLLIN: the unread answers stay unread
    try:
        events = watch.poll(WAIT * 1000)
        assert events and events[0][1] & (select.POLLERR | select.POLLHUP | select.POLLRDHUP), events
    finally:
        sock.close()


@pytest.fixture(scope="module")
def crowded_server(tmp_path_factory):
    """Room for four connections, and the default deadlines: the held ones stay open however
    slow the machine is."""
    root = tmp_path_factory.mktemp("crowded")
    env = environment(root / "home", root / "config.toml", None, TRIAGE_MAX_CONNECTIONS="4")
    with server_in_thread(env) as url:
        yield url


def test_connections_beyond_max_connections_get_503(crowded_server):
    """max_connections = 4: three connections held open, each answered in turn; the request on
    the fourth (the limit reached, counting itself) is a 503."""
    url = crowded_server
    held: list[socket.socket] = []
    try:
        for _ in range(3):
            held.append(sock := connect(url))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert read_headers(sock).split(b" ", 2)[1] == b"200"  # open and answered
        extra = raw_request(url, "GET", "/healthz")
        assert read_headers(extra).split(b" ", 2)[1] == b"503"
        extra.close()
    finally:
        for sock in held:
            sock.close()


def test_ticket_json_escapes_control_bidi_and_c1_characters(open_server):
    url, home = open_server
    ticket = file_ticket(home, summary="late \u202eevil\x9b[31m \x85 \u2028")
    with httpx.Client(base_url=url, timeout=WAIT) as http:
        raw = http.get(f"/v1/tickets/{ticket}").content
        listed = http.get("/v1/tickets").content
        refused = http.post("/v1/tickets/claim", json={"agent": "ana\u202e", "ticket_id": ticket})
    for body in (raw, listed):
        text = body.decode("utf-8")
        assert "\\u202e" in text and "\\u009b" in text and "\\u0085" in text and "\\u2028" in text
        assert not any(ch in text for ch in "\u202e\x9b\x85\u2028")
    assert refused.status_code == 400  # an agent's name holds no control or bidi character


# --------------------------------------------------------------------------- secrets

def test_tokens_in_a_closing_note_are_redacted_before_they_are_stored(team_server):
    url, home, tokens = team_server
    ticket = file_ticket(home)
    note = f"ops token {OPERATOR_TOKEN}, ana's {tokens['ana']}, someone's trg_{'Q' * 43}"
    with httpx.Client(base_url=url, timeout=WAIT) as http:
        closed = http.post(f"/v1/tickets/{ticket}/close", json={"note": note}, headers=bearer(tokens["lea"])).json()
    stored = TicketStore(home).get(ticket).note
    for text in (closed["note"], stored, TicketStore(home).events(ticket)[-1].note):
        assert text == "ops token [redacted], ana's [redacted], someone's [redacted]"


def test_an_agent_name_holding_a_token_is_refused(team_server):
    url, home, tokens = team_server
    ticket = file_ticket(home)
    with httpx.Client(base_url=url, timeout=WAIT) as http:
        refused = http.post("/v1/tickets/claim", json={"ticket_id": ticket, "agent": tokens["ana"]},
                            headers=bearer(OPERATOR_TOKEN))
    assert refused.status_code == 400 and "token" in error_of(refused)["message"]
    assert TicketStore(home).get(ticket).assignee is None
