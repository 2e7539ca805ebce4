"""`triage chat` in a real pseudo-terminal: prompt-toolkit reads the keys, rich draws the answer.

The child runs `python -m triage_cli chat` under pexpect. Its output is full of terminal escapes
(colour, cursor moves, redraws), so checks strip them first. The prompt is "›"; prompt-toolkit
redraws it while the user types, so a turn is only over once the answer's own last words have
been seen, and the next prompt after them."""

from __future__ import annotations

import os
import sys
import threading

import pexpect
import pytest

from helpers import CHAT_TIMEOUT, OFFLINE_END, PROMPT, plain, turn
from scripted_server import text, tools
from serve_helpers import eventually

def exit_status(child: pexpect.spawn) -> int | None:
    child.expect(pexpect.EOF)
    child.close()
    assert child.signalstatus is None, f"killed by signal {child.signalstatus}"
    return child.exitstatus


# --------------------------------------------------------------------------- offline


def test_offline_follow_up_without_an_id_still_answers_about_the_earlier_order_and_ctrl_d_exits_0(spawn_chat):
    child = spawn_chat()
    assert "triage chat" in plain(child.before)
    assert "offline rules engine" in plain(child.before)

    first = turn(child, "Where is A1002?", OFFLINE_END)
    assert "delayed" in first
    assert "Order A1002 is delayed." in first

    follow_up = turn(child, "when will it arrive?", OFFLINE_END)
    answer = follow_up.split("when will it arrive?", 1)[-1]  # drop the echo of the typed line
    assert "A1002" in answer  # the id comes from the earlier turn
    assert "delayed" in answer
    assert "Expected delivery" in answer

    child.sendcontrol("d")
    assert exit_status(child) == 0


def test_offline_question_without_any_order_id_asks_for_one(spawn_chat):
    child = spawn_chat()

    out = turn(child, "my parcel never came", OFFLINE_END)

    assert "could not find an order id" in out
    child.sendline("exit")
    assert exit_status(child) == 0


# --------------------------------------------------------------------------- with a model


def test_model_chat_keeps_the_conversation_across_turns_and_exit_leaves_with_0(spawn_chat, server, model_env):
    first_answer = "Order A1002 is delayed by weather at the DHL hub. Next step: answer."
    second_answer = "It should arrive tomorrow, one day late. Next step: answer."
    server.add(
        tools(("get_order_status", {"order_id": "A1002"})),
        text(first_answer),
        text(second_answer),
    )
    child = spawn_chat(model_env)
    assert "openai" in plain(child.before)

    first = turn(child, "Where is A1002?", "Next step: answer.")
    assert "delayed by weather" in first
    assert "get_order_status" in first  # the tool call is shown as progress
    assert len(server.requests) == 2

    second = turn(child, "when will it arrive?", "one day late")
    assert "It should arrive tomorrow" in second
    assert len(server.requests) == 3

    follow_up = server.requests[2]["messages"]
    assert [m["role"] for m in follow_up] == ["system", "user", "assistant", "tool", "assistant", "user"]
    contents = [m.get("content") for m in follow_up]
    assert "Where is A1002?" in contents
    assert first_answer in contents
    assert follow_up[-1] == {"role": "user", "content": "when will it arrive?"}
    # The earlier tool result is kept too, so the model need not look the order up again.
    assert '"delayed"' in follow_up[3]["content"]
    # Only the first question caused a tool round; the follow-up was answered in one call.
    assert server.requests[2]["tool_choice"] == "auto"

    child.sendline("exit")
    assert exit_status(child) == 0


def test_model_error_in_chat_is_reported_and_the_session_goes_on(spawn_chat, server, model_env):
    from scripted_server import error

    server.add(error(401, "bad key"), text("Order A1002 is delayed. Next step: answer."))
    child = spawn_chat(model_env)

    failed = turn(child, "Where is A1002?", "check the key")
    assert "error:" in failed
    assert "sk-test-not-a-real-key" not in failed

    ok = turn(child, "Where is A1002 now?", "Next step: answer.")
    assert "Order A1002 is delayed." in ok

    child.sendline("quit")
    assert exit_status(child) == 0


