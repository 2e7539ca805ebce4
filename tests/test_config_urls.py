"""`triage config` shows every URL with its password masked, as lines and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.parametrize("as_json", [False, True], ids=["lines", "json"])
def test_config_masks_the_password_in_every_url_it_shows(run_triage, triage_env, as_json):
    Path(triage_env["TRIAGE_CONFIG"]).write_text('database_url = "postgresql://sam:db-pass-123@db/triage"\n')
    args = ["config", "--provider", "custom", "--model", "m", "--base-url", "https://host/v1"]
    result = run_triage(*args, *(["--json"] if as_json else []))

    assert result.code == 0, result.err
    assert "db-pass-123" not in result.out and "postgresql://sam:***@db/triage" in result.out
    if as_json:
        rows = json.loads(result.out)["settings"]
        assert rows["database_url"]["value"] == "postgresql://sam:***@db/triage"


@pytest.mark.parametrize("url", ["https://user:url-pass-456@host/v1", "https://host/v1?api-key=url-pass-456"],
                         ids=["password", "query"])
def test_a_base_url_carrying_a_secret_is_refused_without_showing_it(run_triage, url):
    # The SDK would send them to every path (and a key there would show in its errors): refused.
    for command in (["config"], ["ask", "x"]):
        result = run_triage(*command, "--provider", "custom", "--model", "m", "--base-url", url)
        assert result.code == 2 and "url-pass-456" not in result.out + result.err
        assert "the base URL must be just scheme, host, port and path" in result.err


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://u@db/x?sslpassword=s3cr3tpw", "postgresql://u@db/x?sslpassword=***"),
    ("postgresql://u:pa/ss3cr3tpw@db/x", "postgresql://u:***@db/x"),
    ("postgresql://u:pa#ss3cr3tpw@db/x", "postgresql://u:***@db/x"),
    ("postgresql://u:pa?ss3cr3tpw@db/x", "postgresql://u:***@db/x"),
    ("postgresql://u:s3cr3tpw@db:5432/x", "postgresql://u:***@db:5432/x"),
], ids=["sslpassword", "slash", "hash", "question-mark", "port"])
def test_a_password_shaped_oddly_is_masked_too(run_triage, url, shown):
    result = run_triage("config", "--json", env={"TRIAGE_DATABASE_URL": url})
    assert result.code == 0, result.err
    assert "s3cr3tpw" not in result.out and json.loads(result.out)["settings"]["database_url"]["value"] == shown


def test_a_url_with_a_port_and_an_at_sign_in_its_query_is_shown_as_it_is():
    from triage_cli.redaction import masked_url

    assert masked_url("http://h:8080/v1?x=a@b") == "http://h:8080/v1?x=a@b"
