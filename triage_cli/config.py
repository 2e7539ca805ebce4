"""Settings from defaults < config file < environment < flags.

Each source is a *layer*. `model = "groq/openai/gpt-oss-120b"` also names the provider when no
layer sets one. A model or base URL set below the
layer that chose the provider belongs to some other provider and gives way to the preset's.
"""

from __future__ import annotations

import getpass
import math
import re
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from triage_cli.envfile import read_env_file
from triage_cli.errors import ConfigError
from triage_cli.order_ids import ORDER_ID_PATTERN, compile_order_id_pattern
from triage_cli.providers import CUSTOM, OFFLINE, PRESETS, Provider, known, preset, without_credentials
from triage_cli.redaction import MIN_SECRET_CHARS, known_secrets, masked_url

if TYPE_CHECKING:
    from triage_cli.store.order_api import OrderApiConfig
    from triage_cli.tools.mcp_config import McpServer

APP_NAME = "triage"

# key -> (type, description used in error messages)
_FILE_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "provider": (str, "a provider name"),
    "model": (str, "a model name"),
    "base_url": (str, "a URL"),
    "timeout": ((int, float), "a number of seconds"),
    "tool_timeout": ((int, float), "a number of seconds"),
    "max_rounds": (int, "a whole number"),
    "retries": (int, "a whole number"),
    "home": (str, "a directory path"),
    "orders_db": (str, "a file path"),
    "structured_output": (str, '"auto", "json_schema", "json_object" or "off"'),
    "tool_rounds": (str, '"auto", "stream" or "plain"'),
    "policy_guard": (str, '"strict", "record" or "off"'),
    "order_id_pattern": (str, "a regular expression"),
    "server_url": (str, "a URL"),
    "database_url": (str, "a postgresql:// URL"),
    "agent_name": (str, "a name"),
    "providers": (dict, "a table of provider tables"),
    # `triage serve` (read by load_server_settings)
    "host": (str, "a host name or address"),
    "port": (int, "a port number"),
    "server_token": (str, "a token string"),
    "agent_token": (str, "a token string"),
    "cors_origins": (list, "a list of origins"),
    "max_concurrent_turns": (int, "a whole number"),
    "allowed_hosts": (list, "a list of host names"),
    "max_connections": (int, "a whole number"),
    "keep_alive_seconds": ((int, float), "a number of seconds"),
    "header_seconds": ((int, float), "a number of seconds"),
    "body_seconds": ((int, float), "a number of seconds"),
    "send_seconds": ((int, float), "a number of seconds"),
    "mcp_servers": (dict, "a table of server tables"),
    "mcp_config": (str, "a file path"),
    "mcp_connect_timeout": ((int, float), "a number of seconds"),
    "orders_api": (dict, "a table"),
}
_ORDERS_API_KEYS = {"url", "headers", "timeout", "retries", "fields"}
_PROVIDER_TABLE_KEYS = {"base_url", "api_key_env", "model", "structured_output", "tool_rounds"}
STRUCTURED_OUTPUT_MODES = ("auto", "json_schema", "json_object", "off")
TOOL_ROUNDS_MODES = ("auto", "stream", "plain")
POLICY_GUARDS = ("strict", "record", "off")  # engine/record.py: GUARDS

