"""`triage serve`'s routes, in this process: the app under uvicorn in a thread on loopback, the
real openai SDK in it against the scripted model server, and an SSE client reading the stream
line by line. What needs the process (signals, the bind refusal, a client hanging up on the real
process) is in test_serve_process.py.

The scripted model answers by the question, so the tests here share one server in any order."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx2 as httpx
import pytest

from helpers import as_stored
from scripted_server import Reply, ScriptedServer, answer, error, tools
from triage_cli.server.requests import turn_request
from serve_helpers import WAIT, environment, error_of, eventually, read_events, server_in_thread, stream

KEY = "sk-test-not-a-real-key"
TOOL = "get_order_status"
LOOKUP_REPLY = "Order A1002 is delayed by a day: severe weather at the Manchester hub. It should arrive tomorrow."
SLOW = "[slow]"  # a question with this in it gets an answer that stalls after a few chunks


def questions(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "user"]


def script(body: dict, index: int) -> Reply:
    """The model's answer to each request: a lookup, then an answer that reads the result."""
    question = questions(body)[-1]
    looked_up = body["messages"][-1]["role"] == "tool"
    if SLOW in question:
        return answer("Let me check that order for you, one moment please while I look it up." * 3,
                      order_id="A1002", stall_after=6, stall_seconds=WAIT, stall_keepalive=True)
    if "[refused]" in question:
        return error(400, "scripted refusal")
    if "key" in question:
        return answer(f"Your key is {KEY}, keep it safe.\x1b[2J\x9b31m\u202e", order_id=None, issue="key",
                      status="none")
    if "A1002" in question and not looked_up:
        return tools((TOOL, {"order_id": "A1002"}))
    return answer(LOOKUP_REPLY, order_id="A1002", issue="delayed delivery", status="delayed",
                  summary="A1002 is delayed by weather.")


def requests_about(model: ScriptedServer, text: str) -> list[dict]:
    return [body for body in model.requests if text in questions(body)[-1]]


@pytest.fixture(scope="module")
def model():
    with ScriptedServer(script) as srv:
        yield srv


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve") / "home"


@pytest.fixture(scope="module")
def client(model, home):
    env = environment(home, home.parent / "config.toml", model.base_url, TRIAGE_MAX_CONCURRENT_TURNS="2")
    with server_in_thread(env) as url, httpx.Client(base_url=url, timeout=WAIT) as http:
        yield http


@pytest.fixture(scope="module")
def offline_client(tmp_path_factory):
    home = tmp_path_factory.mktemp("serve-offline") / "home"
    with server_in_thread(environment(home, home.parent / "config.toml", None)) as url, \
            httpx.Client(base_url=url, timeout=WAIT) as http:
        yield http


# --------------------------------------------------------------------------- one turn, streamed


def test_a_one_lookup_answer_streams_its_events_in_order(client, model):
    question = "Where is A1002? (one lookup)"
    turn = stream(client, {"message": question})

    assert turn.status == 200
    assert turn.headers["content-type"].startswith("text/event-stream")
    assert turn.headers["cache-control"] == "no-store"
    assert turn.headers["x-accel-buffering"] == "no"
    assert len(requests_about(model, question)) == 2  # the lookup round, then the streamed answer
    assert [e.id for e in turn.events] == list(range(1, len(turn.events) + 1))
    names = turn.names
    assert names[0] == "conversation" and names[-1] == "done"
    assert names[1:4] == ["tool_calls", "tool_executing", "tool_result"]
    assert "content" not in names[:4] and names.index("triage") > max(i for i, n in enumerate(names) if n == "content")
    assert set(names[4:]) == {"content", "triage", "usage", "done"}

    conversation_id = turn.events[0].data["conversation_id"]
    assert isinstance(conversation_id, int)
    (planned,) = turn.named("tool_calls")
    (call,) = planned.data["tools"]
    assert planned.data == {"tools": [{"id": call["id"], "name": TOOL, "arguments": {"order_id": "A1002"}}],
                            "iteration": 1}
    assert turn.named("tool_executing")[0].data == {"tool": TOOL, "id": call["id"], "arguments": {"order_id": "A1002"}}
    result = turn.named("tool_result")[0].data
    assert set(result) == {"tool", "id", "ok", "result", "duration_ms", "is_large"}
    assert (result["tool"], result["id"], result["ok"], result["is_large"]) == (TOOL, call["id"], True, False)
    assert result["duration_ms"] == round(result["duration_ms"], 1)
    assert json.loads(result["result"])["order_id"] == "A1002"
    record = turn.named("triage")[0].data
    assert (record["order_id"], record["next_step"], record["ticket"]) == ("A1002", "answer", None)
    usage = turn.named("usage")[0].data
    assert usage["model_calls"] == 2 and {"prompt_tokens", "completion_tokens", "ttft_ms", "total_ms"} <= set(usage)
    done = turn.named("done")[0].data
    assert set(done) == {"content", "finish_reason", "answered_by", "conversation_id"}
    assert done["conversation_id"] == conversation_id and done["answered_by"] is None
    assert done["finish_reason"] == "stop"
    assert done["content"].startswith(LOOKUP_REPLY)
    assert turn.content == done["content"]  # the tokens add up to the whole reply
    assert len(turn.named("content")) > 1


