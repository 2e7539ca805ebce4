"""`triage config`'s report: every row of the settings table (settings_table.py) that holds a
value, grouped (answering, storage, tools, the team server, `triage serve`), with its value and
where it came from, and the tables ([mcp_servers], [orders_api]). Keys and tokens are only said
to be set, never shown; a URL's password is masked."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from triage_cli.config import Settings
from triage_cli.config_server import ServerSettings, load_server_settings
from triage_cli.redaction import Redactor, masked_url
from triage_cli.settings_table import SETTINGS, Layers, Setting, config_file_path, environment

_MASKED = ("base_url", "database_url", "server_url")


def settings_with_sources(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = environment(environ)
    path, _ = config_file_path(env)
    layers = Layers(env)
    server = load_server_settings(environ=env)
    rows: dict[str, dict[str, Any]] = {}
    for setting in SETTINGS:
        if setting.group is None or (settings.offline and setting.key in ("model", "base_url")):
            continue
        value = _value(setting, settings, server, layers)
        rows[setting.key] = {"value": value, "source": settings.sources.get(setting.key) or layers.source(setting.key),
                             "group": setting.group}
    _explain_defaults(rows, settings)
    if settings.key_env:
        key_set = settings.api_key not in (None, "", "not-needed")
        missing = f"needed: set {settings.key_env}" if settings.api_key is None else f"not needed, or set {settings.key_env}"
        rows["api_key"] = {"value": "set" if key_set else "not set", "group": "answering",
                           "source": settings.key_env if key_set else missing}
    where = str(layers.config_path) if layers.config_path else "default"
    rows["mcp_servers"] = {"value": [s.name for s in settings.mcp_servers], "group": "tools",
                           "source": where if settings.mcp_servers else "default"}
    api = settings.orders_api
    rows["orders_api"] = {"value": masked_url(api.url) if api else None, "group": "storage",
                          "source": where if api else "default"}
    return {"config_file": str(path), "config_file_exists": path.is_file(), "data_directory": str(settings.home),
            "settings": rows}


def _value(setting: Setting, settings: Settings, server: ServerSettings, layers: Layers) -> Any:
    key = setting.key
    if hasattr(settings, key):
        value = getattr(settings, key)
    elif hasattr(server, key):
        value = getattr(server, key)
    else:  # the team server a terminal answers through: as set, not checked here
        value = layers.raw(key)
    if key == "server_token":
        value = server.token
    if setting.secret:
        return "set" if value else "not set"
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    if key == "instructions" and value:  # text anyone may write a key into: shown without it
        return Redactor(settings.secrets).text(value)
    return masked_url(value) if key in _MASKED and value else value


def _explain_defaults(rows: dict[str, dict[str, Any]], settings: Settings) -> None:
    """What an unset storage setting means."""
    if settings.orders_db is None:
        rows["orders_db"]["value"] = ("not used: orders come from orders_api" if settings.orders_api else
                                      f"{settings.home / 'orders.sqlite'} (the demo orders)")
    if settings.database_url is None:
        rows["database_url"]["value"] = f"{settings.home / 'triage.sqlite'} (SQLite)"
    if rows["agent_name"]["source"] == "default":
        rows["agent_name"]["source"] = "the login name"
