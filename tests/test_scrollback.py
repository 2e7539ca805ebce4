"""A long streamed answer in a small terminal: every line reaches the scrollback exactly once.

The CLI runs in a 24-row pty against the scripted server at an unlimited token rate; every byte
it writes is replayed into pyte, a terminal emulator that keeps the lines scrolled off the top.
"""

from __future__ import annotations

import io

from rich.console import Console

from markdown_samples import realistic_markdown
from pty_capture import run_in_pty, terminal_lines
from scripted_server import ScriptedServer, answer
from triage_cli.ui.markdown_stream import render_markdown_lines

ROWS, COLUMNS = 24, 100


def screen_lines(output: bytes) -> list[str]:
    return terminal_lines(output, ROWS, COLUMNS)


def full_render(text: str) -> list[str]:
    console = Console(file=io.StringIO(), width=COLUMNS, force_terminal=True, no_color=True)
    return ["".join(segment.text for segment in line).rstrip() for line in render_markdown_lines(console, text, COLUMNS)]


def test_a_10000_token_answer_in_24_rows_leaves_every_line_once_in_order(triage_env):
    reply = realistic_markdown(10_000) + "\n**Next step:** answer"
    expected = full_render(reply)
    with ScriptedServer([answer(reply, order_id="A1002", issue="x", status="delayed", next_step="answer",
                                summary="s")], chunk_chars=4) as srv:
        env = {**triage_env, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": srv.base_url, "NO_COLOR": "1"}
        _, _, output = run_in_pty(["ask", "Where is A1002?"], env, ROWS, COLUMNS)
    lines = screen_lines(output)

    start = lines.index(expected[0])
    assert lines[start:start + len(expected)] == expected  # all of it, once, in order, nothing between
    assert len(expected) > 10 * ROWS  # far taller than the window
    after = lines[start + len(expected):]
    assert any("Next step" in line and "answer" in line for line in after)  # the record panel follows
    # No line of the answer shows up a second time anywhere (rich issue 3263).
    distinctive = [line for line in expected if len(line) > 40]
    assert all(lines.count(line) == expected.count(line) for line in distinctive)
