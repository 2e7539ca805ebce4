"""What `triage ask` (every output mode) and `triage chat` print keeps the API key and agent
tokens out, as `triage serve` does, even when the model repeats the key split across streamed
pieces: the real CLI, the real openai SDK, the scripted OpenAI-compatible server."""

from __future__ import annotations

import json

import pytest

from helpers import PROMPT
from pty_capture import run_in_pty, terminal_lines
from scripted_server import text

KEY = "sk-test-not-a-real-key"  # model_env's OPENAI_API_KEY
AGENT_TOKEN = "trg_" + "Ab3-_" * 8 + "xyz"  # the shape of triage's agent tokens (43 characters after trg_)
REPLY = f"Your key is {KEY} and the agent token {AGENT_TOKEN}, noted.\n\nNext step: answer."


def echoing_model(server) -> None:
    # The scripted server streams content in pieces of 4 characters: the key arrives split.
    server.add(text(REPLY, reasoning=f"the key {KEY} is in the message"))


def assert_nothing_secret(shown: str) -> None:
    assert KEY not in shown
    assert AGENT_TOKEN not in shown
    assert "[redacted]" in shown


@pytest.mark.parametrize("mode", [[], ["--plain"], ["--json"], ["--events"]],
                         ids=["piped", "plain", "json", "events"])
def test_ask_prints_no_key_in_any_output_mode(run_triage, server, model_env, mode):
    echoing_model(server)

    result = run_triage("ask", *mode, "What is my key?", env=model_env)

    assert result.code == 0, result.err
    assert_nothing_secret(result.out)
    assert KEY not in result.err and AGENT_TOKEN not in result.err
    if mode == ["--json"]:
        assert json.loads(result.out)["reply"].startswith("Your key is [redacted] and the agent token [redacted]")


def test_ask_on_a_terminal_prints_no_key(triage_env, server, model_env):
    echoing_model(server)

    _, _, output = run_in_pty(["ask", "What is my key?"], {**triage_env, **model_env, "NO_COLOR": "1"},
                              rows=40, columns=200)

    assert KEY.encode() not in output and AGENT_TOKEN.encode() not in output
    assert_nothing_secret("\n".join(terminal_lines(output, 40, 200)))


def test_chat_prints_no_key(spawn_chat, server, model_env):
    echoing_model(server)
    child = spawn_chat(model_env)

    child.sendline("What is my key?")
    child.expect("noted")
    shown = child.before
    child.expect(PROMPT)
    shown += child.before
    child.sendline("/exit")

    assert KEY not in shown and AGENT_TOKEN not in shown
    assert "[redacted]" in shown
