"""A small reader for `.env` files (KEY=VALUE lines), so keys can live beside the project, and
`${NAME}` in a setting (an MCP server's headers, the order API's token) read from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingVariable(Exception):
    """A `${NAME}` in a setting names a variable that is not set."""


def expand(value: str, environ: Mapping[str, str] | None = None) -> str:
    """`value` with each `${NAME}` replaced by that environment variable."""
    env = os.environ if environ is None else environ

    def variable(match: re.Match[str]) -> str:
        if match[1] not in env:
            raise MissingVariable(f"{match[1]} is not set")
        return env[match[1]]

    return _VARIABLE.sub(variable, value)


def read_env_file(path: Path) -> dict[str, str]:
    """Parse `path` if it exists. Supports comments, `export KEY=...` and quoted values.

    Lines that are not assignments are ignored rather than fatal: a .env file is often shared
    with other tools that accept looser syntax.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum():
            continue
        values[key] = _unquote(value.strip())
    return values


def _unquote(value: str) -> str:
    if value[:1] in ("'", '"'):
        end = value.find(value[0], 1)
        if end > 0:  # a quoted value ends at its closing quote; a comment may follow
            return value[1:end]
    # An unquoted value may carry a trailing comment: KEY=abc  # note
    hash_at = value.find(" #")
    return value[:hash_at].rstrip() if hash_at >= 0 else value
