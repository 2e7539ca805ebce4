"""Commands and checks of the CLI itself, through the real CLI: repeated options, where a bad
setting came from, the data directory's privacy warning, `config`, `history delete` and
`prune`, `tickets reopen` and shell completion."""

from __future__ import annotations

import json
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
