"""What `triage tickets` stores from the command line (a closing note, the agent's name) keeps
out every secret the settings know: the API keys in the environment and .env, the server and
agent tokens, and anything shaped like an agent token; a note past the limit is one error line."""

from __future__ import annotations

import json
from pathlib import Path

from triage_cli.limits import MAX_MESSAGE_CHARS
from triage_cli.redaction import new_agent_token

KEY, DOTENV_KEY = "sk-env-key-0123456789", "gsk-dotenv-key-0123456789"
SERVER_TOKEN, AGENT_TOKEN_SET = "server-token-0123456789", "agent-token-from-the-file"
SHAPED = new_agent_token()


def test_a_closing_note_and_the_agent_name_are_stored_without_secrets(run_triage, triage_env):
    assert run_triage("ask", "A9999 never arrived").code == 0  # offline: an escalation files ticket 1
    Path(".env").write_text(f"GROQ_API_KEY={DOTENV_KEY}\n")
    Path(triage_env["TRIAGE_CONFIG"]).write_text(f'agent_token = "{AGENT_TOKEN_SET}"\n')
    env = {"OPENAI_API_KEY": KEY, "TRIAGE_SERVER_TOKEN": SERVER_TOKEN, "TRIAGE_AGENT_NAME": f"ana {SHAPED}"}
    note = f"refunded; keys {KEY} {DOTENV_KEY}, tokens {SERVER_TOKEN} {AGENT_TOKEN_SET} {SHAPED}"

    assert run_triage("tickets", "claim", "1", env=env).code == 0
    closed = run_triage("tickets", "close", "1", "--note", note, env=env)

    assert closed.code == 0, closed.err
    [ticket] = json.loads(run_triage("tickets", "--json", "--status", "all").out)
    assert ticket["note"] == "refunded; keys [redacted] [redacted], tokens [redacted] [redacted] [redacted]"
    assert ticket["assignee"] == "ana [redacted]"


def test_a_note_past_the_limit_is_one_error_line(run_triage):
    assert run_triage("ask", "A9999 never arrived").code == 0
    result = run_triage("tickets", "close", "1", "--note", "x" * (MAX_MESSAGE_CHARS + 1))
    assert (result.code, result.err) == (2, f"error: --note is longer than {MAX_MESSAGE_CHARS:,} characters\n")
    assert json.loads(run_triage("tickets", "--json").out)[0]["status"] == "open"
