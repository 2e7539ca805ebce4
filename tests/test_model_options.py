"""The model options a team sets (issue 27): `--temperature` and `--max-tokens` (and their settings)
reach every request the real openai SDK sends to the scripted server; `instructions` (text, or
@FILE) are added to the system prompt of a model engine and shown by `triage config`."""

from __future__ import annotations

import json

from scripted_server import answer, tools

TOOL = "get_order_status"


def delayed():
    return answer("A1002 is a day late.", order_id="A1002", issue="late", status="delayed", next_step="answer",
                  summary="late")


def system_of(request: dict) -> str:
    return request["messages"][0]["content"]


def test_temperature_and_max_tokens_flags_reach_every_model_call(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), delayed())

    result = run_triage("ask", "--temperature", "0.2", "--max-tokens", "300", "Where is A1002?", env=model_env)

    assert result.code == 0, result.err
    assert len(server.requests) == 2
    for request in server.requests:  # OpenAI's own API: the newer name for the cap
        assert request["temperature"] == 0.2 and request["max_completion_tokens"] == 300 and "max_tokens" not in request


def test_the_settings_set_them_and_another_endpoint_gets_max_tokens(run_triage, server, triage_env, tmp_path):
    (tmp_path / "config.toml").write_text("temperature = 0.7\n")
    env = {"TRIAGE_PROVIDER": "custom", "TRIAGE_BASE_URL": server.base_url, "TRIAGE_MODEL": "local",
           "TRIAGE_MAX_TOKENS": "123"}
    server.add(delayed())

    result = run_triage("ask", "--order", "A1002", "late?", env=env)

    assert result.code == 0, result.err
    [request] = server.requests
    assert request["temperature"] == 0.7 and request["max_tokens"] == 123 and "max_completion_tokens" not in request


def test_without_them_the_endpoint_keeps_its_defaults(run_triage, server, model_env):
    server.add(delayed())
    assert run_triage("ask", "--order", "A1002", "late?", env=model_env).code == 0
    assert not {"temperature", "max_tokens", "max_completion_tokens"} & set(server.requests[0])


def test_out_of_range_values_are_one_line_and_exit_2(run_triage, model_env):
    flag = run_triage("ask", "--temperature", "3", "x", env=model_env)
    assert flag.code == 2 and "--temperature" in flag.err
    setting = run_triage("ask", "x", env={**model_env, "TRIAGE_MAX_TOKENS": "0"})
    assert setting.code == 2 and setting.err.strip() == "error: TRIAGE_MAX_TOKENS: max_tokens must be between 1 and 1000000, got '0'"


def test_team_instructions_from_a_file_join_the_system_prompt_and_config_shows_them(run_triage, server, model_env,
                                                                                    tmp_path):
    rules = tmp_path / "house-rules.md"
    rules.write_text("Sign off as \"The Acme Support Team\".\nUse British spelling.\n")
    (tmp_path / "config.toml").write_text(f'instructions = "@{rules}"\n')
    server.add(delayed())

    assert run_triage("ask", "--order", "A1002", "late?", env=model_env).code == 0

    system = system_of(server.requests[0])
    assert system.endswith('<team_instructions>\nSign off as "The Acme Support Team".\nUse British spelling.\n'
                           "</team_instructions>")
    assert "never change how you decide next_step" in system
    shown = json.loads(run_triage("config", "--json", env=model_env).out)["settings"]["instructions"]
    assert shown["value"].startswith("Sign off as") and str(rules) in shown["source"]
    lines = run_triage("config", env=model_env).out
    assert 'instructions         Sign off as "The Acme Support Team". Use British spelling.' in lines


def test_instructions_as_text_and_a_missing_file_is_a_configuration_error(run_triage, server, model_env):
    server.add(delayed())
    env = {**model_env, "TRIAGE_INSTRUCTIONS": "Keep replies under 80 words."}
    assert run_triage("ask", "--order", "A1002", "late?", env=env).code == 0
    assert system_of(server.requests[0]).endswith("<team_instructions>\nKeep replies under 80 words.\n</team_instructions>")
    missing = run_triage("ask", "x", env={**model_env, "TRIAGE_INSTRUCTIONS": "@/nonexistent/rules.md"})
    assert missing.code == 2
    assert missing.err.strip() == ("error: instructions file /nonexistent/rules.md: No such file or directory "
                                   "(from TRIAGE_INSTRUCTIONS)")


def test_model_options_with_a_server_are_refused(run_triage):
    result = run_triage("ask", "--temperature", "0.1", "x", env={"TRIAGE_SERVER_URL": "http://127.0.0.1:9"})
    assert result.code == 2 and "leave out --provider, --model, --base-url, --temperature and --max-tokens" in result.err
