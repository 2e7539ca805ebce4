"""The settings of a team's server: `triage serve`'s own (host, port, token, CORS, the turn
limit, the connection deadlines) and the server a terminal answers through (`--server`,
`server_url`). Rows of the one settings table (settings_table.py), read from the same config
file and TRIAGE_* variables as the rest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from triage_cli.config import _check_url
from triage_cli.errors import ConfigError
from triage_cli.redaction import MIN_SECRET_CHARS
from triage_cli.settings_table import BY_KEY, Layers, environment

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class ServerSettings:
    """`triage serve`'s own settings; the token is never shown in repr."""

    host: str = BY_KEY["host"].default
    port: int = BY_KEY["port"].default
    token: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    max_concurrent_turns: int = BY_KEY["max_concurrent_turns"].default
    allowed_hosts: tuple[str, ...] = ()  # Host names beyond the bound address and loopback's
    max_connections: int = BY_KEY["max_connections"].default  # open connections at once; beyond: 503
    # An idle connection after a response is closed after keep_alive_seconds; a request's head
    # must arrive within header_seconds and its body within body_seconds, or the connection is
    # closed; a client that reads nothing of what is sent for send_seconds is closed.
    keep_alive_seconds: float = BY_KEY["keep_alive_seconds"].default
    header_seconds: float = BY_KEY["header_seconds"].default
    body_seconds: float = BY_KEY["body_seconds"].default
    send_seconds: float = BY_KEY["send_seconds"].default
    # SIGTERM: no new turn, the open ones may finish for drain_seconds, then the rest are ended.
    drain_seconds: float = BY_KEY["drain_seconds"].default
    workers: int = BY_KEY["workers"].default  # processes serving the one socket, each with its own engine
    metrics: str = BY_KEY["metrics"].default  # "on": /metrics for Prometheus (server/metrics.py)

    @property
    def loopback(self) -> bool:
        return self.host.lower() in LOOPBACK_HOSTS or self.host.startswith("127.")


_AS_READ = ("port", "cors_origins", "max_concurrent_turns", "max_connections", "keep_alive_seconds",
            "header_seconds", "body_seconds", "send_seconds", "drain_seconds", "workers", "metrics")


def load_server_settings(flags: Mapping[str, Any] | None = None, *,
                         environ: Mapping[str, str] | None = None) -> ServerSettings:
    """`triage serve`'s settings: defaults < config file < TRIAGE_* variables < flags (--host,
    --port). Raises ConfigError with a one-line message."""
    layers = Layers(environment(environ), flags)
    token = layers.get("server_token")
    if token is not None and len(token) < MIN_SECRET_CHARS:
        raise ConfigError(f"{layers.source('server_token')}: server_token must be at least {MIN_SECRET_CHARS} "
                          "characters")
    return ServerSettings(host=layers.get("host") or BY_KEY["host"].default, token=token,
                          allowed_hosts=tuple(h.lower() for h in layers.get("allowed_hosts")),
                          **{key: layers.get(key) for key in _AS_READ})


def load_server(flag: str | None, environ: Mapping[str, str] | None = None) -> tuple[str, str | None] | None:
    """The team server to answer through (`--server`, else TRIAGE_SERVER_URL, else `server_url`)
    and the token to send: the agent's own (TRIAGE_AGENT_TOKEN, else `agent_token`) when set, else
    the server's (TRIAGE_SERVER_TOKEN, else `server_token`); None to answer here."""
    layers = Layers(environment(environ), {"server_url": flag})
    url = layers.get("server_url") or ""
    if not url:
        return None
    _check_url(url, layers.source("server_url"), "the server URL", "http://host:port")
    return url.rstrip("/"), layers.get("agent_token") or layers.get("server_token")