_ENV_KEYS = {
    "TRIAGE_PROVIDER": "provider",
    "TRIAGE_MODEL": "model",
    "TRIAGE_BASE_URL": "base_url",
    "TRIAGE_TIMEOUT": "timeout",
    "TRIAGE_TOOL_TIMEOUT": "tool_timeout",
    "TRIAGE_MAX_ROUNDS": "max_rounds",
    "TRIAGE_RETRIES": "retries",
    "TRIAGE_HOME": "home",
    "TRIAGE_ORDERS_DB": "orders_db",
    "TRIAGE_STRUCTURED_OUTPUT": "structured_output",
    "TRIAGE_TOOL_ROUNDS": "tool_rounds",
    "TRIAGE_POLICY_GUARD": "policy_guard",
    "TRIAGE_ORDER_ID_PATTERN": "order_id_pattern",
    "TRIAGE_HOST": "host",
    "TRIAGE_PORT": "port",
    "TRIAGE_SERVER_TOKEN": "server_token",
    "TRIAGE_AGENT_TOKEN": "agent_token",
    "TRIAGE_CORS_ORIGINS": "cors_origins",
    "TRIAGE_MAX_CONCURRENT_TURNS": "max_concurrent_turns",
    "TRIAGE_ALLOWED_HOSTS": "allowed_hosts",
    "TRIAGE_MAX_CONNECTIONS": "max_connections",
    "TRIAGE_KEEP_ALIVE_SECONDS": "keep_alive_seconds",
    "TRIAGE_HEADER_SECONDS": "header_seconds",
    "TRIAGE_BODY_SECONDS": "body_seconds",
    "TRIAGE_SEND_SECONDS": "send_seconds",
    "TRIAGE_DATABASE_URL": "database_url",
    "TRIAGE_AGENT_NAME": "agent_name",
    "TRIAGE_MCP_CONFIG": "mcp_config",
    "TRIAGE_MCP_CONNECT_TIMEOUT": "mcp_connect_timeout",
}

FLAG_KEYS = ("provider", "model", "base_url")  # settings a flag can give: --provider, --model, --base-url
DEFAULTS: dict[str, Any] = {"timeout": 60.0, "tool_timeout": 10.0, "max_rounds": 5, "retries": 2, "port": 8787,
                            "max_concurrent_turns": 32, "mcp_connect_timeout": 10.0, "max_connections": 1000,
                            "keep_alive_seconds": 5.0, "header_seconds": 10.0, "body_seconds": 30.0, "send_seconds": 60.0}



