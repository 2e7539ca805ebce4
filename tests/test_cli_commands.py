"""Commands and checks of the CLI itself, through the real CLI: repeated options, where a bad
setting came from, the data directory's privacy warning, `config`, `history delete` and
`prune`, `tickets reopen` and shell completion."""

from __future__ import annotations

import json
import re
import os
from pathlib import Path

import pytest


def one_line_error(result, code: int = 2) -> str:
    assert result.code == code, (result.out, result.err)
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err, result.err
    return result.err.strip()


@pytest.mark.parametrize("command", ["ask", "chat"])
def test_a_repeated_order_is_refused_in_one_line(run_triage, triage_env, command):
    question = ["Where is it?"] if command == "ask" else []
    result = run_triage(command, "--order", "A1002", "-o", "A1003", *question)
    assert one_line_error(result).startswith("error: --order was given 2 times")
    assert not (Path(triage_env["TRIAGE_HOME"]) / "triage.sqlite").exists()  # nothing was answered


def test_a_bad_orders_db_names_the_variable_or_the_config_line_it_came_from(run_triage, tmp_path, triage_env):
    missing = tmp_path / "nowhere.db"
    from_env = run_triage("ask", "Where is A1002?", env={"TRIAGE_ORDERS_DB": str(missing)})
    assert one_line_error(from_env).endswith(f"order database not found: {missing} (from TRIAGE_ORDERS_DB)")
    Path(triage_env["TRIAGE_CONFIG"]).write_text(f'timeout = 5\norders_db = "{missing}"\n')
    from_file = run_triage("ask", "Where is A1002?")
    assert one_line_error(from_file).endswith(f"(from {triage_env['TRIAGE_CONFIG']}, line 2)")


def test_a_data_directory_others_can_enter_is_warned_about_once_and_left_as_it_is(run_triage, triage_env):
    home = Path(triage_env["TRIAGE_HOME"])
    home.mkdir()
    home.chmod(0o755)
    result = run_triage("ask", "Where is A1002?")
    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: the data directory {home} is open to other users (mode 755) and holds "
                        f"customers' messages: chmod 700 '{home}'"]
    assert os.stat(home).st_mode & 0o777 == 0o755
    assert (os.stat(home / "triage.sqlite").st_mode & 0o777) == 0o600


def age_conversations(triage_env) -> None:
    """Make every stored conversation idle since 2020, so a prune of 30 days finds them."""
    import contextlib
    import sqlite3

    path = Path(triage_env["TRIAGE_HOME"]) / "triage.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE conversations SET updated_at = '2020-01-01T00:00:00.000+00:00'")


