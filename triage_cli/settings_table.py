"""Every setting triage reads, one row each: its config-file key, its TRIAGE_* variable, its
type, its default, how a value is checked, its flag, and the group `triage config` lists it in.
The file and environment readers, the defaults, where each value came from, and `triage config`
are derived from these rows (config.py for the answering settings, config_server.py for a team
server's); `Layers` resolves a key through defaults < config file < environment < flags, the
config file read once a command."""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triage_cli.errors import ConfigError

APP_NAME = "triage"
STRUCTURED_OUTPUT_MODES = ("auto", "json_schema", "json_object", "off")
TOOL_ROUNDS_MODES = ("auto", "stream", "plain")
POLICY_GUARDS = ("strict", "record", "off")  # engine/record.py: GUARDS
FALLBACKS = ("off", "offline")  # engine/fallback.py: who answers when the model fails

Check = Callable[[Any, str, str], Any]  # (value, key, where it came from) -> the value to use


def number(kind: type, minimum: float, maximum: float = math.inf) -> Check:
    """A number of `kind` (int: a whole number) between `minimum` and `maximum`."""
    def check(value: Any, key: str, where: str) -> Any:
        try:
            found = kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {key} must be a {'whole ' if kind is int else ''}number, "
                              f"got {value!r}") from None
        if not math.isfinite(found) or not minimum <= found <= maximum:
            limits = f"at least {_shown(minimum)}" if maximum == math.inf else \
                f"between {_shown(minimum)} and {_shown(maximum)}"
            raise ConfigError(f"{where}: {key} must be {limits}, got {value!r}")
        return found
    return check


def _shown(limit: float) -> str:
    """1000000 as 1000000 (not 1e+06) and 0.1 as 0.1: how a limit reads in a message."""
    return str(int(limit)) if float(limit).is_integer() else f"{limit:g}"


def boolean(value: Any, key: str, where: str) -> bool:
    """true or false (also on/off, yes/no, 1/0, as a variable says it)."""
    if isinstance(value, bool):
        return value
    found = str(value).strip().lower()
    if found in ("true", "on", "yes", "1"):
        return True
    if found in ("false", "off", "no", "0"):
        return False
    raise ConfigError(f"{where}: {key} must be true or false, got {value!r}")


def choice(choices: tuple[str, ...]) -> Check:
    """One of `choices`, in any case."""
    def check(value: Any, key: str, where: str) -> str:
        found = str(value).strip().lower()
        if found not in choices:
            raise ConfigError(f"{where}: {key} must be one of {', '.join(choices)}, got {value!r}")
        return found
    return check


