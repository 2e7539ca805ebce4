"""`triage serve` as a process on loopback, the real openai SDK in it against the scripted model
server: what only a process shows. A client hanging up mid-answer (the model server sees its
connection closed; the turn is stored interrupted), SIGTERM mid-answer (the stream ends with
`error` code `shutdown`, the process exits, the turn is stored interrupted), the request log, and
the refusal to listen beyond loopback without a token. The routes themselves are tested in
process in test_serve.py."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator

import httpx2 as httpx
import pytest

from helpers import stored_conversation
from scripted_server import Reply, ScriptedServer, answer, tools
from serve_helpers import SSE, WAIT, environment, eventually, read_events, start_serve

SLOW = "[slow]"
SLOW_REPLY = "Let me look that order up for you, one moment please. " * 4
REPLY = "Order A1002 is delayed by a day: severe weather at the Manchester hub."


def script(body: dict, index: int) -> Reply:
    question = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    if SLOW in question:  # a few chunks, then quiet (keep-alive comments only) until the client leaves
        return answer(SLOW_REPLY, order_id="A1002",
                      stall_after=6, stall_seconds=WAIT, stall_keepalive=True)
    if body["messages"][-1]["role"] != "tool":
        return tools(("get_order_status", {"order_id": "A1002"}))
    return answer(REPLY, order_id="A1002", issue="delayed delivery", status="delayed")


@pytest.fixture(scope="module")
def model():
    with ScriptedServer(script) as srv:
        yield srv


@pytest.fixture(scope="module")
def served(model, tmp_path_factory):
    """One `triage serve` process for the module, stopped by its pid at the end."""
    root = tmp_path_factory.mktemp("serve-process")
    env = environment(root / "home", root / "config.toml", model.base_url)
    process = start_serve(env, root / "stderr.log")
    yield process
    process.stop()


def first_content(events: Iterator[SSE | None]) -> tuple[int, str]:
    """Read the stream up to its first `content` event: (the conversation id, that content)."""
    conversation_id = None
    for event in events:
        if event is None:
            continue
        if event.name == "conversation":
            conversation_id = event.data["conversation_id"]
        if event.name == "content":
            assert conversation_id is not None
            return conversation_id, event.data["content"]
    raise AssertionError("the stream ended before any content")


def test_an_answer_through_the_process_and_its_log_line(served):
    with httpx.Client(base_url=served.url, timeout=WAIT) as client, \
            client.stream("POST", "/v1/chat/stream", json={"message": "Where is A1002? (private words)"}) as response:
        names = [e.name for e in read_events(response) if e is not None]

    assert names[:4] == ["conversation", "tool_calls", "tool_executing", "tool_result"]
    assert names[-3:] == ["triage", "usage", "done"]
    line = eventually(lambda: [x for x in served.log().splitlines() if "POST /v1/chat/stream 200" in x],
                      "the request's log line")
    assert len(line) == 1
    assert "private words" not in served.log() and "sk-test" not in served.log()


def test_a_client_hanging_up_mid_answer_cancels_the_model_stream_and_stores_the_turn(served, model):
    before = model.disconnects
    with httpx.Client(base_url=served.url, timeout=WAIT) as client:
        with client.stream("POST", "/v1/chat/stream", json={"message": f"{SLOW} where is it?"}) as response:
            conversation_id, seen = first_content(read_events(response))
        # The client has hung up: the server cancels the turn, so the model sees its stream closed.
        eventually(lambda: model.disconnects > before, "the model server to see its connection closed")

        def stored_turn() -> dict | None:
            turn = client.get(f"/v1/conversations/{conversation_id}").json()["turns"][-1]
            return turn if turn["state"] != "running" else None

        turn = eventually(stored_turn, "the turn to be stored")
    assert turn["state"] == "interrupted"
    # As far as it got when the server saw the hang-up (on a busy machine, only what the client saw).
    said, mark = turn["reply"].split("\n\n")
    assert mark == "[interrupted]" and said.startswith(seen) and SLOW_REPLY.startswith(said)
    assert turn["error"] == "interrupted"


def test_sigterm_with_no_drain_ends_the_stream_with_shutdown_and_stores_the_turn(model, tmp_path):
    env = environment(tmp_path / "home", tmp_path / "config.toml", model.base_url, TRIAGE_DRAIN_SECONDS="0")
    served = start_serve(env, tmp_path / "stderr.log")
    try:
        with httpx.Client(base_url=served.url, timeout=WAIT) as client, \
                client.stream("POST", "/v1/chat/stream", json={"message": f"{SLOW} and now?"}) as response:
            events = read_events(response)
            conversation_id, seen = first_content(events)
            os.kill(served.process.pid, signal.SIGTERM)
            rest = [e for e in events if e is not None]
        assert [e.name for e in rest][-1:] == ["error"]
        assert rest[-1].data["code"] == "shutdown"
        served.process.wait(timeout=WAIT)  # it exits on its own (within its 3 s grace; bounded generously here)
    finally:
        served.stop()
    stored = stored_conversation(tmp_path / "home", str(conversation_id))
    assert stored["turns"][-1]["state"] == "interrupted"
    said = stored["turns"][-1]["reply"].split("\n\n")[0]  # as far as it got, at least what was seen
    assert said.startswith(seen) and SLOW_REPLY.startswith(said)


def test_sigterm_drains_the_open_turn_finishes_no_new_one_begins_and_the_process_exits(tmp_path):
    """A deploy or a balancer taking the replica away: SIGTERM stops accepting (a new turn finds
    no listener, or, on a connection still open, a 503), the turn under way finishes (within
    drain_seconds), then the process exits."""
    quiet = threading.Event()
    held = answer("Let me look that order up. It is a day late.", order_id="A1002", issue="late",
                  status="delayed", next_step="answer", summary="late", stall_after=3, stall_until=quiet,
                  stall_seconds=WAIT)
    with ScriptedServer([held]) as slow:
        env = environment(tmp_path / "home", tmp_path / "config.toml", slow.base_url, TRIAGE_DRAIN_SECONDS="60")
        served = start_serve(env, tmp_path / "stderr.log")
        try:
            with httpx.Client(base_url=served.url, timeout=WAIT) as client, \
                    client.stream("POST", "/v1/chat/stream", json={"message": "Where is A1002?"}) as response:
                events = read_events(response)
                first_content(events)
                os.kill(served.process.pid, signal.SIGTERM)
                eventually(lambda: "draining: no new turn; 1 under way" in served.log(), "the drain to begin")

                def refused() -> bool:
                    try:
                        turned = httpx.post(f"{served.url}/v1/chat/stream", json={"message": "And A1003?"},
                                            timeout=WAIT)
                    except httpx.TransportError:
                        return True  # no one listens any more
                    assert turned.status_code == 503 and turned.json()["error"]["code"] == "shutdown"
                    return True

                eventually(refused, "a new turn to be refused")
                quiet.set()  # the model goes on: the turn under way finishes
                rest = [e for e in events if e is not None]
            assert [e.name for e in rest][-1:] == ["done"]
            # Then it exits on its own (uvicorn ends by the signal it was sent, as a process should).
            assert served.process.wait(timeout=WAIT) in (0, -signal.SIGTERM)
        finally:
            quiet.set()
            served.stop()
    assert [t["state"] for t in stored_conversation(tmp_path / "home")["turns"]] == ["complete"]
    assert slow.requests and len(slow.requests) == 1  # "And A1003?" never reached the model


@pytest.mark.parametrize("how", [("serve", "--host", "0.0.0.0"), ("serve",)], ids=["flag", "environment"])
def test_a_host_beyond_loopback_without_a_token_is_refused(run_triage, how):
    result = run_triage(*how, env={"TRIAGE_HOST": "192.0.2.1"})

    assert result.code == 2
    assert len(result.err.splitlines()) == 1
    assert "without a token" in result.err and "TRIAGE_SERVER_TOKEN" in result.err
    assert "Traceback" not in result.err


def test_a_busy_port_is_one_line(run_triage):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        result = run_triage("serve", "--port", str(taken.getsockname()[1]))

    assert result.code == 2
    assert result.err.startswith("error: cannot listen on 127.0.0.1:") and len(result.err.splitlines()) == 1
