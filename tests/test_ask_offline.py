"""`triage ask` through the real CLI on the offline default: no key, no network."""

from __future__ import annotations

import os
import sys

import pexpect


def test_order_flag_and_question_explain_the_weather_delay(run_triage):
    result = run_triage("ask", "--order", "A1002", "My order still has not arrived")
    assert result.code == 0, result.err
    assert "delayed" in result.out and "one day due to weather" in result.out
    assert "Next step: answer" in result.out
    assert "offline rules engine" in result.err  # said once, on stderr, never as the answer


def test_stdin_question_prints_plain_text_without_escape_bytes(run_triage):
    result = run_triage("ask", input="Where is order A1003?\n")
    assert result.code == 0, result.err
    assert "was delivered yesterday at 16:20" in result.out
    assert "\x1b" not in result.out and "\x1b" not in result.err


def test_order_flag_alone_asks_for_the_status(run_triage):
    result = run_triage("ask", "--order", "A1001")
    assert result.code == 0 and "packed" in result.out


def test_a_missing_order_escalates(run_triage):
    result = run_triage("ask", "--order", "A9999", "Where is my parcel?")
    assert result.code == 0
    assert "Next step: escalate" in result.out and "no order A9999" in result.out


def test_no_question_is_a_usage_error(run_triage):
    result = run_triage("ask", input="")
    assert result.code == 2
    assert result.err.strip().startswith("error: no question") and len(result.err.strip().splitlines()) == 1


def test_an_unknown_provider_is_one_line_and_exit_2(run_triage):
    result = run_triage("ask", "--provider", "acme", "Where is A1002?")
    assert result.code == 2
    assert result.err.strip().splitlines() == [result.err.strip()]
    assert "unknown provider 'acme'" in result.err and "Traceback" not in result.err


def test_a_missing_key_is_one_line_and_exit_2(run_triage):
    result = run_triage("ask", "--provider", "groq", "Where is A1002?")
    assert result.code == 2
    assert "GROQ_API_KEY" in result.err and len(result.err.strip().splitlines()) == 1


def test_a_bad_config_file_is_one_line_naming_it(run_triage, triage_env):
    with open(triage_env["TRIAGE_CONFIG"], "w") as config:
        config.write("provider = \n")
    result = run_triage("ask", "Where is A1002?")
    assert result.code == 2 and "config.toml" in result.err and "Traceback" not in result.err


def test_a_users_own_order_database_is_used(run_triage, tmp_path):
    import sqlite3

    path = tmp_path / "shop.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE orders (order_id TEXT PRIMARY KEY, status TEXT NOT NULL, carrier TEXT, note TEXT)")
    db.execute("INSERT INTO orders VALUES ('B2001', 'in_transit', 'FedEx', 'Fragile')")
    db.commit()
    db.close()
    result = run_triage("ask", "Where is B2001?", env={"TRIAGE_ORDERS_DB": str(path)})
    assert result.code == 0 and "FedEx" in result.out and "Fragile" in result.out
    missing = run_triage("ask", "Where is B2001?", env={"TRIAGE_ORDERS_DB": str(tmp_path / "nope.sqlite")})
    assert missing.code == 2 and "order database not found" in missing.err  # a configuration error


def test_version_and_help_read_well_and_skip_the_sdk(run_triage):
    env = {"PYTHONPROFILEIMPORTTIME": "1"}  # import time: a process of its own
    version = run_triage("--version", env=env, process=True)
    assert version.code == 0 and version.out.startswith("triage ")
    assert "openai" not in version.err  # the import log: the SDK was never loaded
    for args in (["--help"], ["ask", "--help"], ["chat", "--help"]):
        shown = run_triage(*args, env=env, process=True)
        assert shown.code == 0 and "Usage" in shown.out
        assert "| openai" not in shown.err
    ask_help = run_triage("ask", "--help").out
    for option in ("--order", "--provider", "--model", "--base-url"):
        assert option in ask_help


def test_on_a_terminal_the_reply_is_rendered_with_tool_progress(triage_env):
    child = pexpect.spawn(sys.executable, ["-m", "triage_cli", "ask", "Where is A1002?"], env=triage_env,
                          cwd=os.getcwd(), dimensions=(40, 100), encoding="utf-8", timeout=20)
    child.expect(pexpect.EOF)
    child.close()
    screen = child.before
    assert child.exitstatus == 0
    assert "✓" in screen and "get_order_status" in screen
    assert "delayed" in screen and "**" not in screen  # Markdown was rendered, not printed raw
    assert "Next step" in screen and "escalate" not in screen


def test_plain_flag_prints_the_reply_as_written_even_on_a_terminal(triage_env):
    child = pexpect.spawn(sys.executable, ["-m", "triage_cli", "ask", "--plain", "--order", "A1002"],
                          env=triage_env, cwd=os.getcwd(), dimensions=(40, 100), encoding="utf-8", timeout=20)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "\x1b" not in child.before  # no colours, no cursor moves
    assert "**A1002**" in child.before and "Next step: answer" in child.before


def test_a_piped_ask_never_loads_the_terminal_view(triage_env):
    """rich's Markdown and Live renderer are a terminal's: a pipe gets plain text without them."""
    import subprocess
    import sys

    probe = ("import sys\nfrom triage_cli.cli import main\nsys.argv = ['triage', 'ask', 'Where is A1002?']\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "sys.stderr.write('loaded' if 'triage_cli.ui.terminal_view' in sys.modules else 'not loaded')\n")
    done = subprocess.run([sys.executable, "-c", probe], env=triage_env, capture_output=True, text=True, timeout=60)
    assert "A1002" in done.stdout and done.stderr.endswith("not loaded"), done.stderr