@dataclass(frozen=True)
class Settings:
    """Everything a run needs, resolved and validated. The API key is never shown in repr."""

    provider: str
    model: str | None
    base_url: str | None
    api_key: str | None = field(repr=False)
    key_env: str | None
    timeout: float
    tool_timeout: float
    max_rounds: int
    home: Path
    orders_db: Path | None
    config_path: Path | None
    structured_output: str = "auto"
    tool_rounds: str = "auto"  # stream | plain (calls offering tools not streamed) | auto
    policy_guard: str = "strict"  # how far triage overrides a model's "answer" (engine/record.py)
    retries: int = 2  # for a refused connection, a timeout before the answer starts, 429 and 5xx
    secrets: tuple[str, ...] = field(default=(), repr=False)  # every API key in sight, never to be stored
    order_id_pattern: re.Pattern[str] = ORDER_ID_PATTERN  # what one order id looks like (order_ids.py)
    database_url: str | None = field(default=None, repr=False)  # PostgreSQL for a team; None: SQLite in home
    agent_name: str = ""  # who claims and closes tickets; load_settings fills in the login name
    # Where each setting came from, for messages and `triage config`: "default", "FILE, line N",
    # an environment variable's name, a flag such as "--model", or "the provider preset".
    sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    mcp_servers: tuple[McpServer, ...] = ()  # from the [mcp_servers.NAME] tables
    mcp_config: Path | None = None  # a JSON file of more servers (desktop assistants' or editors' format)
    mcp_connect_timeout: float = 10.0  # seconds a server may take to start and list its tools
    orders_api: OrderApiConfig | None = None  # orders from the shop's HTTP API instead of SQLite

    @property
    def offline(self) -> bool:
        return self.provider == OFFLINE

    def describe(self) -> str:
        """`groq · openai/gpt-oss-120b`, or the offline engine's name."""
        if self.offline:
            return "offline rules engine"
        return f"{self.provider} · {self.model}"


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve settings for one run. Raises ConfigError with a one-line message."""
    # A .env file supplies API keys only: one in an untrusted checkout must not be able to
    # redirect a real key to another endpoint or swap the config file.
    env = {k: v for k, v in read_env_file(_dotenv_path(cwd)).items() if k.endswith("_API_KEY")}
    env.update(os.environ if environ is None else environ)
    config_path, file_values = _read_config_file(env)
    # _read_config_file has checked that each [providers.NAME] value is a string.
    tables: dict[str, dict[str, str]] = file_values.pop("providers", {})
    mcp_tables: dict[str, Any] = file_values.pop("mcp_servers", {})
    orders_api: dict[str, Any] | None = file_values.pop("orders_api", None)
    layers = [
        file_values,
        {_ENV_KEYS[k]: v for k, v in env.items() if k in _ENV_KEYS and v != ""},
        {k: v for k, v in (flags or {}).items() if v is not None},
    ]
    _split_model_prefixes(layers, tables)

    top = _top(layers)
    provider_layer, provider_name = top("provider")
    if provider_name is None:
        # An explicit endpoint with no provider is a custom one: an OpenAI key must never be
        # sent to a URL the user did not pair it with.
        if top("base_url")[1]:
            provider_name = CUSTOM
        elif env.get("OPENAI_API_KEY"):
            provider_name = "openai"
        else:
            provider_name = OFFLINE
    if not known(provider_name, tables):
        choices = ", ".join(sorted(set(PRESETS) | set(tables)))
        raise ConfigError(f"unknown provider '{provider_name}' (choose one of: {choices})")
    chosen = preset(provider_name, tables.get(provider_name))

    def own(key: str) -> Any:
        """A value set at or above the layer that picked the provider, else None."""
        layer, value = top(key)
        return value if layer >= provider_layer and layer > 0 else None

    def source(key: str) -> str:
        layer = top(key)[0]
        return _source(layer, key, config_path) if layer else "default"

    sources = {key: source(key) for key in ("provider", "model", "base_url", "timeout", "tool_timeout",
                                            "max_rounds", "retries", "home", "orders_db", "structured_output",
                                            "order_id_pattern", "database_url", "agent_name", "mcp_config",
                                            "mcp_connect_timeout", "policy_guard")}
    store = _store_settings(top, config_path)
    orders_db = top("orders_db")[1]
    table = tables.get(chosen.name) or {}
    structured_output, sources["structured_output"] = _mode(
        "structured_output", STRUCTURED_OUTPUT_MODES, top("structured_output"), chosen.name, table, config_path)
    tool_rounds, sources["tool_rounds"] = _mode(
        "tool_rounds", TOOL_ROUNDS_MODES, top("tool_rounds"), chosen.name, table, config_path)
    common = dict(
        timeout=_number(top("timeout"), "timeout", float, minimum=0.1, config_path=config_path),
        tool_timeout=_number(top("tool_timeout"), "tool_timeout", float, minimum=0.1, config_path=config_path),
        max_rounds=_number(top("max_rounds"), "max_rounds", int, minimum=1, maximum=50, config_path=config_path),
        retries=_number(top("retries"), "retries", int, minimum=0, maximum=10, config_path=config_path),
        **store._asdict(),
        orders_db=Path(orders_db).expanduser() if orders_db else None,
        config_path=config_path,
        secrets=_secrets(env, tables, file_values.get("server_token"), file_values.get("agent_token")),
        structured_output=structured_output,
        tool_rounds=tool_rounds,
        policy_guard=_choice(top("policy_guard"), "policy_guard", POLICY_GUARDS, "strict", config_path),
        order_id_pattern=_order_id_pattern(top("order_id_pattern"), config_path),
        sources=sources,
        mcp_servers=_mcp_servers(mcp_tables, config_path),
        mcp_config=Path(str(top("mcp_config")[1])).expanduser() if top("mcp_config")[1] else None,
        mcp_connect_timeout=_number(top("mcp_connect_timeout"), "mcp_connect_timeout", float, minimum=0.1,
                                    config_path=config_path),
        orders_api=_orders_api(orders_api, config_path),
    )
    if provider_layer == 0:  # chosen from what else is set
        sources["provider"] = ("chosen by the base URL" if provider_name == CUSTOM else
                               "chosen by OPENAI_API_KEY" if provider_name == "openai" else "default")
    if chosen.name == OFFLINE:
        return Settings(provider=OFFLINE, model=None, base_url=None, api_key=None, key_env=None, **common)

    base_url = own("base_url")
    if not base_url:
        base_url, sources["base_url"] = _preset_base_url(chosen, env, tables, config_path)
    if not base_url:
        raise ConfigError(f"provider '{chosen.name}' needs a base URL: pass --base-url URL")
    _check_url(str(base_url), sources["base_url"])
    model = own("model")
    if not model:
        model, sources["model"] = chosen.default_model, _table_source(chosen.name, "model", tables, config_path)
    if not model:
        raise ConfigError(f"provider '{chosen.name}' has no default model: pass --model NAME")
    return Settings(
        provider=chosen.name,
        model=str(model),
        base_url=str(base_url),
        api_key=_api_key(chosen, env),
        key_env=chosen.key_env,
        **common,
    )


def load_secrets(environ: Mapping[str, str] | None = None, *, cwd: Path | None = None) -> tuple[str, ...]:
    """The secrets the settings know (every API key in the environment and the .env file, the
    server and agent tokens) without resolving a provider, for the commands that need no model."""
    env = {k: v for k, v in read_env_file(_dotenv_path(cwd)).items() if k.endswith("_API_KEY")}
    env.update(os.environ if environ is None else environ)
    _, file_values = _read_config_file(env)
    return _secrets(env, file_values.get("providers", {}), file_values.get("server_token"),
                    file_values.get("agent_token"))


def settings_with_sources(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The effective settings, each with where it came from, for `triage config`. The API key
    is only said to be set, and by which variable, never shown."""
    env = os.environ if environ is None else environ
    path, _ = config_file_path(env)
    values: dict[str, Any] = {
        "provider": settings.provider, "model": settings.model,
        "base_url": masked_url(settings.base_url) if settings.base_url else settings.base_url,
        "timeout": settings.timeout, "tool_timeout": settings.tool_timeout, "max_rounds": settings.max_rounds,
        "retries": settings.retries, "structured_output": settings.structured_output,
        "tool_rounds": settings.tool_rounds, "policy_guard": settings.policy_guard,
        "home": str(settings.home), "orders_db": str(settings.orders_db) if settings.orders_db else None,
        "order_id_pattern": settings.order_id_pattern.pattern,
        "database_url": masked_url(settings.database_url) if settings.database_url else None,
        "agent_name": settings.agent_name,
    }
    if settings.offline:
        values.pop("model"), values.pop("base_url")
    rows = {key: {"value": value, "source": settings.sources.get(key, "default")} for key, value in values.items()}
    if settings.orders_db is None:
        rows["orders_db"]["value"] = f"{settings.home / 'orders.sqlite'} (the demo orders)"
    if settings.database_url is None:
        rows["database_url"]["value"] = f"{settings.home / 'triage.sqlite'} (SQLite)"
    if settings.sources.get("agent_name", "default") == "default":
        rows["agent_name"]["source"] = "the login name"
    if settings.key_env:
        key_set = settings.api_key not in (None, "", "not-needed")
        rows["api_key"] = {"value": "set" if key_set else "not set",
                           "source": settings.key_env if key_set else f"not needed, or set {settings.key_env}"}
    return {"config_file": str(path), "config_file_exists": path.is_file(), "data_directory": str(settings.home),
            "settings": rows}


