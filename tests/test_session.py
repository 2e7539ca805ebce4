"""The session layer (issue 14), in-process: a TriageSession over the offline engine, and over the
real openai SDK against the scripted server on loopback. What `triage ask` and `triage chat` do
through it (ask, follow-up, new, resume, switch, close), and that the loop never waits on SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from scripted_server import ScriptedServer, answer, error, tools
from triage_cli.config import Settings, load_settings
from triage_cli.engine.events import Done, Event, Notice, TextDelta, ToolStarted, TriageRecord, Usage
from triage_cli.errors import NotFound, UsageError
from triage_cli.session import TriageSession
from triage_cli.store.database import DATABASE_NAME
from triage_cli.store.sessions import SessionStore
from triage_cli.session.absolute_dates import absolute
from triage_cli.store.tickets import TicketStore

STORED_ON = date(2026, 3, 14)


def model_settings(triage_env: dict[str, str], model_env: dict[str, str]) -> Settings:
    return load_settings({"provider": "openai"}, environ={**triage_env, **model_env})


def offline_settings(triage_env: dict[str, str]) -> Settings:
    return load_settings({"provider": "offline"}, environ=triage_env)


async def collect(events: Any) -> list[Event]:
    return [event async for event in events]


def reply_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_ask_and_a_follow_up_are_one_stored_conversation_with_usage_totals(
        triage_env: dict[str, str], server: ScriptedServer, model_env: dict[str, str]) -> None:
    server.add(tools(("get_order_status", {"order_id": "A1002"}), usage=(50, 5)),
               answer("A1002 is a day late.", order_id="A1002", issue="late", status="delayed", summary="Late.",
                      usage=(100, 10)),
               answer("It should arrive tomorrow.", order_id="A1002", issue="late", status="delayed",
                      summary="Late.", usage=(200, 20)))
    settings = model_settings(triage_env, model_env)

    async def go() -> tuple[TriageSession, list[Event], list[Event]]:
        async with await TriageSession.open(settings, source="chat", order="a1002") as session:
            first = await collect(session.ask("Where is it?"))
            second = await collect(session.ask("And when will it come?"))
        return session, first, second

    session, first, second = asyncio.run(go())
    assert reply_of(first).startswith("A1002 is a day late.") and any(isinstance(e, Done) for e in first)
    assert reply_of(second).startswith("It should arrive tomorrow.")
    assert server.requests[0]["messages"][-1]["content"] == "Order A1002: Where is it?"
    follow_up = [m["role"] for m in server.requests[2]["messages"]]
    assert follow_up[:2] == ["system", "user"] and follow_up[-1] == "user" and "assistant" in follow_up
    assert session.turns == [("Where is it?", "answer"), ("And when will it come?", "answer")]
    assert session.last_record is not None and session.last_record.order_id == "A1002"
    assert (session.totals.model_calls, session.totals.tokens) == (3, 385)
    assert session.last_usage is not None and session.last_usage.prompt_tokens == 200
    stored = SessionStore(settings.home).get(session.conversation_id or 0)
    assert stored.source == "chat" and [t.state for t in stored.turns] == ["complete", "complete"]


def test_aclose_closes_the_model_client_it_owns(triage_env: dict[str, str], server: ScriptedServer,
                                                 model_env: dict[str, str]) -> None:
    server.add(answer("Hello.", next_step="answer"))
    settings = model_settings(triage_env, model_env)

    async def go() -> Any:
        session = await TriageSession.open(settings, source="ask")
        await session.warm_up()  # the client is loaded in a thread, before any question
        engine = await session.ready()
        assert engine.model._client is not None
        await collect(session.ask("hi"))
        await session.aclose()
        return engine

    engine = asyncio.run(go())
    assert engine.model._client is None


def test_new_starts_a_conversation_and_resume_continues_a_stored_one(triage_env: dict[str, str]) -> None:
    settings = offline_settings(triage_env)

    async def go() -> None:
        async with await TriageSession.open(settings, source="chat") as session:
            await collect(session.ask("Where is A1002?"))
            first = session.conversation_id
            session.new()
            assert (session.conversation_id, session.order, session.turns, session.last_record) == (None, None, [], None)
            await collect(session.ask("Where is A1003?"))
            assert session.conversation_id not in (None, first)
            listed = await session.stored_conversations(10)
            assert [c.id for c in listed] == [session.conversation_id, first]
            stored = await session.resume(str(first))
            assert session.conversation_id == first and session.resumed == stored
            # Its last record's order is the order in context, as after a live turn; none is named.
            assert (session.order, session.order_in_context()) == (None, "A1002")
            assert [q for q, _ in session.turns] == ["Where is A1002?"]
            await collect(session.ask("thanks"))
            with pytest.raises(NotFound, match="^no conversation 99$"):
                await session.resume("99")
        assert [(t.question, t.order) for t in SessionStore(settings.home).get(first or 0).turns] == [
            ("Where is A1002?", None), ("thanks", None)]

    asyncio.run(go())


def test_after_resuming_a_conversation_about_two_orders_a_third_is_looked_up_alone(triage_env: dict[str, str]) -> None:
    settings = offline_settings(triage_env)

    async def go() -> list:
        async with await TriageSession.open(settings, source="chat") as session:
            await collect(session.ask("Where are A1002 and A1003?"))
            await collect(session.ask("A1009 never came, I want a refund"))
        async with await TriageSession.open(settings, source="chat", resume="last") as session:
            third = await collect(session.ask("And where is A1005?"))
            follow_up = await collect(session.ask("when will it get here?"))
        return [third, follow_up]

    third, follow_up = asyncio.run(go())
    looked_up = [e.arguments for e in third if isinstance(e, ToolStarted)]
    assert looked_up == ['{"order_id": "A1005"}']
    record = next(e for e in third if isinstance(e, TriageRecord))
    assert (record.order_id, record.next_step, record.ticket) == ("A1005", "answer", None)
    assert next(e for e in follow_up if isinstance(e, TriageRecord)).order_id == "A1005"  # the context goes on
    assert [t.order_id for t in TicketStore(settings.home).list("all")] == ["A1009"]  # only the refund's ticket

    asyncio.run(go())


def test_ask_keeps_only_the_order_it_is_given_when_it_resumes(triage_env: dict[str, str]) -> None:
    settings = offline_settings(triage_env)

    async def go() -> tuple[str | None, str | None]:
        async with await TriageSession.open(settings, source="chat") as session:
            await collect(session.ask("Where is A1002?"))
        async with await TriageSession.open(settings, source="ask", resume="last") as asked:
            pass
        async with await TriageSession.open(settings, source="chat", resume="last", order="A1003") as chat:
            pass
        return asked.order, chat.order

    assert asyncio.run(go()) == (None, "A1003")


def test_a_bad_order_is_a_usage_error_when_the_session_opens(triage_env: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="--order takes one order id"):
        asyncio.run(TriageSession.open(offline_settings(triage_env), source="ask", order="not an id"))
    session = TriageSession(offline_settings(triage_env), source="chat")
    with pytest.raises(UsageError, match="^/order takes one order id"):
        session.set_order("two ids")
    assert session.set_order("a1002") == "A1002" and session.set_order(None) is None


def test_switch_answers_with_the_new_settings_and_closes_the_old_engine(
        triage_env: dict[str, str], server: ScriptedServer, model_env: dict[str, str]) -> None:
    server.add(answer("A1002 is a day late.", order_id="A1002", status="delayed", summary="Late."))
    settings = model_settings(triage_env, model_env)

    async def go() -> tuple[Any, list[Event], TriageSession]:
        async with await TriageSession.open(settings, source="chat") as session:
            await collect(session.ask("Where is A1002?"))
            old = await session.ready()
            now = await session.switch({"provider": "offline"})
            assert now.offline and session.settings is now and session.modes() == (
                now.structured_output, now.tool_rounds)
            offline = await collect(session.ask("And A1003?"))
        return old, offline, session

    old, offline, session = asyncio.run(go())
    assert old.model._client is None  # closed when the session switched away from it
    assert len(server.requests) == 1 and any(isinstance(e, TriageRecord) for e in offline)
    stored = SessionStore(settings.home).get(session.conversation_id or 0)
    assert [t.provider for t in stored.turns] == ["openai", "offline"]


def test_a_locked_database_never_blocks_the_event_loop(triage_env: dict[str, str]) -> None:
    """Another process holds the database's write lock: the turn's first write waits for it in
    a thread while the loop goes on (here: it runs the very code that releases the lock). Were
    the write on the loop, nothing could release the lock before the busy timeout, and the
    answer would arrive with 'This answer is not saved'."""
    settings = offline_settings(triage_env)
    SessionStore(settings.home).list()  # the state database exists, migrated
    other = sqlite3.connect(Path(settings.home) / DATABASE_NAME, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def go() -> tuple[int, bool, list[Event], TriageSession]:
        async with await TriageSession.open(settings, source="ask") as session:
            session.journal.today = lambda: STORED_ON  # "today at 03:08" is stored as this day's date
            events = session.ask("Where is A1002?")
            first = asyncio.ensure_future(events.__anext__())
            ticks = 0
            while ticks < 10:  # the loop keeps running other work while the turn waits
                await asyncio.sleep(0.01)
                ticks += 1
            waiting = not first.done()
            other.execute("COMMIT")  # release the lock from the loop itself
            rest = [await first, *await collect(events)]
        return ticks, waiting, rest, session

    try:
        ticks, waiting, events, session = asyncio.run(go())
    finally:
        other.close()
    assert ticks == 10 and waiting
    assert not [e for e in events if isinstance(e, Notice) and "not saved" in e.text]
    [turn] = SessionStore(settings.home).get(session.conversation_id or 0).turns
    assert turn.state == "complete" and turn.reply == absolute(reply_of(events), STORED_ON)
    assert isinstance(next(e for e in events if isinstance(e, Usage)), Usage)


def test_a_follow_up_whose_lookup_names_no_order_is_answered_by_the_rules_for_the_order_in_context(
        triage_env: dict[str, str], server: ScriptedServer, model_env: dict[str, str]) -> None:
    # What SmolLM2 did on llama-cpp-python's server (issue 13): turn 2's call had broken JSON
    # arguments, then the model said nothing. The order in context is looked up by the rules.
    server.add(tools(("get_order_status", {"order_id": "A1002"})),
               answer("A1002 is a day late.", order_id="A1002", issue="late", status="delayed", summary="Late."),
               tools(("get_order_status", '{"order_id": ')),
               answer("", order_id=None, issue="", status="", summary=""))
    settings = model_settings(triage_env, model_env)

    async def go() -> tuple[list[Event], list[Event]]:
        async with await TriageSession.open(settings, source="chat") as session:
            first = await collect(session.ask("Where is A1002?"))
            second = await collect(session.ask("ok and when will it come?"))
        return first, second

    first, second = asyncio.run(go())
    assert any(isinstance(e, Done) for e in first)
    notices = [e.text for e in second if isinstance(e, Notice)]
    assert any("looked up the order in context" in n for n in notices), notices
    assert "A1002" in reply_of(second) and "delayed" in reply_of(second)
    record = next(e for e in second if isinstance(e, TriageRecord))
    assert record.order_id == "A1002" and any(isinstance(e, Done) for e in second)
    assert len(server.requests) == 4  # no model call was added for the rules' lookup


def test_a_follow_up_over_the_context_window_is_asked_again_without_earlier_lookups(
        triage_env: dict[str, str], server: ScriptedServer, model_env: dict[str, str]) -> None:
    # SmolLM2's 2,048 tokens on llama-cpp-python: turn 1's tool rounds left no room for turn 2.
    server.add(tools(("get_order_status", {"order_id": "A1002"})),
               answer("A1002 is a day late.", order_id="A1002", issue="late", status="delayed", summary="Late."),
               error(400, "This model's maximum context length is 2048 tokens. However, you requested 2048 tokens."),
               answer("Tomorrow.", order_id="A1002", issue="late", status="delayed", summary="Late."))
    settings = model_settings(triage_env, model_env)

    async def go() -> list[Event]:
        async with await TriageSession.open(settings, source="chat") as session:
            await collect(session.ask("Where is A1002?"))
            return await collect(session.ask("ok and when will it come?"))

    second = asyncio.run(go())
    assert reply_of(second).startswith("Tomorrow.") and any(isinstance(e, Done) for e in second)
    assert any("earlier turns' lookups were left out" in e.text for e in second if isinstance(e, Notice))
    retried = server.requests[3]["messages"]
    assert [m["role"] for m in retried] == ["system", "user", "assistant", "user"]
    assert len(server.requests[2]["messages"]) > len(retried)


def test_the_turn_is_stored_before_its_done_event_goes_out(triage_env: dict[str, str]) -> None:
    # A client of `triage serve` that reads `done` and then asks for the history finds the turn.
    settings = offline_settings(triage_env)

    async def go() -> list[str]:
        states: list[str] = []
        async with await TriageSession.open(settings, source="serve") as session:
            async for event in session.ask("Where is A1002?"):
                if isinstance(event, Done):
                    stored = SessionStore(settings.home).get(session.conversation_id or 0)
                    states = [turn.state for turn in stored.turns]
        return states

    assert asyncio.run(go()) == ["complete"]


def test_the_stream_redactor_replaces_a_key_split_across_pieces_anywhere() -> None:
    from triage_cli.session.journal import StreamRedactor

    key, text = "sk-live-0123456789", "your key is sk-live-0123456789, keep it safe; sk- is its prefix"
    for cut in range(1, len(text)):
        for second in range(cut + 1, len(text) + 1, 7):
            redactor = StreamRedactor((key,))
            pieces = [text[:cut], text[cut:second], text[second:]]
            out = "".join(redactor.feed(p) for p in pieces) + redactor.flush()
            assert out == text.replace(key, "[redacted]"), (cut, second)


def test_a_follow_up_answers_the_same_whether_the_conversation_is_stored_or_not(triage_env: dict[str, str]) -> None:
    """`triage eval` keeps nothing (keep=False); its follow-ups must still read the last record,
    as `ask` and `chat` do (the session's turn keeps it, not the journal)."""
    settings = offline_settings(triage_env)

    async def records(keep: bool) -> list[tuple[str | None, str, str]]:
        async with await TriageSession.open(settings, source="eval", keep=keep) as session:
            found = []
            for question in ("Where is A1002?", "thanks!", "ok, and can I get a refund?"):
                record = next(e for e in await collect(session.ask(question)) if isinstance(e, TriageRecord))
                found.append((record.order_id, record.status, record.next_step))
            return found

    kept, unkept = asyncio.run(records(True)), asyncio.run(records(False))
    assert unkept == kept == [("A1002", "delayed", "answer"), ("A1002", "delayed", "answer"),
                              ("A1002", "delayed", "escalate")]


def test_the_customers_words_are_stored_and_filed_as_written_with_the_named_order_beside_them(
        triage_env: dict[str, str]) -> None:
    settings = offline_settings(triage_env)

    async def go() -> int | None:
        async with await TriageSession.open(settings, source="ask", order="a1009") as session:
            await collect(session.ask("  it never came  "))
            return session.conversation_id

    conversation_id = asyncio.run(go())
    [turn] = SessionStore(settings.home).get(conversation_id or 0).turns
    assert (turn.question, turn.order) == ("it never came", "A1009")
    assert turn.to_dict()["order"] == "A1009" and turn.messages[0]["content"] == "it never came"
    from triage_cli.store.tickets import TicketStore

    [ticket] = TicketStore(settings.home).list("all")
    assert (ticket.question, ticket.order_id) == ("it never came", "A1009")
