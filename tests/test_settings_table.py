"""One settings table (settings_table.py): the file keys, the variables, the defaults, the
checks and `triage config` come from its rows, so the README, config.example.toml and the
loaders cannot name a setting differently; the config file is read once a command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from triage_cli import settings_table
from triage_cli.config import load_settings, load_store_settings
from triage_cli.config_report import settings_with_sources
from triage_cli.config_server import load_server, load_server_settings
from triage_cli.errors import ConfigError
from triage_cli.settings_table import BY_KEY, BY_VARIABLE, SETTINGS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Variables the README names that are not settings: where the file is, a custom endpoint's key,
# the renderer's own measurement switch.
NOT_SETTINGS = {"TRIAGE_CONFIG", "TRIAGE_API_KEY", "TRIAGE_RENDER_STATS"}


def test_the_readme_names_each_setting_by_its_rows_key_variable_and_flag() -> None:
    for setting in SETTINGS:
        assert re.search(rf"`(\[{setting.key}[.\]]|{setting.key}`)", README), setting.key
        if setting.env:
            assert setting.env in README, setting.env
    assert set(re.findall(r"TRIAGE_[A-Z_]+", README)) - NOT_SETTINGS <= set(BY_VARIABLE)
    for row in (line for line in README.splitlines() if line.startswith("|")):
        keys = [k for k in re.findall(r"`([a-z_]+)`", row) if k in BY_KEY]
        variables = re.findall(r"TRIAGE_[A-Z_]+", row)
        if len(keys) == len(variables) and keys:  # a row of the settings tables
            assert [BY_KEY[k].env for k in keys] == variables, row
            for flag in re.findall(r"`(--[a-z-]+)`", row):
                assert flag in {BY_KEY[k].flag for k in keys}, row


def test_config_example_documents_every_row() -> None:
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert re.search(rf"^# (\[{setting.key}[.\]]|{setting.key} = )", example, re.MULTILINE), setting.key


def test_a_rows_check_says_where_a_bad_value_came_from(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("# team\nmax_connections = 0\n")
    env = {"TRIAGE_CONFIG": str(config)}
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(config))}, line 2: max_connections must be between 1 and"):
        load_server_settings(environ=env)
    with pytest.raises(ConfigError, match=r"^TRIAGE_POLICY_GUARD: policy_guard must be one of strict, record, off"):
        load_settings({}, environ={**env, "TRIAGE_POLICY_GUARD": "lax", "TRIAGE_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"^--port: port must be between 0 and 65535, got 70000"):
        load_server_settings({"port": 70000}, environ={})
    config.write_text('server_url = "http://team:8787"\nagent_token = "   "\n')
    with pytest.raises(ConfigError, match=r"line 2: agent_token is only whitespace"):
        load_server(None, environ=env)


def test_triage_config_lists_the_server_mcp_and_orders_api_settings_and_never_a_token(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('server_token = "tok-0123456789abcdef"\nport = 9000\nserver_url = "http://u:pw9876@team:8787"\n'
                      '[orders_api]\nurl = "https://bot:apipass42@shop.example/api/{order_id}"\n'
                      '[mcp_servers.crm]\ncommand = "crm-mcp"\n')
    env = {"TRIAGE_CONFIG": str(config), "TRIAGE_HOME": str(tmp_path / "home")}
    report = settings_with_sources(load_settings({}, environ=env), environ=env)
    rows = report["settings"]
    assert rows["port"] == {"value": 9000, "source": f"{config}, line 2", "group": "serve"}
    assert rows["server_token"]["value"] == "set" and rows["agent_token"]["value"] == "not set"
    assert rows["server_url"]["value"] == "http://u:***@team:8787"
    assert rows["orders_api"]["value"] == "https://bot:***@shop.example/api/{order_id}"
    assert rows["mcp_servers"]["value"] == ["crm"] and rows["mcp_connect_timeout"]["value"] == 10.0
    shown = repr(report)
    assert "tok-0123456789abcdef" not in shown and "pw9876" not in shown and "apipass42" not in shown


def test_the_config_file_is_read_once_for_the_settings_of_one_command(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('timeout = 12\nagent_name = "sam"\nport = 9000\n')
    env = {"TRIAGE_CONFIG": str(config), "TRIAGE_HOME": str(tmp_path / "home")}
    reads: list[Path] = []
    read_text = Path.read_text

    def counting(self: Path, *args: object, **kwargs: object) -> str:
        if self == config:
            reads.append(self)
        return read_text(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", counting)
    settings_table.forget_config_file()
    settings = load_settings({}, environ=env)
    assert (settings.timeout, load_store_settings(env).agent_name, load_server_settings(environ=env).port) == (
        12.0, "sam", 9000)
    assert load_server(None, environ=env) is None
    assert len(reads) == 1  # parsed and checked once; the lines of sources read only for messages
    config.write_text('timeout = 13\nagent_name = "sam"\nport = 9000\n')  # changed: read again
    assert load_settings({}, environ=env).timeout == 13.0