def names(expected: str) -> Check:
    """A list of names (a comma-separated string in a variable)."""
    def check(value: Any, key: str, where: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not all(isinstance(item, str) and item.strip() for item in value):
            raise ConfigError(f"{where}: {key} must be a list of {expected}")
        return tuple(item.strip() for item in value)
    return check


def token(value: Any, key: str, where: str) -> str:
    """A token without the spaces around it. One of only whitespace is a mistake to say (it would
    be sent, or expected, as a token nobody can type)."""
    found = str(value).strip()
    if not found:
        raise ConfigError(f"{where}: {key} is only whitespace; set a real token or remove the setting")
    return found


def text(value: Any, key: str, where: str) -> str:
    return str(value).strip()


def path(value: Any, key: str, where: str) -> Path | None:
    return Path(str(value)).expanduser() if str(value).strip() else None


@dataclass(frozen=True)
class Setting:
    """`kind` and `shape`: what the config file must hold (the shape said in its error);
    `variable`: False for a key only the config file sets; `flag`: the command line's;
    `secret`: shown only as set or not; `group`: where `triage config` lists it (None: not a
    value it lists, like a table)."""

    key: str
    kind: type | tuple[type, ...]
    shape: str
    default: Any = None
    check: Check = text
    variable: bool = True
    flag: str | None = None
    secret: bool = False
    group: str | None = "answering"

    @property
    def env(self) -> str | None:
        return f"TRIAGE_{self.key.upper()}" if self.variable else None


SECONDS = ((int, float), "a number of seconds")
SETTINGS: tuple[Setting, ...] = (
    # answering (config.py: load_settings)
    Setting("provider", str, "a provider name", flag="--provider"),
    Setting("model", str, "a model name", flag="--model"),
    Setting("base_url", str, "a URL", flag="--base-url"),
    Setting("timeout", *SECONDS, default=60.0, check=number(float, 0.1)),
    Setting("tool_timeout", *SECONDS, default=10.0, check=number(float, 0.1)),
    Setting("max_rounds", int, "a whole number", default=5, check=number(int, 1, 50)),
    Setting("retries", int, "a whole number", default=2, check=number(int, 0, 10)),
    Setting("structured_output", str, '"auto", "json_schema", "json_object" or "off"', default="auto",
            check=choice(STRUCTURED_OUTPUT_MODES)),
    Setting("tool_rounds", str, '"auto", "stream" or "plain"', default="auto", check=choice(TOOL_ROUNDS_MODES)),
    Setting("policy_guard", str, '"strict", "record" or "off"', default="strict", check=choice(POLICY_GUARDS)),
    Setting("fallback", str, '"off" or "offline"', default="off", check=choice(FALLBACKS)),
    Setting("order_id_pattern", str, "a regular expression"),
    Setting("temperature", (int, float), "a number between 0 and 2", check=number(float, 0, 2), flag="--temperature"),
    Setting("max_tokens", int, "a whole number", check=number(int, 1, 1_000_000), flag="--max-tokens"),
    Setting("instructions", str, "the team's instructions, or @ and a file path", check=text),
    Setting("otel_endpoint", str, "an OTLP/HTTP URL"),
    Setting("otel_capture_content", bool, "true or false", default=False, check=boolean),
    Setting("home", str, "a directory path", group="storage"),
    Setting("orders_db", str, "a file path", check=path, group="storage"),
    Setting("database_url", str, "a postgresql:// URL", group="storage"),
    Setting("agent_name", str, "a name", group="storage"),
    Setting("turn_lease_seconds", *SECONDS, default=30.0, check=number(float, 2, 600), group="storage"),
    Setting("providers", dict, "a table of provider tables", variable=False, group=None),
    Setting("orders_api", dict, "a table", variable=False, group=None),
    # tools (MCP servers)
    Setting("mcp_servers", dict, "a table of server tables", variable=False, group=None),
    Setting("mcp_config", str, "a file path", check=path, group="tools"),
    Setting("mcp_connect_timeout", *SECONDS, default=10.0, check=number(float, 0.1), group="tools"),
    # a team's server (config_server.py): the one a terminal answers through, and `triage serve`
    Setting("server_url", str, "a URL", flag="--server", group="server"),
    Setting("agent_token", str, "a token string", check=token, secret=True, group="server"),
    Setting("host", str, "a host name or address", default="127.0.0.1", flag="--host", group="serve"),
    Setting("port", int, "a port number", default=8787, check=number(int, 0, 65535), flag="--port", group="serve"),
    Setting("server_token", str, "a token string", check=token, secret=True, group="serve"),
    Setting("cors_origins", list, "a list of origins", default=(),
            check=names('origins like "https://help.example.com"'), group="serve"),
    Setting("allowed_hosts", list, "a list of host names", default=(),
            check=names('host names like "help.example.com"'), group="serve"),
    Setting("max_concurrent_turns", int, "a whole number", default=32, check=number(int, 1, 10_000), group="serve"),
    Setting("max_connections", int, "a whole number", default=1000, check=number(int, 1, 100_000), group="serve"),
    Setting("keep_alive_seconds", *SECONDS, default=5.0, check=number(float, 0.1, 3600), group="serve"),
    Setting("header_seconds", *SECONDS, default=10.0, check=number(float, 0.1, 3600), group="serve"),
    Setting("body_seconds", *SECONDS, default=30.0, check=number(float, 0.1, 3600), group="serve"),
    Setting("send_seconds", *SECONDS, default=60.0, check=number(float, 0.1, 3600), group="serve"),
    Setting("drain_seconds", *SECONDS, default=20.0, check=number(float, 0, 3600), group="serve"),
    Setting("workers", int, "a whole number", default=1, check=number(int, 1, 64), flag="--workers", group="serve"),
    Setting("metrics", str, '"on" or "off"', default="on", check=choice(("on", "off")), group="serve"),
)
BY_KEY = {setting.key: setting for setting in SETTINGS}
BY_VARIABLE = {setting.env: setting.key for setting in SETTINGS if setting.env}
PROVIDER_TABLE_KEYS = {"base_url", "api_key_env", "model", "structured_output", "tool_rounds"}


class Layers:
    """One command's settings before they are resolved: the config file's values, the TRIAGE_*
    variables', and the flags' (None: not given), each key read from the highest layer that sets
    it. `file_values` keeps the tables ([providers], [mcp_servers], [orders_api])."""

    def __init__(self, env: Mapping[str, str], flags: Mapping[str, Any] | None = None) -> None:
        self.env = env
        self.config_path, self.file_values, self._content = read_config_file(env)
        self._layers: list[dict[str, Any]] = [
            {k: v for k, v in self.file_values.items() if BY_KEY[k].group is not None},
            {BY_VARIABLE[k]: v for k, v in env.items() if k in BY_VARIABLE and v != ""},
            {k: v for k, v in (flags or {}).items() if v is not None},
        ]

    def top(self, key: str) -> tuple[int, Any]:
        """(layer number, value) of the highest layer setting `key`; layer 0 means unset."""
        for number_ in range(len(self._layers), 0, -1):
            if key in self._layers[number_ - 1]:
                return number_, self._layers[number_ - 1][key]
        return 0, None

    def raw(self, key: str) -> Any:
        return self.top(key)[1]

    def set_in(self, layer: int, key: str, value: Any) -> None:
        self._layers[layer - 1][key] = value

    def named_anywhere(self, key: str) -> bool:
        return any(key in layer for layer in self._layers)

    def values_in(self, key: str) -> list[tuple[int, Any]]:
        return [(number_, layer[key]) for number_, layer in enumerate(self._layers, 1) if key in layer]

    def get(self, key: str) -> Any:
        """The value of `key`, checked by its row, or the row's default when no layer sets it."""
        layer, value = self.top(key)
        setting = BY_KEY[key]
        return setting.default if value is None else setting.check(value, key, self.source(key, layer))

    def place(self, key: str, table: str | None) -> str:
        """`FILE, line N` where `key` is set in the config file's `table` (None: the top level)."""
        line = line_of(self._content, key, table)
        return f"{self.config_path}, line {line}" if line else str(self.config_path)

    def source(self, key: str, layer: int | None = None) -> str:
        """Where a setting came from, for messages: the config file and its line, the variable,
        the flag, or "default"."""
        layer = self.top(key)[0] if layer is None else layer
        if layer == 0:
            return "default"
        if layer == 1 and self.config_path is not None:
            return self.place(key, None)
        if layer == 2:
            return BY_KEY[key].env or "the environment"
        return BY_KEY[key].flag or "the command line"




def config_file_path(env: Mapping[str, str]) -> tuple[Path, bool]:
    """The config file to read, and whether the user named it explicitly."""
    if env.get("TRIAGE_CONFIG"):
        return Path(env["TRIAGE_CONFIG"]).expanduser(), True
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False)) / "config.toml", False