def test_a_follow_up_carries_the_earlier_turns(client, model):
    first = stream(client, {"message": "Where is A1002? (first turn)"})
    conversation_id = first.named("done")[0].data["conversation_id"]

    second = stream(client, {"message": "And when will it arrive? (second turn)", "conversation_id": conversation_id})

    assert second.names[0] == "conversation" and second.names[-1] == "done"
    assert second.events[0].data["conversation_id"] == conversation_id
    request = requests_about(model, "(second turn)")[-1]
    assert "Where is A1002? (first turn)" in questions(request)[0]
    assert any(m["role"] == "assistant" and m.get("content") and any(f in m["content"] for f in as_stored(LOOKUP_REPLY))
               for m in request["messages"])  # the earlier answer as stored: its days dated
    stored = client.get(f"/v1/conversations/{conversation_id}").json()
    assert [t["state"] for t in stored["turns"]] == ["complete", "complete"]
    assert stored["source"] == "serve"


def test_turns_share_one_model_client_and_its_connection(client, model):
    before = model.connections
    for number in range(3):  # three conversations, two model calls each
        assert stream(client, {"message": f"Where is A1002? (shared {number})"}).names[-1] == "done"

    assert model.connections - before <= 1  # a client per turn would open one connection each


def test_post_chat_answers_with_one_json_object(client):
    body = client.post("/v1/chat", json={"message": "Where is A1002? (as JSON)"}).json()

    assert body["reply"].startswith(LOOKUP_REPLY)
    assert body["triage"]["order_id"] == "A1002"
    assert [call["name"] for call in body["tool_calls"]] == [TOOL]
    assert body["usage"]["model_calls"] == 2 and body["error"] is None
    assert isinstance(body["conversation_id"], int)


def test_keys_are_redacted_and_control_characters_escaped_in_the_stream(client):
    turn = stream(client, {"message": "Tell me my key"})
    raw = client.post("/v1/chat/stream", json={"message": "Tell me my key again"}).content.decode()

    assert KEY not in json.dumps([e.data for e in turn.events]) and KEY not in raw
    assert "[redacted]" in turn.named("done")[0].data["content"]
    # The key reaches the server in several chunks: the content events, put together, hold none.
    assert KEY not in turn.content and turn.content == turn.named("done")[0].data["content"]
    assert "\x1b[2J\x9b31m\u202e" in turn.named("done")[0].data["content"]  # the data, as JSON said it
    assert not any(char in raw for char in "\x1b\x9b\u202e")  # nothing raw on the wire
    assert "\\u001b[2J\\u009b31m\\u202e" in raw


def test_quiet_turns_get_keep_alive_comments(client, monkeypatch):
    from triage_cli.server import stream as streaming

    monkeypatch.setattr(streaming, "KEEP_ALIVE_SECONDS", 0.2)  # the server runs in this process
    with client.stream("POST", "/v1/chat/stream", json={"message": f"{SLOW} quiet"}) as response:
        events = read_events(response)
        assert next(e for e in events if e is not None and e.name == "content")
        assert next(e for e in events if e is None or e.name not in ("content",)) is None  # a comment, mid-turn


def test_cors_is_off_unless_origins_are_listed(client, tmp_path):
    origin = "https://help.example.com"
    preflight = {"Origin": origin, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}
    assert "access-control-allow-origin" not in client.get("/healthz", headers={"Origin": origin}).headers
    env = environment(tmp_path / "home", tmp_path / "config.toml", None, TRIAGE_CORS_ORIGINS=f"{origin}, https://x.test")
    with server_in_thread(env) as url, httpx.Client(base_url=url, timeout=WAIT) as http:
        allowed = http.options("/v1/chat/stream", headers=preflight)
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == origin
        assert http.get("/healthz", headers={"Origin": origin}).headers["access-control-allow-origin"] == origin
        other = http.get("/healthz", headers={"Origin": "https://evil.test"})
        assert "access-control-allow-origin" not in other.headers


def test_the_server_settings_come_from_the_file_the_environment_and_flags(tmp_path):
    from triage_cli.config_server import load_server_settings
    from triage_cli.errors import ConfigError

    config = tmp_path / "config.toml"
    config.write_text('host = "0.0.0.0"\nport = 9000\ncors_origins = ["https://a.test"]\nmax_concurrent_turns = 4\n')
    env = {"TRIAGE_CONFIG": str(config)}
    loaded = load_server_settings({}, environ=env)
    assert (loaded.host, loaded.port, loaded.cors_origins, loaded.max_concurrent_turns, loaded.token) == (
        "0.0.0.0", 9000, ("https://a.test",), 4, None)
    assert not loaded.loopback
    loaded = load_server_settings({"port": 9100}, environ={**env, "TRIAGE_PORT": "9001", "TRIAGE_HOST": "::1",
                                                           "TRIAGE_SERVER_TOKEN": "long-enough"})
    assert (loaded.host, loaded.port, loaded.token, loaded.loopback) == ("::1", 9100, "long-enough", True)
    assert "long-enough" not in repr(loaded)
    for bad, says in (({"TRIAGE_SERVER_TOKEN": "short"}, "TRIAGE_SERVER_TOKEN: server_token must be at least 8"),
                      ({"TRIAGE_PORT": "70000"}, "TRIAGE_PORT: port must be between 0 and 65535"),
                      ({"TRIAGE_MAX_CONCURRENT_TURNS": "0"}, "max_concurrent_turns must be")):
        with pytest.raises(ConfigError, match=says):
            load_server_settings({}, environ={**env, **bad})
    config.write_text('cors_origins = "https://a.test"\n')
    with pytest.raises(ConfigError, match="cors_origins' must be a list of origins"):
        load_server_settings({}, environ=env)


def test_a_failed_model_call_ends_the_stream_with_an_error_event(client):
    turn = stream(client, {"message": "[refused] Where is my parcel?"})

    assert turn.status == 200
    assert turn.names[0] == "conversation" and turn.names[-1] == "error" and "done" not in turn.names
    assert turn.events[-1].data["code"] == "model" and set(turn.events[-1].data) == {"message", "code"}
    stored = client.get(f"/v1/conversations/{turn.events[0].data['conversation_id']}").json()
    assert stored["turns"][-1]["state"] == "interrupted"


# --------------------------------------------------------------------------- one turn at a time


def test_a_second_turn_on_an_answering_conversation_gets_409_and_others_answer(client, model):
    conversation_id = stream(client, {"message": "Where is A1002? (busy)"}).events[0].data["conversation_id"]

    with httpx.Client(base_url=str(client.base_url), timeout=WAIT) as slow_client, \
            slow_client.stream("POST", "/v1/chat/stream",
                               json={"message": f"{SLOW} still there?", "conversation_id": conversation_id}) as slow:
        events = read_events(slow)
        assert next(e for e in events if e is not None and e.name == "content")  # answering now

        busy = client.post("/v1/chat/stream", json={"message": "hello?", "conversation_id": conversation_id})
        assert busy.status_code == 409
        assert error_of(busy)["code"] == "busy"
        other = stream(client, {"message": "Where is A1002? (another conversation)"})
        assert other.names[-1] == "done"
        assert other.events[0].data["conversation_id"] != conversation_id
    # The slow stream was hung up on: the conversation answers again once that turn has ended.

    def answered_again() -> object:
        turn = stream(client, {"message": "Where is A1002? (after)", "conversation_id": conversation_id})
        return turn if turn.status != 409 else None

    again = eventually(answered_again, "the hung-up turn to end")
    assert again.names[-1] == "done"


def test_turns_beyond_max_concurrent_turns_get_429_with_retry_after(client):
    # A turn an earlier test hung up on may still be ending: start with every place free.
    eventually(lambda: client.get("/healthz").json()["turns"] == 0, "earlier turns to end")
    with httpx.Client(base_url=str(client.base_url), timeout=WAIT) as first, \
            httpx.Client(base_url=str(client.base_url), timeout=WAIT) as second, \
            first.stream("POST", "/v1/chat/stream", json={"message": f"{SLOW} one"}) as one, \
            second.stream("POST", "/v1/chat/stream", json={"message": f"{SLOW} two"}) as two:
        # The readers are kept: an abandoned reader closes its connection, and the server would
        # (rightly) end that turn as a hang-up, racing the third request for the place.
        readers = [read_events(response) for response in (one, two)]
        for events in readers:
            assert next(e for e in events if e is not None and e.name == "content")
        assert client.get("/healthz").json()["turns"] == 2

        refused = client.post("/v1/chat/stream", json={"message": "Where is A1002? (third)"})

        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert error_of(refused)["code"] == "too_many_turns"
    # Both were hung up on: turns are taken again once theirs have ended.
    eventually(lambda: client.post("/v1/chat", json={"message": "Where is A1002? (fourth)"}).status_code == 200,
               "the hung-up turns to end")


# --------------------------------------------------------------------------- limits and bad input


def test_a_body_over_64_kib_gets_413(client):
    response = client.post("/v1/chat/stream", content=json.dumps({"message": "x" * 70_000}),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert error_of(response)["code"] == "body_too_large"

    chunked = client.post("/v1/chat/stream", content=iter([b'{"message": "', b"y" * 70_000, b'"}']),
                          headers={"content-type": "application/json"})  # no Content-Length to trust
    assert chunked.status_code == 413


def test_a_message_over_50000_characters_is_refused(client):
    short_enough_body = client.post("/v1/chat/stream", json={"message": "a" * 50_001})
    assert short_enough_body.status_code == 413
    assert error_of(short_enough_body)["code"] == "message_too_long"
    # A piped question's newline is not counted, as the CLI does not count it (checked before
    # anything is answered: a 4xx here would come at once).
    at_the_limit = turn_request({"message": "A1002 " + "a" * 49_994 + "\n"})
    assert len(at_the_limit.message) == 50_000


@pytest.mark.parametrize(("body", "content_type", "status", "code"), [
    (b'{"message": "Where is', "application/json", 400, "invalid_json"),
    (b'["Where is A1002?"]', "application/json", 400, "invalid_json"),
    (b'{"message": "Where is A1002?"}', "text/plain", 415, "unsupported_media_type"),
    (b'{}', "application/json", 400, "invalid"),
    (b'{"message": 12}', "application/json", 400, "invalid"),
    (b'{"message": "   "}', "application/json", 400, "invalid"),
    (b'{"message": "hi", "conversation_id": "7"}', "application/json", 400, "invalid"),
    (b'{"message": "hi", "conversation_id": true}', "application/json", 400, "invalid"),
    (b'{"message": "hi", "conversation_id": 999999}', "application/json", 404, "not_found"),
    (b'{"message": "hi", "order": "not an order!"}', "application/json", 400, "invalid"),
    (b'{"message": "hi", "order": 1002}', "application/json", 400, "invalid"),
], ids=["malformed", "not-an-object", "content-type", "no-message", "message-type", "empty-message",
        "conversation-type", "conversation-bool", "unknown-conversation", "bad-order", "order-type"])
def test_bad_input_to_a_turn_gets_a_4xx_with_a_clear_message(client, body, content_type, status, code):
    for path in ("/v1/chat/stream", "/v1/chat"):
        response = client.post(path, content=body, headers={"content-type": content_type})
        assert response.status_code == status, response.text
        assert error_of(response)["code"] == code


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/v1/conversations/abc", 400),
    ("GET", "/v1/conversations/999999", 404),
    ("GET", "/v1/conversations?limit=0", 400),
    ("GET", "/v1/conversations?limit=many", 400),
    ("GET", "/v1/conversations?order=not-an-id!", 400),
    ("GET", "/v1/tickets?status=lost", 400),
    ("GET", "/v1/tickets/abc", 400),
    ("GET", "/v1/tickets/999999", 404),
    ("POST", "/v1/tickets/999999/close", 404),
    ("GET", "/v1/nothing-here", 404),
    ("DELETE", "/v1/tickets/1", 405),
])
def test_bad_reads_get_a_4xx_with_a_clear_message(client, method, path, status):
    response = client.request(method, path, headers={"content-type": "application/json"})  # as a client must
    assert response.status_code == status, response.text
    error_of(response)


