"""Control sequences from a model or from order data never reach a terminal or a pipe as bytes,
even when the server splits them across stream chunks."""

from __future__ import annotations

import sqlite3

import pytest

from pty_capture import run_in_pty
from scripted_server import ScriptedServer, answer, error, text, tools

HOSTILE = {
    "clear screen (CSI 2J)": ("\x1b[2J", [b"\x1b[2J"]),
    "window title (OSC 0)": ("\x1b]0;pwned\x07", [b"\x1b]0;", b"pwned"]),
    "clipboard write (OSC 52)": ("\x1b]52;c;ZWNobyBwd25lZA==\x07", [b"\x1b]52", b"ZWNobyBwd25lZA"]),
    "raw C1 CSI (0x9B)": ("\x9b2J", [b"\x9b"]),
}


def reply_with(sequence: str) -> str:
    return f"Order A1002 is delayed.{sequence} It arrives tomorrow.\n\n**Next step:** answer"


@pytest.mark.parametrize("chunk_chars", [1, 3])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_reply_reaches_a_pipe_without_its_sequence(run_triage, model_env, name, chunk_chars):
    sequence, forbidden = HOSTILE[name]
    with ScriptedServer([text(reply_with(sequence))], chunk_chars=chunk_chars) as srv:
        result = run_triage("ask", "Where is A1002?", env={**model_env, "OPENAI_BASE_URL": srv.base_url})
    assert result.code == 0, result.err
    raw = result.out.encode()
    assert not [f for f in forbidden if f in raw]
    assert "Order A1002 is delayed. It arrives tomorrow." in result.out


@pytest.mark.parametrize("chunk_chars", [1, 3])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_reply_reaches_a_terminal_without_its_sequence(triage_env, model_env, name, chunk_chars):
    sequence, forbidden = HOSTILE[name]
    reply = answer(reply_with(sequence), order_id="A1002", issue=f"late{sequence}", status="delayed",
                   next_step="answer", summary=f"Late{sequence}.")
    with ScriptedServer([reply], chunk_chars=chunk_chars) as srv:
        env = {**triage_env, **model_env, "OPENAI_BASE_URL": srv.base_url}
        _, _, output = run_in_pty(["ask", "Where is A1002?"], env, 24, 100)
    assert not [f for f in forbidden if f in output]
    assert b"It arrives tomorrow." in output


def test_hostile_order_data_is_neutralised_in_the_tool_line_the_reply_and_the_record(triage_env, tmp_path):
    orders = tmp_path / "orders.sqlite"
    with sqlite3.connect(orders) as db:
        db.execute("CREATE TABLE orders (order_id TEXT PRIMARY KEY, status TEXT NOT NULL, carrier TEXT, note TEXT)")
        db.execute("INSERT INTO orders VALUES ('A1002', ?, ?, ?)",
                   ("delayed\x1b]0;pwned\x07", "DHL\x9b2J", "Call us\x1b]52;c;ZWNobyBwd25lZA==\x07 \x1b[2Jnow"))
    env = {**triage_env, "TRIAGE_ORDERS_DB": str(orders)}
    _, _, output = run_in_pty(["ask", "Where is A1002?"], env, 24, 100)
    for forbidden in (b"\x1b]0;", b"pwned", b"\x9b", b"\x1b]52", b"ZWNobyBwd25lZA", b"\x1b[2J"):
        assert forbidden not in output
    assert b"Call us" in output and b"now" in output


def test_an_error_message_quoting_the_server_is_neutralised(run_triage, server, model_env):
    server.add(error(400, "bad request \x1b]0;pwned\x07\x9b2J\x1b[2J here"))
    result = run_triage("ask", "Where is A1002?", env=model_env)
    assert result.code == 1
    assert "\x1b" not in result.err and "\x9b" not in result.err and "pwned" not in result.err
    assert "bad request" in result.err and "here" in result.err


def test_hostile_tool_arguments_are_neutralised_on_the_terminal(triage_env, model_env):
    with ScriptedServer([tools(("get_order_status", {"order_id": "A1002\x1b]0;pwned\x07"})),
                         text("Done.\n\n**Next step:** answer")]) as srv:
        env = {**triage_env, **model_env, "OPENAI_BASE_URL": srv.base_url}
        _, _, output = run_in_pty(["ask", "Where is A1002?"], env, 24, 100)
    assert b"\x1b]0;" not in output and b"\x07" not in output
    assert b"get_order_status" in output and b"\\u001b]0;pwned" in output  # shown as text, inert
