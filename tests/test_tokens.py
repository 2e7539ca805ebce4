"""The tokens a team server and its clients use: spaces around one are dropped, one of only
whitespace is one clear error naming where it came from, and a client sends the agent's own
token (TRIAGE_AGENT_TOKEN, agent_token) in preference to the server's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serve_helpers import TEAM_TOKEN, WAIT
from triage_cli.config_server import load_server_settings

BLANK = " \t    \t  "  # longer than any minimum: only its content makes it wrong


def one_error(result, message: str) -> None:
    assert result.code == 2, (result.out, result.err)
    assert result.err.count("\n") == 1 and result.err.startswith("error: ") and message in result.err, result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("variable", ["TRIAGE_AGENT_TOKEN", "TRIAGE_SERVER_TOKEN"])
def test_a_client_token_of_only_whitespace_is_refused_naming_its_variable(run_triage, variable):
    result = run_triage("tickets", "--server", "http://127.0.0.1:9", env={variable: BLANK})
    key = variable.removeprefix("TRIAGE_").lower()
    one_error(result, f"{variable}: {key} is only whitespace")


def test_an_agent_token_of_only_whitespace_in_the_config_file_names_the_file_and_line(run_triage, triage_env):
    config = Path(triage_env["TRIAGE_CONFIG"])
    config.write_text(f'server_url = "http://127.0.0.1:9"\nagent_token = "{BLANK}"\n')
    one_error(run_triage("tickets"), f"{config}, line 2: agent_token is only whitespace")


def test_serve_refuses_a_server_token_of_only_whitespace(run_triage, triage_env):
    # A process with a bound on its run: a serve that took the token would listen until stopped.
    one_error(run_triage("serve", "--port", "0", env={"TRIAGE_SERVER_TOKEN": BLANK}, process=True, timeout=WAIT),
              "TRIAGE_SERVER_TOKEN: server_token is only whitespace")
    config = Path(triage_env["TRIAGE_CONFIG"])
    config.write_text(f'server_token = "{BLANK}"\n')
    one_error(run_triage("serve", "--port", "0", process=True, timeout=WAIT),
              f"{config}, line 1: server_token is only whitespace")


def test_the_spaces_around_a_server_token_are_not_part_of_it():
    assert load_server_settings(environ={"TRIAGE_SERVER_TOKEN": f"  {TEAM_TOKEN}\n"}).token == TEAM_TOKEN


def test_a_client_sends_the_agent_token_before_the_server_token_without_its_spaces(run_triage, team):
    agent = run_triage("tickets", "--json", env={"TRIAGE_SERVER_URL": team.url,
                                                 "TRIAGE_AGENT_TOKEN": f"  {TEAM_TOKEN} ",
                                                 "TRIAGE_SERVER_TOKEN": "not-the-token-at-all"})
    assert agent.code == 0, agent.err
    assert isinstance(json.loads(agent.out), list)
    wrong = run_triage("tickets", env={"TRIAGE_SERVER_URL": team.url, "TRIAGE_AGENT_TOKEN": "not-the-token-at-all",
                                       "TRIAGE_SERVER_TOKEN": TEAM_TOKEN})
    assert wrong.code != 0 and "(401)" in wrong.err
