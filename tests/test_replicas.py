"""Two `triage serve` replicas on one PostgreSQL behind a real balancer (HAProxy, round robin):
who may answer a conversation is decided in the database, so a conversation started through one
replica continues through the other, the one-turn-per-conversation 409 holds across them, and a
replica killed mid-answer leaves the client a cut stream and its turn interrupted for everyone
once its lease lapses, while the other replica goes on serving."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx2 as httpx

from balancer import balancer
from scripted_server import ScriptedServer, answer, text
from serve_helpers import TEAM_TOKEN, WAIT, ServeProcess, environment, eventually, read_events, start_serve, stream

REPLICA = "x-triage-replica"


def replica_of(served: ServeProcess) -> str:
    """The replica id a process gives in its first log line (and on every response)."""
    return served.log().split("replica ", 1)[1].split(")", 1)[0]


def reply(words: str) -> object:
    return answer(words, order_id="A1002", issue="late delivery", status="delayed", next_step="answer",
                  summary=words)


def test_two_replicas_behind_haproxy_share_the_conversation_the_409_and_a_crash(postgres, tmp_path: Path) -> None:
    url = postgres.new_database()
    quiet = threading.Event()  # the held answer stays quiet until the test is done with it

    def env(name: str) -> dict[str, str]:
        (tmp_path / name).mkdir()
        return environment(tmp_path / name / "home", tmp_path / name / "config.toml", model.base_url,
                           TRIAGE_DATABASE_URL=url, TRIAGE_SERVER_TOKEN=TEAM_TOKEN, TRIAGE_TURN_LEASE_SECONDS="3")

    with ScriptedServer() as model, \
            start_serve(env("a"), tmp_path / "a.log") as first, start_serve(env("b"), tmp_path / "b.log") as second, \
            balancer([first.url, second.url], tmp_path) as front, \
            httpx.Client(base_url=front, headers={"Authorization": f"Bearer {TEAM_TOKEN}"}, timeout=WAIT) as client:
        replicas = {replica_of(first): first, replica_of(second): second}

        # A conversation started through one replica continues through the other.
        model.add(reply("A1002 is a day late."), reply("It should arrive tomorrow."))
        started = stream(client, {"message": "Where is A1002?"})
        conversation_id = started.named("conversation")[0].data["conversation_id"]
        followed = stream(client, {"message": "When will it come?", "conversation_id": conversation_id})
        assert started.status == followed.status == 200 and "done" in started.names and "done" in followed.names
        assert {started.headers[REPLICA], followed.headers[REPLICA]} == set(replicas)  # one each
        turns = client.get(f"/v1/conversations/{conversation_id}").json()["turns"]
        assert [(t["question"], t["state"]) for t in turns] == [("Where is A1002?", "complete"),
                                                              ("When will it come?", "complete")]

        # A turn held open on one replica: the next turn of that conversation is a 409 from the other.
        model.add(text("Checking with the carrier now", stall_after=1, stall_until=quiet, stall_seconds=WAIT))
        with client.stream("POST", "/v1/chat/stream", json={"message": "Any news?",
                                                            "conversation_id": conversation_id}) as held:
            holder = held.headers[REPLICA]
            events = read_events(held)
            assert next(e for e in events if e is not None and e.name == "content")  # answering, then quiet
            tries = [client.post("/v1/chat/stream", json={"message": "Hello?", "conversation_id": conversation_id})
                     for _ in range(3)]  # round robin: at least one reaches the other replica
            assert {t.headers[REPLICA] for t in tries} == set(replicas)
            assert [t.status_code for t in tries] == [409] * 3
            assert all(t.json()["error"]["code"] == "busy" for t in tries)

            # The replica answering it is killed mid-answer: the client's stream is cut ...
            replicas[holder].kill()
            try:
                rest = [e for e in events if e is not None]
            except httpx.HTTPError:
                rest = []  # the connection ended mid-message
            assert "done" not in [e.name for e in rest]
        quiet.set()

        # ... its turn reads interrupted from the other replica once its lease lapses (3 s here) ...
        def interrupted() -> bool:
            found = client.get(f"/v1/conversations/{conversation_id}")
            return found.status_code == 200 and found.json()["turns"][-1]["state"] == "interrupted"

        eventually(interrupted, "the dead replica's turn to read interrupted")
        [survivor] = [name for name in replicas if name != holder]
        assert client.get("/healthz").json()["replica"] == survivor

        # ... and the other replica goes on serving the conversation.
        model.add(reply("It is still a day late."))
        after = stream(client, {"message": "Is it there yet?", "conversation_id": conversation_id})
        assert after.status == 200 and "done" in after.names and after.headers[REPLICA] == survivor
        states = [t["state"] for t in client.get(f"/v1/conversations/{conversation_id}").json()["turns"]]
        assert states == ["complete", "complete", "interrupted", "complete"]
