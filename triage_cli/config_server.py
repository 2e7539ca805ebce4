"""The settings of a team's server: `triage serve`'s own (host, port, token, CORS, the turn
limit) and the server a terminal answers through (`--server`, `server_url`). Read from the same
config file and TRIAGE_* variables as the rest (config.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage_cli.config import (
    _ENV_KEYS,
    _check_url,
    _number,
    _read_config_file,
    _source,
    _top,
)
from triage_cli.errors import ConfigError
from triage_cli.redaction import MIN_SECRET_CHARS

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class ServerSettings:
    """`triage serve`'s own settings; the token is never shown in repr."""

    host: str = "127.0.0.1"
    port: int = 8787
    token: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    max_concurrent_turns: int = 32
    allowed_hosts: tuple[str, ...] = ()  # Host names beyond the bound address and loopback's
    max_connections: int = 1000  # open connections at once; beyond: 503
    keep_alive_seconds: float = 5.0  # an idle connection after a response is closed after this
    header_seconds: float = 10.0  # a request's head must arrive within this, or the connection is closed
    body_seconds: float = 30.0  # a request's body must arrive within this, or the connection is closed
    send_seconds: float = 60.0  # a client that reads nothing of what is sent for this long is closed

    @property
    def loopback(self) -> bool:
        return self.host.lower() in LOOPBACK_HOSTS or self.host.startswith("127.")


def load_server_settings(flags: Mapping[str, Any] | None = None, *,
                         environ: Mapping[str, str] | None = None) -> ServerSettings:
    """host, port, server_token, cors_origins and max_concurrent_turns: defaults < config file <
    TRIAGE_* variables < flags (--host, --port). Raises ConfigError with a one-line message."""
    env = os.environ if environ is None else environ
    config_path, file_values = _read_config_file(env)
    layers = [file_values, {_ENV_KEYS[k]: v for k, v in env.items() if k in _ENV_KEYS and v != ""},
              {k: v for k, v in (flags or {}).items() if v is not None}]

    top = _top(layers)
    host = str(top("host")[1] or "127.0.0.1").strip()
    token = _token(top, "server_token", config_path)
    if token is not None and len(token) < MIN_SECRET_CHARS:
        raise ConfigError(f"{_source(top('server_token')[0], 'server_token', config_path)}: server_token must be "
                          f"at least {MIN_SECRET_CHARS} characters")
    origins = _names(top("cors_origins"), "cors_origins", "origins like \"https://help.example.com\"", config_path)
    hosts = _names(top("allowed_hosts"), "allowed_hosts", "host names like \"help.example.com\"", config_path)

    def seconds(key: str) -> float:
        return float(_number(top(key), key, float, minimum=0.1, maximum=3600, config_path=config_path))

    return ServerSettings(
        host=host,
        port=_number(top("port"), "port", int, minimum=0, maximum=65535, config_path=config_path),
        token=token,
        cors_origins=origins,
        max_concurrent_turns=_number(top("max_concurrent_turns"), "max_concurrent_turns", int, minimum=1,
                                     maximum=10_000, config_path=config_path),
        allowed_hosts=tuple(h.lower() for h in hosts),
        max_connections=_number(top("max_connections"), "max_connections", int, minimum=1, maximum=100_000,
                                config_path=config_path),
        keep_alive_seconds=seconds("keep_alive_seconds"),
        header_seconds=seconds("header_seconds"),
        body_seconds=seconds("body_seconds"),
        send_seconds=seconds("send_seconds"),
    )


def _names(found: tuple[int, Any], key: str, expected: str, config_path: Path | None) -> tuple[str, ...]:
    """A list setting of names (a comma-separated string in a TRIAGE_* variable)."""
    layer, value = found
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if value is not None and not all(isinstance(item, str) and item.strip() for item in value):
        raise ConfigError(f"{_source(layer, key, config_path)}: {key} must be a list of {expected}")
    return tuple(item.strip() for item in value or ())


def load_server(flag: str | None, environ: Mapping[str, str] | None = None) -> tuple[str, str | None] | None:
    """The team server to answer through (`--server`, else TRIAGE_SERVER_URL, else `server_url`)
    and the token to send: the agent's own (TRIAGE_AGENT_TOKEN, else `agent_token`) when set, else
    the server's (TRIAGE_SERVER_TOKEN, else `server_token`); None to answer here."""
    env = os.environ if environ is None else environ
    path, file_values = _read_config_file(env)
    if flag is not None:
        url, where = flag, "--server"
    elif env.get("TRIAGE_SERVER_URL"):
        url, where = env["TRIAGE_SERVER_URL"], "TRIAGE_SERVER_URL"
    else:
        url, where = file_values.get("server_url") or "", f"{path}: server_url"
    url = url.strip()
    if not url:
        return None
    _check_url(url, where, "the server URL", "http://host:port")
    top = _top([file_values, {_ENV_KEYS[k]: v for k, v in env.items() if k in _ENV_KEYS and v != ""}])
    token = _token(top, "agent_token", path) or _token(top, "server_token", path)
    return url.rstrip("/"), token


def _token(top: Callable[[str], tuple[int, Any]], key: str, config_path: Path | None) -> str | None:
    """A token setting without the spaces around it; None when unset. One of only whitespace is a
    mistake to say (it would be sent, or expected, as a token nobody can type)."""
    layer, value = top(key)
    if value is None:
        return None
    token = str(value).strip()
    if not token:
        raise ConfigError(f"{_source(layer, key, config_path)}: {key} is only whitespace; "
                          "set a real token or remove the setting")
    return token