def load_home(environ: Mapping[str, str] | None = None) -> Path:
    """Only the data directory (for commands that need no model, like `triage tickets`)."""
    return load_store_settings(environ).home


class StoreSettings(NamedTuple):
    home: Path
    database_url: str | None
    agent_name: str


def load_store_settings(environ: Mapping[str, str] | None = None) -> StoreSettings:
    """Only where the state is kept and who the agent is (`home`, `database_url`, `agent_name`),
    for the commands that need no model (`triage tickets`, `triage history`)."""
    env = os.environ if environ is None else environ
    config_path, file_values = _read_config_file(env)
    file_values.pop("providers", None)
    layers = [file_values, {_ENV_KEYS[k]: v for k, v in env.items() if k in _ENV_KEYS and v != ""}]
    return _store_settings(_top(layers), config_path)


def _top(layers: list[dict[str, Any]]) -> Callable[[str], tuple[int, Any]]:
    def top(key: str) -> tuple[int, Any]:
        """(layer number, value) of the highest layer setting `key`; layer 0 means unset."""
        for number in range(len(layers), 0, -1):
            if key in layers[number - 1]:
                return number, layers[number - 1][key]
        return 0, None

    return top


def _store_settings(top: Callable[[str], tuple[int, Any]], config_path: Path | None) -> StoreSettings:
    layer, url = top("database_url")
    url = str(url).strip() if url else None
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"database_url ({_source(layer, 'database_url', config_path)}) must be a postgresql:// URL, "
                          f"got '{masked_url(url)[:60]}'")
    name = str(top("agent_name")[1] or "").strip() or _login_name()
    return StoreSettings(Path(str(top("home")[1] or _default_home())).expanduser(), url or None, name)


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no USER variable and no passwd entry (a bare container)
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "agent"


