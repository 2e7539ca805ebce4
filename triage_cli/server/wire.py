"""How the server writes what others read: every JSON response terminal-safe (C1, bidi, line
separators and lone surrogates escaped, as the stream's events are), and request text in the log
escaped (`\\x1b`, `\\u202e`), so neither a client nor whoever tails the log gets raw control
characters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse

from triage_cli.config import Settings
from triage_cli.config_server import ServerSettings
from triage_cli.redaction import Redactor
from triage_cli.sanitize import escaped, json_text

log_text = escaped


def secrets_redactor(settings: Settings, server: ServerSettings) -> Callable[[str], str]:
    """What takes the secrets the server knows (keys, its token, any agent's token by its shape)
    out of text a request would store."""
    return Redactor([settings.api_key, *settings.secrets, server.token]).text


class SafeJSONResponse(JSONResponse):
    """A JSON response through `json_text`: UTF-8, but nothing in it acts on a terminal."""

    def render(self, content: Any) -> bytes:
        return json_text(content).encode("utf-8")