# --------------------------------------------------------------------------- leaving


@pytest.mark.parametrize("word", ["quit", "exit", "/quit", "QUIT"])
def test_exit_words_leave_with_status_0(spawn_chat, word):
    child = spawn_chat()

    child.sendline(word)

    assert exit_status(child) == 0


def test_ctrl_d_at_the_first_prompt_leaves_with_status_0(spawn_chat):
    child = spawn_chat()

    child.sendcontrol("d")

    assert exit_status(child) == 0


def test_an_escalation_in_chat_shows_the_record_and_opens_a_ticket(spawn_chat, run_triage):
    child = spawn_chat()
    seen = turn(child, "A9999 never arrived", OFFLINE_END)
    assert "no order A9999" in seen
    assert "Next step" in seen and "escalate" in seen and "#1 (open)" in seen  # the record panel
    seen = turn(child, "And what about A1002?", OFFLINE_END)
    assert "#2" not in seen  # an answer opens no ticket
    child.sendline("exit")
    child.expect(pexpect.EOF)
    tickets = run_triage("tickets", "--json")
    assert '"order_id":"A9999"' in tickets.out and tickets.out.count('"id":') == 1


def test_ctrl_c_during_the_first_answer_interrupts_it_and_keeps_the_session(spawn_chat, server, model_env):
    """Ctrl-C while the answer is on its way (the model has the question and says nothing yet):
    the turn is cut, `[interrupted]` is said, and the session goes on."""
    quiet = threading.Event()
    server.add(text("Order A1002 is late.", stall_after=0, stall_until=quiet, stall_seconds=CHAT_TIMEOUT),
               text("Order A1003 was delivered yesterday. Next step: answer."))
    child = spawn_chat(model_env)
    child.sendline("Where is A1002?")
    eventually(lambda: server.requests, "the model to be asked")  # the turn is under way
    child.sendintr()
    child.expect(r"\[interrupted\]")
    quiet.set()
    seen = turn(child, "Where is A1003?", "Next step: answer.")
    assert "delivered yesterday" in seen
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_ctrl_c_while_chat_starts_is_ctrl_c_at_the_prompt_not_the_end(triage_env, tmp_path):
    """Start-up waits on the MCP config file (a pipe the test holds open): Ctrl-C then must not
    end chat with `error: interrupted`; the prompt comes, says how to leave, and answers."""
    pipe = tmp_path / "mcp.json"
    os.mkfifo(pipe)
    env = {**triage_env, "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1", "TRIAGE_MCP_CONFIG": str(pipe)}
    child = pexpect.spawn(sys.executable, ["-m", "triage_cli", "chat"], env=env, cwd=".", dimensions=(40, 120),
                          encoding="utf-8", timeout=CHAT_TIMEOUT)
    try:
        with open(pipe, "w", encoding="utf-8") as config:  # returns once chat is reading it: starting
            child.sendintr()
            config.write('{"mcpServers": {}}')
        child.expect_exact("(Ctrl-D or /exit leaves)")
        child.expect(PROMPT)
        seen = turn(child, "Where is A1003?", OFFLINE_END)
        assert "delivered" in seen and "interrupted" not in plain(child.before)
        child.sendline("exit")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
    finally:
        if child.isalive():
            child.close(force=True)


def test_an_order_database_that_is_not_sqlite_stops_chat_before_the_prompt(triage_env, tmp_path):
    bad = tmp_path / "orders.db"
    bad.write_text("not a database")
    env = {**triage_env, "TRIAGE_ORDERS_DB": str(bad), "NO_COLOR": "1"}
    child = pexpect.spawn(sys.executable, ["-m", "triage_cli", "chat"], env=env, cwd=".", dimensions=(40, 120),
                          encoding="utf-8", timeout=CHAT_TIMEOUT)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus != 0
    output = plain(child.before)
    assert "error:" in output and PROMPT not in output and "Traceback" not in output