def _mode(key: str, modes: tuple[str, ...], found: tuple[int, Any], provider: str, table: Mapping[str, Any],
          config_path: Path | None) -> tuple[str, str]:
    """(mode, where it came from) for a setting that picks one of `modes`: the setting itself
    wins; else the provider table's; else auto. Checked whatever the provider, offline too: a typo
    is reported before it matters."""
    layer, value = found
    name, where = key, _source(layer, key, config_path) if layer else "default"
    if value is None and table.get(key):
        value, name = table[key], f"providers.{provider}.{key}"
        where = _table_source(provider, key, {provider: table}, config_path)
    mode = str(value or "auto").strip().lower()
    if mode not in modes:
        raise ConfigError(f"{where}: {name} must be one of {', '.join(modes)}, got {value!r}")
    return mode, where


def _choice(found: tuple[int, Any], key: str, choices: tuple[str, ...], default: str,
            config_path: Path | None) -> str:
    """One of `choices` (any case), else a ConfigError naming where the bad value came from."""
    layer, value = found
    choice = str(default if value is None else value).strip().lower()
    if choice not in choices:
        raise ConfigError(f"{_source(layer, key, config_path)}: {key} must be one of {', '.join(choices)}, "
                          f"got {value!r}")
    return choice


def _table_source(provider: str, key: str, tables: Mapping[str, Any], config_path: Path | None) -> str:
    """Where a provider's own value came from: its [providers.NAME] table, else the preset."""
    if config_path is None or key not in (tables.get(provider) or {}):
        return "the provider preset"
    try:
        line = _line_of(config_path.read_text(encoding="utf-8"), key, f"providers.{provider}")
    except OSError:
        line = None
    return f"{config_path}, line {line}" if line else str(config_path)


def _dotenv_path(cwd: Path | None) -> Path:
    try:
        return (cwd or Path.cwd()) / ".env"
    except OSError:  # the working directory was deleted
        return Path(".env")


def _split_model_prefixes(layers: list[dict[str, Any]], tables: Mapping[str, object]) -> None:
    """Turn `model = "groq/x"` into provider groq, model x, when no layer names a provider:
    with a provider named, `openai/gpt-oss-120b` is that provider's own model name."""
    for number, layer in enumerate(layers):
        model = layer.get("model")
        if not isinstance(model, str) or "/" not in model:
            continue
        if any("provider" in any_layer for any_layer in layers):
            return
        prefix, rest = model.split("/", 1)
        if rest and known(prefix, tables):
            layer["provider"], layer["model"] = prefix, rest