def test_each_request_is_logged_in_one_line_without_the_message(client, caplog):
    with caplog.at_level(logging.INFO, logger="triage.serve"):
        stream(client, {"message": "Where is A1002? (a secret customer sentence)"})
        client.get("/v1/tickets?status=open")

        def logged() -> list[str]:
            lines = [record.getMessage() for record in caplog.records]
            return lines if any(line.startswith("GET /v1/tickets 200 ") for line in lines) else []

        lines = eventually(logged, "the log lines")
    assert any(line.startswith("POST /v1/chat/stream 200 ") for line in lines), lines
    assert not any("secret customer" in line or KEY in line or "status=open" in line for line in lines)


# --------------------------------------------------------------------------- the other routes


def test_healthz(client):
    from triage_cli import __version__

    health = client.get("/healthz").json()
    assert set(health) == {"ok", "version", "provider", "model", "database", "replica", "turns", "max_turns"}
    assert health["replica"] == client.get("/healthz").headers["x-triage-replica"]  # which process answered
    assert (health["ok"], health["version"], health["provider"], health["database"]) == (
        True, __version__, "openai", True)
    assert health["model"] and health["max_turns"] == 2 and isinstance(health["turns"], int)


def test_conversations_are_listed_by_order(client):
    stream(client, {"message": "Where is A1002? (listed)"})

    listed = client.get("/v1/conversations", params={"order": "a1002", "limit": 50}).json()["conversations"]
    assert listed and all("A1002" in c["order_ids"] for c in listed)
    assert client.get("/v1/conversations", params={"order": "A1004"}).json() == {"conversations": []}


def test_the_offline_engine_answers_and_escalations_become_tickets(offline_client):
    turn = stream(offline_client, {"message": "Where is my order?", "order": "A9999"})

    assert turn.names[0] == "conversation" and turn.names[-1] == "done"
    assert "tool_result" in turn.names and "notice" in turn.names
    notice = turn.named("notice")[0].data  # the hint apart: it is about the server's settings
    assert notice["message"] == "Answered by the offline rules engine (no model)." and "--provider" in notice["hint"]
    assert turn.content == turn.named("done")[0].data["content"]
    record = turn.named("triage")[0].data
    assert record["next_step"] == "escalate" and isinstance(record["ticket"], int)
    ticket_id = record["ticket"]

    assert offline_client.get("/healthz").json()["provider"] == "offline"
    listed = offline_client.get("/v1/tickets").json()["tickets"]
    assert [t["id"] for t in listed] == [ticket_id]
    assert offline_client.get(f"/v1/tickets/{ticket_id}").json()["order_id"] == "A9999"
    closed = offline_client.post(f"/v1/tickets/{ticket_id}/close", json={"note": "Found it"}).json()
    assert (closed["status"], closed["note"]) == ("closed", "Found it")
    again = offline_client.post(f"/v1/tickets/{ticket_id}/close", json={})  # the queue moved on: a conflict
    assert again.status_code == 409 and "already closed" in error_of(again)["message"]
    assert offline_client.get("/v1/tickets").json() == {"tickets": []}
    assert [t["id"] for t in offline_client.get("/v1/tickets?status=closed").json()["tickets"]] == [ticket_id]
    bad_note = offline_client.post(f"/v1/tickets/{ticket_id}/close", json={"note": 5})
    assert bad_note.status_code == 400


