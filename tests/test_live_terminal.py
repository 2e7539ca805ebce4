"""The live view in a real pty, replayed into a terminal emulator (pyte): the "waiting for the
model" indicator, and Ctrl-C in the middle of an answer leaving every line once."""

from __future__ import annotations

import io
import re
import sys

import pexpect

from pty_capture import terminal_lines
from scripted_server import ScriptedServer, text, tools

ROWS, COLUMNS = 24, 80
WAITING = "waiting for the model"
SENTENCE = "The parcel left the depot this morning and should reach your door tomorrow before noon. "
REPLY = SENTENCE * 3 + "\n\nA second paragraph that never arrives."
_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\r")


def spawn(args: list[str], env: dict[str, str]) -> tuple[pexpect.spawn, io.BytesIO]:
    child = pexpect.spawn(sys.executable, ["-m", "triage_cli", *args], env=env, dimensions=(ROWS, COLUMNS),
                          timeout=30)
    child.logfile_read = log = io.BytesIO()
    return child, log


def slow_model(srv_env: dict[str, str], base_url: str) -> dict[str, str]:
    return {**srv_env, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": base_url, "NO_COLOR": "1"}


def stalling_replies():
    # Each model call is silent for 1 s (3x the indicator's 0.3 s); the answer stalls mid-paragraph.
    return [tools(("get_order_status", {"order_id": "A1002"}), delay_headers=1.0),
            text(REPLY, delay_headers=1.0, stall_after=40, stall_seconds=60)]


def assert_each_line_once(output: bytes) -> list[str]:
    lines = terminal_lines(output, ROWS, COLUMNS)
    start = next(i for i, line in enumerate(lines) if line.startswith("The parcel left"))
    shown = lines[start]
    assert len(shown) > COLUMNS - 15  # a line as wide as the window: the one ^C used to wrap
    assert lines.count(shown) == 1, "\n".join(lines)
    assert not any(WAITING in line for line in lines)  # the indicator never stays behind
    return lines


def test_ask_shows_the_wait_before_and_after_the_lookup_and_ctrl_c_leaves_each_line_once(triage_env):
    with ScriptedServer(stalling_replies(), chunk_chars=4) as srv:
        child, log = spawn(["ask", "Where is A1002?"], slow_model(triage_env, srv.base_url))
        child.expect(WAITING)  # the first model call
        child.expect("get_order_status")
        child.expect(WAITING)  # the second one, after the lookup
        child.expect("reach your door")
        child.expect("The parcel left")  # the stall: a full-width line is live
        child.sendintr()
        child.expect(pexpect.EOF)
        child.close()
    assert child.exitstatus == 130
    plain = _ESCAPES.sub(b"", log.getvalue()).decode()
    first, tool, second = plain.index(WAITING), plain.index("get_order_status"), plain.rindex(WAITING)
    assert first < tool < second < plain.index("The parcel left")
    assert re.search(r"waiting for the model… \d+\.\d s", plain)
    assert_each_line_once(log.getvalue())


def test_chat_ctrl_c_in_an_answer_leaves_each_line_once_and_the_session_goes_on(triage_env):
    with ScriptedServer(stalling_replies(), chunk_chars=4) as srv:
        child, log = spawn(["chat"], {**slow_model(triage_env, srv.base_url), "PROMPT_TOOLKIT_NO_CPR": "1"})
        child.expect("›".encode())
        child.sendline("Where is A1002?")
        child.expect(WAITING)
        child.expect("reach your door")
        child.expect("The parcel left")
        child.sendintr()
        child.expect(r"\[interrupted\]")
        child.expect("›".encode())
        child.sendline("exit")
        child.expect(pexpect.EOF)
        child.close()
    assert child.exitstatus == 0
    lines = assert_each_line_once(log.getvalue())
    assert "^C" not in "\n".join(lines)


def test_no_waiting_indicator_in_a_pipe(run_triage):
    with ScriptedServer([text("Order A1002 is late.\n\n**Next step:** answer", delay_headers=1.0)]) as srv:
        result = run_triage("ask", "Where is A1002?", env={"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": srv.base_url})
    assert result.code == 0, result.err
    assert WAITING not in result.out + result.err
