"""The data directory is made private (0700) by whichever command makes it first, with every
missing directory above it and under it (the MCP logs, the pattern cache), whatever the umask."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from helpers import MCP_TEST_SERVER


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("command", [["tools", "--json"], ["ask", "--plain", "Where is A1002?"]],
                         ids=["tools", "ask"])
def test_a_new_data_directory_is_private_with_mcp_servers_configured(run_triage, triage_env, tmp_path, command):
    home = tmp_path / "new" / "triage-home"
    Path(triage_env["TRIAGE_CONFIG"]).write_text(
        f'[mcp_servers.crm]\ncommand = "{sys.executable}"\nargs = ["{MCP_TEST_SERVER}"]\n')
    old = os.umask(0o022)  # the usual umask, which leaves a plain mkdir 0755
    try:
        result = run_triage(*command, env={"TRIAGE_HOME": str(home)})
    finally:
        os.umask(old)

    assert result.code == 0, result.err
    made = [home.parent, home, home / "mcp-logs", *[p for p in home.rglob("*") if p.is_dir()]]
    assert {str(p.relative_to(tmp_path)): mode(p) for p in made} == {
        str(p.relative_to(tmp_path)): 0o700 for p in made}