def test_the_queue_over_http_claims_releases_and_closes_for_the_holder(offline_client):
    filed = [stream(offline_client, {"message": f"Where is my order? It is {order}.", "order": order})
             .named("triage")[0].data["ticket"] for order in ("A9001", "A9002")]
    first, second = sorted(filed)

    claimed = offline_client.post("/v1/tickets/claim", json={"agent": "ana"}).json()
    assert (claimed["id"], claimed["assignee"]) == (first, "ana")  # the oldest nobody holds
    taken = offline_client.post("/v1/tickets/claim", json={"agent": "ben", "ticket_id": first})
    assert taken.status_code == 409 and "held by ana" in error_of(taken)["message"]
    assert offline_client.post("/v1/tickets/claim", json={"agent": "ben"}).json()["id"] == second
    assert [t["id"] for t in offline_client.get("/v1/tickets?assignee=ana").json()["tickets"]] == [first]

    assert offline_client.post(f"/v1/tickets/{first}/release", json={"agent": "ben"}).status_code == 409
    released = offline_client.post(f"/v1/tickets/{first}/release", json={"agent": "ana"}).json()
    assert released["assignee"] is None
    refused = offline_client.post(f"/v1/tickets/{second}/close", json={"agent": "ana", "note": "done"})
    assert refused.status_code == 409 and "held by ben" in error_of(refused)["message"]
    anonymous = offline_client.post(f"/v1/tickets/{second}/close", json={})  # no name: not the holder either
    assert anonymous.status_code == 409 and "held by ben" in error_of(anonymous)["message"]
    forced = offline_client.post(f"/v1/tickets/{second}/close", json={"agent": "ana", "force": True}).json()
    assert forced["status"] == "closed"
    assert offline_client.post(f"/v1/tickets/{first}/close", json={"agent": "ana"}).json()["status"] == "closed"

    empty = offline_client.post("/v1/tickets/claim", json={"agent": "ana"})
    assert empty.status_code == 404 and error_of(empty)["code"] == "queue_empty"
    for body in ({}, {"agent": ""}, {"agent": 5}, {"agent": "ana", "ticket_id": "one"}, {"agent": "x" * 101}):
        assert offline_client.post("/v1/tickets/claim", json=body).status_code == 400, body
    assert offline_client.post(f"/v1/tickets/{first}/release", json={"agent": "ana", "force": "yes"}).status_code == 400


def test_with_a_token_every_route_but_healthz_needs_it(tmp_path):
    token = "a-long-enough-token"
    env = environment(tmp_path / "home", tmp_path / "config.toml", None, TRIAGE_SERVER_TOKEN=token)
    with server_in_thread(env) as url, httpx.Client(base_url=url, timeout=WAIT) as http:
        for headers in ({}, {"Authorization": "Bearer wrong-token-here"}, {"Authorization": token}):
            refused = http.post("/v1/chat/stream", json={"message": "Where is A1002?"}, headers=headers)
            assert refused.status_code == 401
            assert error_of(refused)["code"] == "unauthorized"
            assert http.get("/v1/tickets", headers=headers).status_code == 401
            assert http.get("/docs", headers=headers).status_code == 401
        assert http.get("/healthz").status_code == 200
        allowed = {"Authorization": f"Bearer {token}"}
        assert http.get("/v1/tickets", headers=allowed).status_code == 200
        assert stream(http, {"message": "Where is A1002?"}, headers=allowed).names[-1] == "done"
