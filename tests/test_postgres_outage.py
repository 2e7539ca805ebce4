"""PostgreSQL going away mid-session and coming back (issue 19): the answers still arrive, with the
same "not saved" notice as an unwritable data directory, and once the server is back the next
turn is saved again through the same pool. Its own server, stopped and started by its pid."""

from __future__ import annotations

import asyncio
from typing import Any

from postgres_server import start_postgres
from triage_cli.config import load_settings
from triage_cli.engine.events import Event, Notice, TextDelta
from triage_cli.session import TriageSession
from triage_cli.store.postgres import PostgresDatabase
from triage_cli.store.sessions import SessionStore


def unsaved(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, Notice) and "not saved" in e.text]


def reply_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_a_turn_while_postgresql_is_away_prints_with_the_not_saved_notice_and_saving_resumes(
        triage_env: dict[str, str]) -> None:
    server = start_postgres()
    try:
        url = server.new_database() + "&connect_timeout=1"  # a second's wait for each write while it is away
        settings = load_settings({"provider": "offline"}, environ={**triage_env, "TRIAGE_DATABASE_URL": url})

        async def go() -> tuple[list[list[Event]], int | None]:
            turns: list[list[Event]] = []
            async with await TriageSession.open(settings, source="chat") as session:
                turns.append([e async for e in session.ask("Where is A1002?")])
                events = session.ask("Where is A1009?")
                first = await events.__anext__()  # the question is stored: the turn is in flight
                server.stop()
                turns.append([first, *[e async for e in events]])
                turns.append([e async for e in session.ask("And A1004?")])  # still away
                server.start()
                turns.append([e async for e in session.ask("Where is A1003?")])
            return turns, session.conversation_id

        (saved, in_flight, away, back), conversation_id = asyncio.run(go())
        # Read back through a new pool, as another process would.
        database = PostgresDatabase(url)
        try:
            stored = SessionStore(database).get(conversation_id or 0)
        finally:
            database.close()
    finally:
        server.stop()
        server.remove()

    assert unsaved(saved) == [] and reply_of(saved)
    assert "A1009" in reply_of(in_flight)  # the answer printed whole
    [lost] = unsaved(in_flight)
    assert lost.startswith("This answer was not saved: the conversation store failed: cannot reach postgresql://")
    assert "A1004" in reply_of(away)
    [refused] = unsaved(away)
    assert refused.startswith("This answer is not saved (no history, no ticket): the conversation store failed")
    assert unsaved(back) == [] and "A1003" in reply_of(back)
    turns: list[Any] = list(stored.turns)
    assert [t.question for t in turns] == ["Where is A1002?", "Where is A1009?", "Where is A1003?"]
    # The turn in flight kept its question and reads back as interrupted.
    assert [t.state for t in turns] == ["complete", "interrupted", "complete"]


def test_healthz_is_503_while_postgresql_is_away_without_waiting_on_its_connect_timeout(tmp_path) -> None:
    import httpx2 as httpx

    from serve_helpers import environment, server_in_thread

    server = start_postgres()
    try:
        url = server.new_database() + "&connect_timeout=60"  # a read would wait a minute for it
        env = environment(tmp_path / "home", tmp_path / "config.toml", "http://127.0.0.1:9/v1",
                          TRIAGE_DATABASE_URL=url)
        with server_in_thread(env) as base, httpx.Client(base_url=base, timeout=20) as http:
            up = http.get("/healthz")
            server.stop()
            down = http.get("/healthz")  # answered within the client's 20 s, not after the minute
            server.start()
    finally:
        server.stop()
        server.remove()

    assert up.status_code == 200 and up.json()["ok"] is True and up.json()["database"] is True
    assert down.status_code == 503 and down.json()["ok"] is False and down.json()["database"] is False