def _preset_base_url(chosen: Provider, env: Mapping[str, str], tables: Mapping[str, Any],
                     config_path: Path | None) -> tuple[str | None, str]:
    """The provider's own base URL and where it came from."""
    if chosen.name == "openai" and env.get("OPENAI_BASE_URL"):
        return env["OPENAI_BASE_URL"], "OPENAI_BASE_URL"
    return chosen.base_url, _table_source(chosen.name, "base_url", tables, config_path)


def _check_url(url: str, where: str, what: str = "the base URL", shape: str = "http://host:port/v1") -> None:
    """An http(s) URL with a host and, if any, a numeric port: anything else is a typo that
    retrying would only make slower to report."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"{where}: {what} must look like {shape}, "
                          f"got '{without_credentials(url)[:80]}'")


def _secrets(env: Mapping[str, str], tables: Mapping[str, Any], *tokens: object) -> tuple[str, ...]:
    """The values of every API key variable in the environment and the .env file: the keys of
    all providers (and of config tables' api_key_env), in use or not, and the tokens (the
    server's, the agent's). Short placeholder values ("ollama", "EMPTY") are not secrets."""
    names = {p.key_env for p in PRESETS.values()} | {
        t.get("api_key_env") for t in tables.values() if isinstance(t, Mapping)} | {"TRIAGE_SERVER_TOKEN",
                                                                                  "TRIAGE_AGENT_TOKEN"}
    found = [v for k, v in env.items() if k.endswith("_API_KEY") or k in names] + list(tokens)
    return known_secrets(v.strip() if isinstance(v, str) else v for v in found)


def _api_key(chosen: Provider, env: Mapping[str, str]) -> str:
    key = env.get(chosen.key_env) if chosen.key_env else None
    if key:
        return key
    if chosen.key_required:
        raise ConfigError(
            f"provider '{chosen.name}' needs an API key: set {chosen.key_env} "
            "in the environment or in a .env file"
        )
    # Local servers accept anything; the SDK insists on a non-empty string.
    return "not-needed"


def _number(found: tuple[int, Any], key: str, kind: type, *, minimum: float, maximum: float = math.inf,
            config_path: Path | None = None) -> Any:
    layer, value = found
    if value is None:
        return DEFAULTS[key]
    where = _source(layer, key, config_path)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key} must be a {'whole ' if kind is int else ''}number, got {value!r}") from None
    if not math.isfinite(number) or not minimum <= number <= maximum:
        limits = f"at least {minimum:g}" if maximum == math.inf else f"between {minimum:g} and {maximum:g}"
        raise ConfigError(f"{where}: {key} must be {limits}, got {value!r}")
    return number


def _order_id_pattern(found: tuple[int, Any], config_path: Path | None) -> re.Pattern[str]:
    layer, value = found
    if value is None:
        return ORDER_ID_PATTERN
    try:
        return compile_order_id_pattern(str(value))
    except ValueError as exc:
        where = _source(layer, "order_id_pattern", config_path)
        raise ConfigError(f"{where}: order_id_pattern {str(value)[:80]!r} is unusable: {exc}") from None


def _mcp_servers(tables: Mapping[str, Any], config_path: Path | None) -> tuple[McpServer, ...]:
    """The servers of the [mcp_servers.NAME] tables (the mcp_config file is read when a session
    opens, like the order database)."""
    if not tables:
        return ()
    from triage_cli.tools.mcp_config import servers_from_tables

    return tuple(servers_from_tables(tables, str(config_path)))


def _orders_api(table: Mapping[str, Any] | None, config_path: Path | None) -> OrderApiConfig | None:
    if table is None:
        return None
    from triage_cli.store.order_api import OrderApiConfig
    from triage_cli.store.orders import COLUMNS as ORDER_FIELDS

    where = f"{config_path}: [orders_api]"
    unknown = sorted(set(table) - _ORDERS_API_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' (one of: {', '.join(sorted(_ORDERS_API_KEYS))})")
    url = table.get("url")
    if not isinstance(url, str) or "{order_id}" not in url:
        raise ConfigError(f'{where}: url must be a string with {{order_id}} in it, like "https://shop/api/orders/{{order_id}}"')
    _check_url(url.replace("{order_id}", "A1"), where)
    for key in ("headers", "fields"):
        value = table.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{where}: {key} must be a table of strings")
    unknown_fields = sorted(set(table.get("fields", {})) - set(ORDER_FIELDS))
    if unknown_fields:
        raise ConfigError(f"{where}: fields.{unknown_fields[0]} is not an order field "
                          f"(one of: {', '.join(ORDER_FIELDS)})")
    timeout = table.get("timeout", 10.0)
    retries = table.get("retries", 2)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0.1 <= timeout <= 300:
        raise ConfigError(f"{where}: timeout must be a number of seconds between 0.1 and 300")
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        raise ConfigError(f"{where}: retries must be a whole number between 0 and 10")
    return OrderApiConfig(url=url, headers=dict(table.get("headers", {})), timeout=float(timeout),
                          retries=retries, fields=dict(table.get("fields", {})))


def _source(layer: int, key: str, config_path: Path | None) -> str:
    """Where a setting came from, for messages: the config file and line, or the variable."""
    if layer == 1 and config_path is not None:
        try:
            line = _line_of(config_path.read_text(encoding="utf-8"), key, None)
        except OSError:
            line = None
        return f"{config_path}, line {line}" if line else str(config_path)
    if layer == 2:
        return next((name for name, setting in _ENV_KEYS.items() if setting == key), "the environment")
    return f"--{key.replace('_', '-')}" if key in FLAG_KEYS else "the command line"


def _default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def config_file_path(env: Mapping[str, str]) -> tuple[Path, bool]:
    """The config file to read, and whether the user named it explicitly."""
    if env.get("TRIAGE_CONFIG"):
        return Path(env["TRIAGE_CONFIG"]).expanduser(), True
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False)) / "config.toml", False


def _read_config_file(env: Mapping[str, str]) -> tuple[Path | None, dict[str, Any]]:
    path, explicit = config_file_path(env)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config file not found: {path} (from TRIAGE_CONFIG)") from None
        return None, {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    _check_file_values(path, values, text)
    return path, values


def _check_file_values(path: Path, values: dict[str, Any], text: str = "") -> None:
    def at(key: str, table: str | None = None) -> str:
        line = _line_of(text, key, table)
        return f"{path}, line {line}" if line else str(path)

    for key, value in values.items():
        if key not in _FILE_KEYS:
            raise ConfigError(f"{at(key)}: unknown key '{key}' (see config.example.toml)")
        kind, description = _FILE_KEYS[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"{at(key)}: '{key}' must be {description}, got {value!r}")
    for name, table in values.get("providers", {}).items():
        if not isinstance(table, dict):
            raise ConfigError(f"{at(name, 'providers')}: [providers.{name}] must be a table")
        for key, value in table.items():
            if key not in _PROVIDER_TABLE_KEYS:
                raise ConfigError(f"{at(key, f'providers.{name}')}: unknown key '{key}' in [providers.{name}]")
            if not isinstance(value, str):
                raise ConfigError(f"{at(key, f'providers.{name}')}: 'providers.{name}.{key}' must be a string")


def _line_of(text: str, key: str, table: str | None) -> int | None:
    """The line (1-based) where `key` is set in `table` (None: the top level), for messages."""
    current: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]\s*(#.*)?", stripped)
        if header:
            current = re.sub(r"\s*\.\s*", ".", header[1]).replace('"', "")
            continue
        if current == table and re.match(rf'"?{re.escape(key)}"?\s*=', stripped):
            return number
        if table == "providers" and current == f"providers.{key}":
            return number - 1  # the table's header line
    return None
