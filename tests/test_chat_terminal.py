"""`triage chat` in a 40-column pty, read back through a terminal emulator (pyte): words are never
broken, the offline notice is said once, Ctrl-C at an empty prompt says how to leave (once), and /provider takes --base-url and --model."""

from __future__ import annotations

import io
import re
import sys

import pexpect

from pty_capture import terminal_lines

ROWS, COLUMNS = 30, 40
PROMPT = "›".encode()
USAGE = rb"no model [^\r\n]*\d s"  # the line after each offline answer
BANNER = "Type a customer's message and press Enter. /help lists the commands; Ctrl-D leaves."


def test_chat_in_40_columns(triage_env):
    env = {**triage_env, "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1"}
    child = pexpect.spawn(sys.executable, ["-m", "triage_cli", "chat"], env=env, dimensions=(ROWS, COLUMNS),
                          timeout=30)
    child.logfile_read = log = io.BytesIO()
    child.expect(PROMPT)
    for _ in range(3):
        child.sendintr()  # Ctrl-C at an empty prompt, three times
    child.expect_exact(b"(Ctrl-D or /exit leaves)")
    child.sendline("Where is A1005?")  # in transit
    child.expect(USAGE)
    child.expect(PROMPT)
    child.sendline("And A1002?")
    child.expect(USAGE)
    child.expect(PROMPT)
    child.sendline("/provider custom --model")
    child.expect(rb"--model needs a value")
    child.sendline("/provider custom --verbose")
    child.expect(rb"unknown option --verbose")
    child.sendline("/provider custom --base-url http://127.0.0.1:9/v1 --model my-model")
    child.expect(rb"now using custom")
    child.expect(PROMPT)
    child.sendline("/help")
    child.expect(rb"Ctrl-D: leave")
    child.expect(PROMPT)
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    output = log.getvalue()
    text = re.sub(rb"\x1b\[[0-?]*[ -/]*[@-~]|\r", b"", output).decode()
    assert text.count("Answered by the offline rules engine") == 1
    assert text.count("(Ctrl-D or /exit leaves)") == 1
    assert "now using custom · my-model" in text

    lines = terminal_lines(output, ROWS, COLUMNS)
    flowing = " ".join(" ".join(lines).split())
    assert BANNER in flowing  # wrapped at spaces only: joined again it reads whole
    assert "/provider NAME [--base-url URL] [--model M]" in flowing
    # The record panel: "in transit", and a long summary continues under itself, not the labels.
    assert any(re.search(r"│ Status\s+in transit", line) for line in lines)
    summary = next(i for i, line in enumerate(lines) if line.startswith("│ Summary"))
    indent = lines[summary].index(lines[summary].split()[2])
    assert lines[summary + 1][:indent].strip() == "│" and lines[summary + 1][indent] != " "


class _TerminalText(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_notes_and_errors_on_a_dumb_terminal_wrap_at_word_boundaries(monkeypatch):
    from triage_cli.engine.events import Error, Notice
    from triage_cli.engine.offline import HINT, NOTICE
    from triage_cli.ui.render import PlainRenderer

    monkeypatch.setenv("COLUMNS", "40")
    err = _TerminalText()
    renderer = PlainRenderer(out=io.StringIO(), err=err)
    renderer.handle(Notice(NOTICE, hint=HINT))
    renderer.handle(Error("the provider custom needs --base-url: pass --base-url http://localhost:8000/v1"))
    lines = err.getvalue().splitlines()
    assert len(lines) > 2 and all(len(line) < 40 for line in lines), lines
    words = " ".join(lines).split()
    assert "--provider." in words and "--base-url" in words  # never split inside
    assert " ".join(words) == " ".join(f"note: {NOTICE} {HINT} error: the provider custom needs --base-url: pass "
                                       "--base-url http://localhost:8000/v1".split())
