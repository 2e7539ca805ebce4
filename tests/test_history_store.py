"""The conversation store (store/sessions.py) on its own: how stored turns are rebuilt into model
context, how a turn left 'running' by a dead process reads back, and how ids are resolved. The
end-to-end behaviour (the real CLI against the scripted server) is in test_history.py."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from triage_cli.errors import ConversationBusy, InvalidValue, UsageError
from triage_cli.store.database import DATABASE_NAME
from triage_cli.record_types import StoredTurn
from triage_cli.store.sessions import LEASE_SECONDS, SessionStore

CALL = {"id": "call_1", "type": "function", "function": {"name": "get_order_status", "arguments": '{"order_id": "A1002"}'}}
RESULT = {"role": "tool", "tool_call_id": "call_1", "content": '{"found": true, "status": "delayed"}'}


def stored_turn(messages: list[dict], *, state: str = "interrupted", partial: str = "") -> StoredTurn:
    return StoredTurn(
        number=1, started_at="2026-01-01T00:00:00+00:00", finished_at=None, state=state, provider="openai",
        model="m", question=messages[0]["content"], partial=partial, tool_calls=(), record=None, usage=None,
        error=None, messages=tuple(messages),
    )


def unpaired_calls(messages: list[dict]) -> list[str]:
    """Ids of tool calls without a tool result, and of results without a call."""
    called = [c["id"] for m in messages for c in m.get("tool_calls") or ()]
    answered = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    return sorted(set(called) ^ set(answered))


def test_a_turn_ending_in_tool_calls_without_results_drops_them_and_ends_with_an_interrupted_answer():
    turn = stored_turn(
        [{"role": "user", "content": "Where is A1002?"}, {"role": "assistant", "content": None, "tool_calls": [CALL]}],
        partial="Let me look",
    )

    history = turn.history()

    assert unpaired_calls(history) == []
    assert not any(m.get("tool_calls") for m in history)
    assert history == [
        {"role": "user", "content": "Where is A1002?"},
        {"role": "assistant", "content": "Let me look\n\n[interrupted]"},
    ]


def test_a_turn_with_no_partial_and_an_unanswered_call_ends_with_just_the_interrupted_mark():
    turn = stored_turn([{"role": "user", "content": "q"}, {"role": "assistant", "content": None, "tool_calls": [CALL]}])
    assert turn.history()[-1] == {"role": "assistant", "content": "[interrupted]"}


def test_a_complete_tool_round_is_kept_with_its_result_and_a_stray_result_is_dropped():
    stray = {"role": "tool", "tool_call_id": "call_9", "content": "{}"}
    messages = [
        {"role": "user", "content": "Where is A1002?"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        RESULT,
        stray,
        {"role": "assistant", "content": "It is late."},
    ]
    turn = stored_turn(messages, state="complete")

    history = turn.history()

    assert history == [m for m in messages if m is not stray]
    assert turn.reply == "It is late."


def test_a_turn_whose_tool_round_finished_but_whose_answer_did_not_keeps_the_round_and_marks_the_answer():
    messages = [{"role": "user", "content": "Where is A1002?"},
                {"role": "assistant", "content": None, "tool_calls": [CALL]}, RESULT]
    history = stored_turn(messages, partial="A1002 is dela").history()
    assert history[:3] == messages
    assert history[3] == {"role": "assistant", "content": "A1002 is dela\n\n[interrupted]"}
    assert unpaired_calls(history) == []


class Clock:
    """A clock a test moves: the leases are read against it, not the wall clock."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def move(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def begin(store: SessionStore, conversation_id: int | None = None):
    return store.begin_turn(conversation_id, source="serve", provider="openai", model="m",
                            question={"role": "user", "content": "Where is A1002?"})


def test_a_running_turn_holds_its_conversation_while_its_lease_lives_and_reads_interrupted_once_it_lapses(database):
    """Two stores on one database stand for two replicas: nothing is decided by a process id."""
    clock = Clock()
    here, there = SessionStore(database, lease_seconds=30, clock=clock), SessionStore(database, clock=clock)
    turn = begin(here)
    here.save_partials([(turn, "A1002 is del")])

    [live] = there.get(turn.conversation_id).turns
    assert live.state == "running" and live.error is None
    with pytest.raises(ConversationBusy, match="is answering a turn"):
        begin(there, turn.conversation_id)  # the server's 409, from any replica
    with pytest.raises(InvalidValue, match="being answered right now"):
        there.delete(turn.conversation_id)

    clock.move(20)
    assert here.renew(turn)  # the heartbeat
    clock.move(25)  # 45 s after it began, 25 s after the renewal
    assert there.get(turn.conversation_id).turns[0].state == "running"

    clock.move(6)  # the lease lapsed: whoever answered died mid-answer
    [gone] = there.get(turn.conversation_id).turns
    assert gone.state == "interrupted" and gone.error == "the process ended mid-answer"
    assert gone.reply == "A1002 is del\n\n[interrupted]"
    assert there.get(turn.conversation_id).history() == [
        {"role": "user", "content": "Where is A1002?"},
        {"role": "assistant", "content": "A1002 is del\n\n[interrupted]"},
    ]
    follow_up = begin(there, turn.conversation_id)  # the next turn takes the conversation over
    states = [t.state for t in there.get(turn.conversation_id).turns]
    assert follow_up.number == 2 and states == ["interrupted", "running"]
    assert not here.renew(turn)  # ended: its answerer, back after all, stops renewing


