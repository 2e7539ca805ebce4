"""Secrets kept out of what triage shows and stores: the configured API keys and tokens, and
triage's own agent tokens by their shape (`trg_` and 43 URL-safe characters) even when none is
configured. A plain module: the session, the front ends (ui/, server/, mcp_server) and the
journal all redact with it.

    redactor = Redactor(["sk-live-…", settings.api_key])
    redactor.text("key sk-live-…")        # 'key [redacted]'
    redactor.value({"a": ["sk-live-…"]})  # strings at any depth
    pieces = redactor.stream()            # a reply that arrives in pieces
"""

from __future__ import annotations

import re
import secrets as _random
from collections.abc import Iterable
from typing import Any

from triage_cli.nested import map_strings

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 8  # shorter values ("ollama", "EMPTY") are placeholders, not secrets
AGENT_TOKEN_PREFIX = "trg_"
AGENT_TOKEN_CHARS = 43  # secrets.token_urlsafe(32)
AGENT_TOKEN = re.compile(rf"{AGENT_TOKEN_PREFIX}[A-Za-z0-9_-]{{{AGENT_TOKEN_CHARS}}}")
# The tail of a text that may be an agent token still arriving: a prefix of `trg_`, or `trg_` and fewer
# than 43 of its characters.
_AGENT_TOKEN_START = re.compile(rf"(?:t|tr|trg|{AGENT_TOKEN_PREFIX}[A-Za-z0-9_-]{{0,{AGENT_TOKEN_CHARS - 1}}})\Z")


def masked_url(url: str) -> str:
    """`url` as it may be shown: the password in its user part, and any `password=` parameter
    (a PostgreSQL URL's query, a key=value connection string), replaced by `***`:
    `https://user:secret@host/v1` -> `https://user:***@host/v1`."""
    # The user part runs to the last "@" before the host: a password may hold "/", "?" or "#".
    # (A colon followed by digits and then "/", "?", "#" or the end is a port, not a password.)
    url = re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:?#]*:)(?![0-9]*(?:[/?#]|$)).*@(?=[^@]*$)", r"\1***@", url)
    return re.sub(r"(\b\w*password\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^&\s]*)", r"\1***", url, flags=re.IGNORECASE)


def new_agent_token() -> str:
    """A new agent token: `trg_` and 43 URL-safe base64 characters (256 random bits)."""
    return AGENT_TOKEN_PREFIX + _random.token_urlsafe(32)


def known_secrets(values: Iterable[object]) -> tuple[str, ...]:
    """The values that are secrets (strings at least MIN_SECRET_CHARS long), once each, in order."""
    return tuple(dict.fromkeys(v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_CHARS))


class Redactor:
    """Replaces every secret given (and anything shaped like an agent token) with `[redacted]`."""

    def __init__(self, secrets: Iterable[object] = ()) -> None:
        # The longest first: a secret that contains another is replaced whole.
        self.secrets = tuple(sorted(known_secrets(secrets), key=len, reverse=True))

    def with_secrets(self, more: Iterable[object]) -> Redactor:
        return Redactor([*self.secrets, *more])

    def text(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return AGENT_TOKEN.sub(REDACTED, text)

    def value(self, value: Any) -> Any:
        """`value` (a string, or lists and dicts of them) with every secret replaced."""
        return map_strings(value, self.text)

    def stream(self) -> StreamRedactor:
        return StreamRedactor(self)


class StreamRedactor:
    """Secrets replaced in text that arrives in pieces (a streamed reply): a tail that may begin a
    secret is held back until the next piece settles it, so a secret split across two pieces is
    replaced too. `flush` gives what is held at the end."""

    def __init__(self, redactor: Redactor | Iterable[str]) -> None:
        self.redactor = redactor if isinstance(redactor, Redactor) else Redactor(redactor)
        self._held = ""

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.redactor.secrets

    def feed(self, text: str) -> str:
        text = self.redactor.text(self._held + text)
        hold = max(self._held_back(text), _agent_token_start(text))
        self._held = text[len(text) - hold:] if hold else ""
        return text[:len(text) - hold]

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held

    def _held_back(self, text: str) -> int:
        """How long the longest tail of `text` that begins some secret is. Only the places in the
        tail where a secret's first character stands are tried (a token's text seldom has one)."""
        longest = 0
        for secret in self.secrets:
            start, end = max(len(text) - len(secret) + 1, 0), len(text) - longest
            while (start := text.find(secret[0], start, end)) >= 0:
                if secret.startswith(text[start:]):
                    longest = len(text) - start
                    break
                start += 1
        return longest


def _agent_token_start(text: str) -> int:
    found = _AGENT_TOKEN_START.search(text)
    return len(found[0]) if found else 0
