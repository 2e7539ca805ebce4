"""`triage models` (issue 27): what the configured endpoint serves, read from its /models by the
real openai SDK over loopback from the scripted server; piped one id a line, --json, on a terminal
with the configured model marked; the offline engine and an unreachable endpoint are one line."""

from __future__ import annotations

import json
import sys

import pexpect

from helpers import plain

KEY = "sk-test-not-a-real-key"


def test_piped_one_id_a_line_sorted_and_the_key_sent(run_triage, server, model_env):
    server.models = ["zeta-7b", "gpt-4.1-mini", "Alpha-1"]
    result = run_triage("models", env=model_env)
    assert result.code == 0, result.err
    assert result.out == "Alpha-1\ngpt-4.1-mini\nzeta-7b\n"
    assert server.headers[-1]["authorization"] == f"Bearer {KEY}"
    assert KEY not in result.out + result.err


def test_json_names_the_endpoint_the_configured_model_and_each_listed(run_triage, server, model_env):
    server.models = ["m-1", "m-2"]
    report = json.loads(run_triage("models", "--json", "--model", "m-2", env=model_env).out)
    assert report["provider"] == "openai" and report["base_url"] == server.base_url and report["model"] == "m-2"
    assert [(m["id"], m["owned_by"]) for m in report["models"]] == [("m-1", "tests"), ("m-2", "tests")]


def test_on_a_terminal_the_configured_model_is_marked(server, model_env, triage_env):
    server.models = ["gpt-4.1-mini", "other-model\x1b[31m"]
    child = pexpect.spawn(sys.executable, ["-m", "triage_cli", "models"], env={**triage_env, **model_env},
                          dimensions=(24, 100), encoding="utf-8", timeout=30)
    child.expect(pexpect.EOF)
    shown = plain(child.before)
    assert "openai at " + server.base_url + ": 2 models" in shown
    assert "* gpt-4.1-mini" in shown and "  other-model" in shown and "\x1b[31m" not in child.before


def test_offline_and_an_unreachable_endpoint_are_one_line_each(run_triage, model_env):
    offline = run_triage("models", "--provider", "offline")
    assert offline.code == 2 and offline.err.startswith("error: the offline rules engine has no models to list")
    away = run_triage("models", env={**model_env, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "TRIAGE_RETRIES": "0"})
    assert away.code == 1 and len(away.err.strip().splitlines()) == 1 and "cannot connect to openai" in away.err