def test_prune_spares_a_conversation_whose_turn_is_leased_and_deletes_it_once_the_lease_lapses(database):
    clock = Clock()
    store = SessionStore(database, clock=clock)
    turn = begin(store)
    with database.transaction("test") as db:
        db.execute("UPDATE conversations SET updated_at = '2020-01-01T00:00:00+00:00'")
    cut = clock.now - timedelta(days=30)

    assert store.prune(cut) == 0
    assert [c.id for c in store.list()] == [turn.conversation_id]

    clock.move(LEASE_SECONDS + 1)
    assert store.prune(cut) == 1
    assert store.list() == []


def test_a_partial_is_not_saved_over_a_finished_turn(database):
    store = SessionStore(database)
    handle = store.begin_turn(None, source="ask", provider="offline", model="",
                              question={"role": "user", "content": "q"})
    store.finish_turn(handle, complete=True, messages=[{"role": "assistant", "content": "full answer"}],
                      partial="full answer", tool_calls=[], record=None, usage=None, error=None, order_ids=[])
    store.save_partials([(handle, "full")])  # a late save must not clobber the finished turn
    [turn] = store.get(handle.conversation_id).turns
    assert turn.state == "complete" and turn.partial == "full answer" and turn.reply == "full answer"


@pytest.mark.parametrize("text, expected", [("12", 12), ("#3", 3), (" 7 ", 7)])
def test_conversation_ids_are_numbers_with_an_optional_hash(tmp_path: Path, text: str, expected: int):
    assert SessionStore(tmp_path).resolve(text) == expected


@pytest.mark.parametrize("text", ["abc", "0", "-1", "1.5", "", "99999999999999999999999"])
def test_anything_else_is_not_a_conversation_id(tmp_path: Path, text: str):
    with pytest.raises(UsageError, match="conversation id"):
        SessionStore(tmp_path).resolve(text)


def test_last_and_none_resolve_to_the_most_recently_active_conversation(tmp_path: Path):
    store = SessionStore(tmp_path)
    with pytest.raises(UsageError, match="no stored conversations"):
        store.resolve(None)
    first = store.begin_turn(None, source="ask", provider="offline", model="", question={"role": "user", "content": "a"})
    second = store.begin_turn(None, source="ask", provider="offline", model="", question={"role": "user", "content": "b"})
    assert store.resolve("last") == store.resolve(None) == second.conversation_id
    with sqlite3.connect(tmp_path / DATABASE_NAME) as db:  # the first one becomes the latest active
        db.execute("UPDATE conversations SET updated_at = '2999-01-01T00:00:00+00:00' WHERE id = ?",
                   (first.conversation_id,))
    assert store.resolve("latest") == first.conversation_id


class CountingStore(SessionStore):
    """A real store that counts its writes of replies so far."""

    writes: list[int]

    def save_partials(self, replies):  # type: ignore[no-untyped-def]
        self.writes.append(len(replies))
        super().save_partials(replies)


def test_the_replies_of_every_running_turn_are_saved_in_one_write_and_an_ended_turn_is_left_out(database):
    import asyncio

    from triage_cli.session.partial_saves import partial_saves

    store = CountingStore(database)
    store.writes = []
    first, second, ended = begin(store), begin(store), begin(store)

    async def answering() -> None:
        saves = partial_saves(store)
        assert partial_saves(SessionStore(database)) is saves  # one for every journal on this database
        for turn, text in ((first, "A1002 is"), (second, "A1005 left"), (ended, "gone")):
            saves.soon(turn, lambda text=text: text)
        await saves.forget(ended)
        await saves.flush()

    asyncio.run(answering())

    assert store.writes == [2]
    partials = {turn.turn_id: SessionStore(database).get(turn.conversation_id).turns[0].partial
                for turn in (first, second, ended)}
    assert partials == {first.turn_id: "A1002 is", second.turn_id: "A1005 left", ended.turn_id: ""}


def test_a_server_thread_keeps_its_sqlite_connection_between_operations_and_drops_one_that_failed(tmp_path):
    import threading

    from triage_cli.errors import StoreError
    from triage_cli.store.database import keep_connections, opened

    keep_connections()  # as `triage serve` does
    seen: list[sqlite3.Connection] = []

    def operations() -> None:
        for _ in range(2):
            with opened(tmp_path, "a read") as db:
                seen.append(db)
        with pytest.raises(StoreError), opened(tmp_path, "a bad read") as db:
            db.execute("SELECT nothing FROM nowhere")
        with opened(tmp_path, "a read") as db:
            seen.append(db)

    worker = threading.Thread(target=operations)
    worker.start()
    worker.join()
    assert seen[0] is seen[1]  # kept
    assert seen[2] is not seen[0]  # the one a failure went through is not used again