def complete(run_triage, line: str) -> list[str]:
    """What bash completion offers for `line` (the word under the cursor is the last one)."""
    words = line.split(" ")
    result = run_triage(env={"_TRIAGE_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)})
    assert result.code == 0 and result.err == "", result.err
    return result.out.split()


def test_delete_prune_and_reopen_say_what_they_did_in_one_line_and_refuse_mistakes(run_triage, triage_env):
    for question in ("A9999 never arrived", "Where is A1002?", "Where is A1003?"):  # the first files ticket 1
        assert run_triage("ask", question).code == 0
    # completion reads the stores: ticket ids, conversation ids (and `last`), commands and options
    assert complete(run_triage, "triage tickets reopen ") == ["1"]
    assert complete(run_triage, "triage history delete ") == ["last", "3", "2", "1"]
    assert complete(run_triage, "triage chat --resume ") == ["last", "3", "2", "1"]
    assert complete(run_triage, "triage history de") == ["delete"]
    assert complete(run_triage, "triage history prune --d") == ["--dry-run"]

    deleted = run_triage("history", "delete", "1")
    assert (deleted.code, deleted.out) == (0, "Deleted conversation 1: A9999 never arrived (its tickets stay)\n")
    assert one_line_error(run_triage("history", "delete", "1")) == "error: no conversation 1 (see: triage history)"
    assert json.loads(run_triage("tickets", "--json", "--status", "all").out)[0]["id"] == 1  # the ticket stayed

    assert one_line_error(run_triage("tickets", "reopen", "1")) == "error: ticket 1 is already open"
    assert run_triage("tickets", "close", "1", "--note", "refunded").code == 0
    reopened = run_triage("tickets", "reopen", "#1")
    assert (reopened.code, reopened.out) == (0, "Reopened ticket #1 (A9999).\n")
    [ticket] = json.loads(run_triage("tickets", "--json").out)
    assert (ticket["status"], ticket["closed_at"], ticket["note"]) == ("open", None, "refunded")
    shown = run_triage("tickets", "show", "1").out  # the kept note, not only in --json
    assert "Note: refunded" in shown and "Held by: nobody: free to claim" in shown and "Closed:" not in shown

    age_conversations(triage_env)
    counted = run_triage("history", "prune", "--older-than", "30d", "--dry-run")
    assert (counted.code, counted.out) == (0, "Would delete 2 conversations with no activity in the last 30 days.\n")
    refused = one_line_error(run_triage("history", "prune", "--older-than", "30d"))  # a script, no --yes
    assert refused.startswith("error: history prune would delete 2 conversations") and "--yes" in refused
    assert len(json.loads(run_triage("history", "--json").out)) == 2
    pruned = run_triage("history", "prune", "--older-than", "30d", "-y")
    assert (pruned.code, pruned.out) == (0, "Deleted 2 conversations with no activity in the last 30 days.\n")


def test_prune_on_a_terminal_asks_first_and_deletes_nothing_without_a_yes(triage_env, run_triage):
    import pexpect
    import sys

    assert run_triage("ask", "Where is A1002?").code == 0
    age_conversations(triage_env)
    for answer, code, remaining in (("n", 1, 1), ("y", 0, 0)):
        child = pexpect.spawn(sys.executable, ["-m", "triage_cli", "history", "prune", "--older-than", "30d"],
                              env=triage_env, encoding="utf-8", timeout=30)
        child.expect(r"Delete 1 conversation with no activity in the last 30 days\? Their tickets stay\. \[y/N\] ")
        child.sendline(answer)
        child.expect("Nothing deleted." if answer == "n" else "Deleted 1 conversation")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == code
        assert len(json.loads(run_triage("history", "--json").out)) == remaining


def test_config_shows_each_setting_with_its_source_and_never_a_key(run_triage, triage_env):
    Path(triage_env["TRIAGE_CONFIG"]).write_text("# mine\ntimeout = 12\n")
    secret = "sk-CONFIG-SECRET-0123456789"
    env = {"OPENAI_API_KEY": secret, "TRIAGE_RETRIES": "4"}
    lines = run_triage("config", "--model", "gpt-x", env=env)
    assert lines.code == 0, lines.err
    assert secret not in lines.out + lines.err
    assert f"config file     {triage_env['TRIAGE_CONFIG']}\n" in lines.out
    assert f"data directory  {triage_env['TRIAGE_HOME']}\n" in lines.out
    assert "api_key              set (from OPENAI_API_KEY)\n" in lines.out
    # The team server's and `triage serve`'s settings are listed too, each under its heading.
    assert "\nServing (triage serve)\nhost                 127.0.0.1" in lines.out
    assert re.search(r"^port +8787 +default$", lines.out, re.MULTILINE)
    assert re.search(r"^server_url +not set +default$", lines.out, re.MULTILINE)
    report = json.loads(run_triage("config", "--json", "--model", "gpt-x", env=env).out)
    settings = {key: (row["value"], row["source"]) for key, row in report["settings"].items()}
    assert settings["timeout"] == (12.0, f"{triage_env['TRIAGE_CONFIG']}, line 2")
    assert settings["retries"] == (4, "TRIAGE_RETRIES") and settings["model"] == ("gpt-x", "--model")
    assert settings["provider"] == ("openai", "chosen by OPENAI_API_KEY")
    assert settings["max_rounds"] == (5, "default") and settings["api_key"] == ("set", "OPENAI_API_KEY")
    assert report["settings"]["max_connections"] == {"value": 1000, "source": "default", "group": "serve"}


def test_config_shows_the_settings_of_a_provider_whose_key_is_missing_and_says_it_is_needed(run_triage):
    env = {"GROQ_API_KEY": ""}
    shown = run_triage("config", "--provider", "groq", env=env)
    assert shown.code == 0 and shown.err == "", shown.err
    assert "api_key              not set (needed: set GROQ_API_KEY)\n" in shown.out
    assert re.search(r"^provider +groq +--provider$", shown.out, re.MULTILINE)
    report = json.loads(run_triage("config", "--json", "--provider", "groq", env=env).out)
    assert report["settings"]["api_key"]["value"] == "not set"
    refused = run_triage("ask", "--provider", "groq", "Where is A1002?", env=env)  # answering still needs it
    assert refused.code == 2 and "needs an API key: set GROQ_API_KEY" in refused.err
