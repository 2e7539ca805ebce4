"""The offline rules engine: same tool, same events, a reply and a decision from the data."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time

import pytest

from triage_cli.engine.conversation import Conversation, model_messages, question_text
from triage_cli.engine.events import Done, Notice, TextDelta, ToolCallsPlanned, ToolFinished, TriageRecord
from triage_cli.engine.conversation import find_order_ids
from triage_cli.engine.offline import OfflineEngine
from triage_cli.store.orders import OrderStore
from triage_cli.tools.orders import order_registry


@pytest.fixture
def engine(tmp_path):
    # The demo data as built at 09:00 today: a time-of-day-free test ("ships today" holds).
    morning = datetime.combine(date.today(), time(9, 0))
    return OfflineEngine(order_registry(OrderStore.demo(tmp_path, now=morning)), today=date.today())


def ask(engine, *questions: str, order: str | None = None):
    """Run each question in one conversation (the last about `order`, named as --order names
    it); return the events of the last."""
    conversation = Conversation()

    async def go():
        events = []
        for number, question in enumerate(questions, 1):
            conversation.add_user(question, order if number == len(questions) else None)
            events = [event async for event in engine.run(conversation)]
        return events

    return asyncio.run(go()), conversation


def reply_of(events) -> str:
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    done = next(e for e in events if isinstance(e, Done))
    assert streamed == done.reply
    return streamed


def record_of(events) -> TriageRecord:
    return next(e for e in events if isinstance(e, TriageRecord))


def test_finds_order_ids_in_order_without_repeats():
    assert find_order_ids("a1002, then #A1003 and A1002 again (not XA10022)") == ["A1002", "A1003"]


def test_a_delayed_order_is_explained_and_answered(engine):
    events, _ = ask(engine, "My order still has not arrived", order="A1002")
    reply = reply_of(events)
    assert "delayed" in reply and "one day due to weather" in reply and "tomorrow" in reply
    record = record_of(events)
    assert (record.order_id, record.status, record.next_step) == ("A1002", "delayed", "answer")


def test_a_delivered_order_says_when(engine):
    events, _ = ask(engine, "Where is order A1003?")
    assert "was delivered yesterday at 16:20" in reply_of(events)
    assert record_of(events).next_step == "answer"


def test_a_packed_order_ships_today(engine):
    events, _ = ask(engine, "Has A1001 left yet?")
    reply = reply_of(events)
    assert "packed" in reply and "ships today" in reply


def test_a_missing_order_escalates(engine):
    events, _ = ask(engine, "Where is A9999?")
    assert "no order A9999" in reply_of(events)
    record = record_of(events)
    assert (record.status, record.next_step) == ("not found", "escalate")


@pytest.mark.parametrize("message, topic", [
    ("A1003 arrived damaged", "damage"),
    ("I want a refund for A1003", "refund"),
    ("A1003: you sent the wrong item", "wrong item"),
    ("I was charged twice for A1003", "billing"),
    ("Please cancel A1001", "cancellation"),
    ("Can I change the delivery address for A1004?", "address change"),
])
def test_problems_outside_the_order_data_escalate(engine, message, topic):
    events, _ = ask(engine, message)
    assert topic in reply_of(events)
    assert record_of(events).next_step == "escalate"


def test_two_orders_are_looked_up_in_one_round(engine):
    events, conversation = ask(engine, "Compare A1001 and A1003 please")
    rounds = [e for e in events if isinstance(e, ToolCallsPlanned)]
    assert len(rounds) == 1 and [c.arguments for c in rounds[0].calls] == [
        '{"order_id": "A1001"}', '{"order_id": "A1003"}']
    assert len([e for e in events if isinstance(e, ToolFinished)]) == 2
    reply = reply_of(events)
    assert "A1001" in reply and "A1003" in reply
    # The conversation holds the round as a model would: the calls, then one result per call.
    roles = [m["role"] for m in conversation.messages]
    assert roles == ["user", "assistant", "tool", "tool", "assistant"]


def test_a_follow_up_without_an_id_reuses_the_earlier_order(engine):
    events, _ = ask(engine, "Where is A1002?", "And when will it arrive?")
    assert "A1002" in reply_of(events) and "tomorrow" in reply_of(events)


def test_no_order_id_asks_for_one_without_escalating(engine):
    events, _ = ask(engine, "Hello, where is my parcel?")
    assert "order id" in reply_of(events)
    assert record_of(events).next_step == "answer"
    assert not any(isinstance(e, ToolCallsPlanned) for e in events)


def test_it_says_it_is_not_a_model(engine):
    events, _ = ask(engine, "Where is A1002?")
    notices = [e for e in events if isinstance(e, Notice)]
    assert notices and "offline rules engine" in notices[0].text and "--provider" in notices[0].hint


def test_the_reply_streams_in_pieces(engine):
    events, _ = ask(engine, "Where is A1002?")
    assert len([e for e in events if isinstance(e, TextDelta)]) > 10


def test_the_order_the_agent_named_travels_beside_the_words_and_a_model_always_sees_it():
    conversation = Conversation()
    conversation.add_user(question_text(" It has not arrived ", "A1002"), "A1002")
    conversation.add_user("And A1003?", "A1002")  # another id in the words does not push it out (issue 12)
    conversation.add_user(question_text("Hi", "  "))
    assert conversation.questions() == [("It has not arrived", "A1002"), ("And A1003?", "A1002"), ("Hi", None)]
    assert [m["content"] for m in model_messages(conversation.messages)] == [
        "Order A1002: It has not arrived", "Order A1002: And A1003?", "Hi"]
    assert all("order" not in m for m in model_messages(conversation.messages))  # no key an API does not know
    assert question_text("", " a1002 ") == "What is the status of order A1002?"


def test_a_failed_lookup_escalates_as_a_failure_not_as_a_missing_order(tmp_path):
    from triage_cli.tools.registry import ToolRegistry

    registry = ToolRegistry()

    def get_order_status(order_id: str) -> dict:
        """Always fails."""
        raise RuntimeError("database is locked")

    registry.register(get_order_status)
    events, _ = ask(OfflineEngine(registry), "Where is A1002?")
    reply = reply_of(events)
    assert "lookup of **A1002** failed" in reply and "no order A1002" not in reply
    record = record_of(events)
    assert (record.status, record.next_step) == ("lookup failed", "escalate")