# The file read and checked once a command: the same file, unchanged, is not read again.
_READ: dict[tuple[Path, int, int, int], tuple[str, dict[str, Any]]] = {}


def forget_config_file() -> None:
    """Read the config file afresh next time (a command starting in the same process)."""
    _READ.clear()


def read_config_file(env: Mapping[str, str]) -> tuple[Path | None, dict[str, Any], str]:
    """(the file, its values checked against the rows, its text), or (None, {}, "") with no file."""
    config, explicit = config_file_path(env)
    try:
        stat = config.stat()
        known = (config, stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if known in _READ:
            content, values = _READ[known]
            return config, _copy(values), content
        content = config.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config file not found: {config} (from TRIAGE_CONFIG)") from None
        return None, {}, ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {config}: {exc}") from None
    try:
        values = tomllib.loads(content)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config}: invalid TOML: {exc}") from None
    _check_file_values(config, values, content)
    _READ.clear()  # one file a command: keep only the latest
    _READ[known] = content, values
    return config, _copy(values), content


def _copy(values: dict[str, Any]) -> dict[str, Any]:
    """A copy a caller may change (it pops the tables) without changing what is kept."""
    return {k: dict(v) if isinstance(v, dict) else v for k, v in values.items()}


def _check_file_values(config: Path, values: dict[str, Any], content: str) -> None:
    def at(key: str, table: str | None = None) -> str:
        line = line_of(content, key, table)
        return f"{config}, line {line}" if line else str(config)

    for key, value in values.items():
        if key not in BY_KEY:
            raise ConfigError(f"{at(key)}: unknown key '{key}' (see config.example.toml)")
        setting = BY_KEY[key]
        if not isinstance(value, setting.kind) or (isinstance(value, bool) and setting.kind is not bool):
            raise ConfigError(f"{at(key)}: '{key}' must be {setting.shape}, got {value!r}")
    for name, table in values.get("providers", {}).items():
        if not isinstance(table, dict):
            raise ConfigError(f"{at(name, 'providers')}: [providers.{name}] must be a table")
        for key, value in table.items():
            if key not in PROVIDER_TABLE_KEYS:
                raise ConfigError(f"{at(key, f'providers.{name}')}: unknown key '{key}' in [providers.{name}]")
            if not isinstance(value, str):
                raise ConfigError(f"{at(key, f'providers.{name}')}: 'providers.{name}.{key}' must be a string")


def line_of(content: str, key: str, table: str | None) -> int | None:
    """The line (1-based) where `key` is set in `table` (None: the top level), for messages."""
    current: str | None = None
    for number_, line in enumerate(content.splitlines(), 1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]\s*(#.*)?", stripped)
        if header:
            current = re.sub(r"\s*\.\s*", ".", header[1]).replace('"', "")
            continue
        if current == table and re.match(rf'"?{re.escape(key)}"?\s*=', stripped):
            return number_
        if table == "providers" and current == f"providers.{key}":
            return number_ - 1  # the table's header line
    return None


def environment(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ
