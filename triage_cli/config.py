"""Settings from defaults < config file < environment < flags.

Each source is a *layer*. `model = "groq/openai/gpt-oss-120b"` also names the provider when no
layer sets one. A model or base URL set below the
layer that chose the provider belongs to some other provider and gives way to the preset's.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from triage_cli.envfile import read_env_file
from triage_cli.errors import ConfigError
from triage_cli.order_ids import ORDER_ID_PATTERN, compile_order_id_pattern
from triage_cli.providers import CUSTOM, OFFLINE, PRESETS, Provider, known, preset, without_credentials
from triage_cli.redaction import known_secrets, masked_url
from triage_cli.settings_table import (
    APP_NAME,
    BY_KEY,
    SETTINGS,
    Layers,
    environment,
)

if TYPE_CHECKING:
    from triage_cli.store.order_api import OrderApiConfig
    from triage_cli.tools.mcp_config import McpServer

FLAG_KEYS = tuple(s.key for s in SETTINGS if s.flag and s.group == "answering")  # --provider, --model, --base-url
DEFAULTS: dict[str, Any] = {s.key: s.default for s in SETTINGS if s.default is not None}
_ORDERS_API_KEYS = {"url", "headers", "timeout", "retries", "fields"}


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
    turn_lease_seconds: float = 30.0  # a running turn nobody renews for this long was abandoned
    temperature: float | None = None  # sent to the model when set; None: the endpoint's default
    max_tokens: int | None = None  # the most an answer may spend, when set
    instructions: str = ""  # the team's own instructions for a model (tone, sign-off), read from @FILE
    fallback: str = "off"  # "offline": the rules answer when the model fails before its answer began
    otel_endpoint: str = ""  # where traces go (OTLP over HTTP); "": no tracing (session/tracing.py)
    otel_capture_content: bool = False  # the message and the reply in the turn's span

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
    need_key: bool = True,
) -> Settings:
    """Resolve settings for one run. Raises ConfigError with a one-line message. `need_key=False`
    (`triage config`): a provider's missing API key is reported as not set, not refused."""
    env = _with_dotenv_keys(environ, cwd)
    layers = Layers(env, flags)
    # read_config_file has checked that each [providers.NAME] value is a string.
    tables: dict[str, dict[str, str]] = layers.file_values.get("providers", {})
    _split_model_prefixes(layers, tables)
    chosen, provider_layer, chosen_by = _provider(layers, env, tables)
    sources = {s.key: layers.source(s.key) for s in SETTINGS if s.group in ("answering", "storage", "tools")}
    sources["provider"] = chosen_by or sources["provider"]
    common = _common(layers, env, chosen, sources)
    if chosen.name == OFFLINE:
        return Settings(provider=OFFLINE, model=None, base_url=None, api_key=None, key_env=None, **common)

    def own(key: str) -> Any:
        """A value set at or above the layer that picked the provider, else None."""
        layer, value = layers.top(key)
        return value if layer >= provider_layer and layer > 0 else None

    base_url = own("base_url")
    if not base_url:
        base_url, sources["base_url"] = _preset_base_url(chosen, env, layers)
    if not base_url:
        raise ConfigError(f"provider '{chosen.name}' needs a base URL: pass --base-url URL")
    _check_url(str(base_url), sources["base_url"])
    _no_credentials(str(base_url), sources["base_url"])
    model = own("model")
    if not model:
        model, sources["model"] = chosen.default_model, _table_source(chosen.name, "model", layers)
    if not model:
        raise ConfigError(f"provider '{chosen.name}' has no default model: pass --model NAME")
    return Settings(provider=chosen.name, model=str(model), base_url=str(base_url),
                    api_key=_api_key(chosen, env, need_key), key_env=chosen.key_env, **common)


def _provider(layers: Layers, env: Mapping[str, str], tables: Mapping[str, Any]) -> tuple[Provider, int, str | None]:
    """The provider, the layer that named it (0: chosen from what else is set), and what chose
    it then. An explicit endpoint with no provider is a custom one: an OpenAI key must never be
    sent to a URL the user did not pair it with."""
    layer, name = layers.top("provider")
    chosen_by = None
    if name is None:
        name, chosen_by = ((CUSTOM, "chosen by the base URL") if layers.raw("base_url") else
                           ("openai", "chosen by OPENAI_API_KEY") if env.get("OPENAI_API_KEY") else
                           (OFFLINE, "default"))
    if not known(name, tables):
        choices = ", ".join(sorted(set(PRESETS) | set(tables)))
        raise ConfigError(f"unknown provider '{name}' (choose one of: {choices})")
    return preset(name, tables.get(name)), layer, chosen_by


def _common(layers: Layers, env: Mapping[str, str], chosen: Provider, sources: dict[str, str]) -> dict[str, Any]:
    """The settings every provider has, the offline engine's too."""
    table = layers.file_values.get("providers", {}).get(chosen.name) or {}
    structured_output, sources["structured_output"] = _mode("structured_output", layers, chosen.name, table)
    tool_rounds, sources["tool_rounds"] = _mode("tool_rounds", layers, chosen.name, table)
    return dict(
        **{key: layers.get(key) for key in ("timeout", "tool_timeout", "max_rounds", "retries", "orders_db",
                                            "policy_guard", "mcp_config", "mcp_connect_timeout",
                                            "turn_lease_seconds", "temperature", "max_tokens", "fallback",
                                            "otel_capture_content")},
        otel_endpoint=_otel_endpoint(layers, env),
        instructions=_instructions(layers, sources),
        **_store_settings(layers)._asdict(),
        config_path=layers.config_path,
        secrets=_secrets(env, layers),
        structured_output=structured_output,
        tool_rounds=tool_rounds,
        order_id_pattern=_order_id_pattern(layers),
        sources=sources,
        mcp_servers=_mcp_servers(layers.file_values.get("mcp_servers", {}), layers.config_path),
        orders_api=_orders_api(layers.file_values.get("orders_api"), layers.config_path),
    )


MAX_INSTRUCTIONS = 20_000  # characters of team instructions a system prompt takes


def _instructions(layers: Layers, sources: dict[str, str]) -> str:
    """The `instructions` setting: its text, or the file `@PATH` names (read now, so a missing one
    is a configuration error at start; the file is named as the setting's source)."""
    value: str = layers.get("instructions") or ""
    if value.startswith("@"):
        path = Path(value[1:].strip()).expanduser()
        sources["instructions"] = f"{path} (from {layers.source('instructions')})"
        try:
            value = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise ConfigError(f"instructions file {path}: {reason} (from {layers.source('instructions')})") from None
    value = value.strip()
    if len(value) > MAX_INSTRUCTIONS:
        raise ConfigError(f"instructions are {len(value):,} characters; at most {MAX_INSTRUCTIONS:,} "
                          f"(from {layers.source('instructions')})")
    return value


def _with_dotenv_keys(environ: Mapping[str, str] | None, cwd: Path | None) -> dict[str, str]:
    """The environment, with the API keys of a .env file under it. A .env file supplies API keys
    only: one in an untrusted checkout must not be able to redirect a real key to another
    endpoint or swap the config file."""
    env = {k: v for k, v in read_env_file(_dotenv_path(cwd)).items() if k.endswith("_API_KEY")}
    env.update(environment(environ))
    return env


def load_secrets(environ: Mapping[str, str] | None = None, *, cwd: Path | None = None) -> tuple[str, ...]:
    """The secrets the settings know (every API key in the environment and the .env file, the
    server and agent tokens) without resolving a provider, for the commands that need no model."""
    env = _with_dotenv_keys(environ, cwd)
    return _secrets(env, Layers(env))


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
    return _store_settings(Layers(environment(environ)))


def _store_settings(layers: Layers) -> StoreSettings:
    url = layers.get("database_url") or None
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"database_url ({layers.source('database_url')}) must be a postgresql:// URL, "
                          f"got '{masked_url(url)[:60]}'")
    name = layers.get("agent_name") or _login_name()
    return StoreSettings(Path(str(layers.raw("home") or _default_home())).expanduser(), url, name)


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no USER variable and no passwd entry (a bare container)
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "agent"


def _mode(key: str, layers: Layers, provider: str, table: Mapping[str, Any]) -> tuple[str, str]:
    """(mode, where it came from) for a setting that picks one of its row's modes: the setting
    itself wins; else the provider table's; else its default. Checked whatever the provider,
    offline too: a typo is reported before it matters."""
    if layers.raw(key) is not None or not table.get(key):
        return layers.get(key), layers.source(key)
    where = _table_source(provider, key, layers)
    return BY_KEY[key].check(table[key], f"providers.{provider}.{key}", where), where


def _table_source(provider: str, key: str, layers: Layers) -> str:
    """Where a provider's own value came from: its [providers.NAME] table, else the preset."""
    if layers.config_path is None or key not in (layers.file_values.get("providers", {}).get(provider) or {}):
        return "the provider preset"
    return layers.place(key, f"providers.{provider}")


def _dotenv_path(cwd: Path | None) -> Path:
    try:
        return (cwd or Path.cwd()) / ".env"
    except OSError:  # the working directory was deleted
        return Path(".env")


def _split_model_prefixes(layers: Layers, tables: Mapping[str, object]) -> None:
    """Turn `model = "groq/x"` into provider groq, model x, when no layer names a provider:
    with a provider named, `openai/gpt-oss-120b` is that provider's own model name."""
    if layers.named_anywhere("provider"):
        return
    for number, model in layers.values_in("model"):
        if not isinstance(model, str) or "/" not in model:
            continue
        prefix, rest = model.split("/", 1)
        if rest and known(prefix, tables):
            layers.set_in(number, "provider", prefix)
            layers.set_in(number, "model", rest)


def _preset_base_url(chosen: Provider, env: Mapping[str, str], layers: Layers) -> tuple[str | None, str]:
    """The provider's own base URL and where it came from."""
    if chosen.name == "openai" and env.get("OPENAI_BASE_URL"):
        return env["OPENAI_BASE_URL"], "OPENAI_BASE_URL"
    return chosen.base_url, _table_source(chosen.name, "base_url", layers)


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


def _otel_endpoint(layers: Layers, env: Mapping[str, str]) -> str:
    """Where traces go: `otel_endpoint` ("off": nowhere); else the standard OTLP variables, when
    they ask for OTLP over HTTP and the `otel` extra is installed (set for every container of a
    cluster, they must not break a triage that does not trace); "" for no tracing."""
    own = str(layers.get("otel_endpoint") or "").strip()
    if own:
        return "" if own.lower() == "off" else own
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ""
    generic = (env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").strip()
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    if not generic or protocol.strip() != "http/protobuf":
        return ""
    return generic if tracing_installed() else ""


def tracing_installed() -> bool:
    """Whether the `otel` extra is installed (looked up, not imported)."""
    import importlib.util

    try:
        return all(importlib.util.find_spec(name) is not None
                   for name in ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"))
    except ModuleNotFoundError:  # a parent package missing
        return False


def _no_credentials(url: str, where: str) -> None:
    """A model's base URL carries no user, password or query: the SDK would send them to every
    path (a key in them would show in errors), and the key belongs in the environment."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(f"{where}: the base URL must be just scheme, host, port and path (like "
                          f"http://host:port/v1), without a user, password or ?query: got "
                          f"'{parts.scheme}://{parts.hostname}…'; the API key goes in the environment")


def _secrets(env: Mapping[str, str], layers: Layers) -> tuple[str, ...]:
    """The values of every API key variable in the environment and the .env file: the keys of
    all providers (and of config tables' api_key_env), in use or not, and the tokens (the
    server's, the agent's). Short placeholder values ("ollama", "EMPTY") are not secrets."""
    tables = layers.file_values.get("providers", {})
    names = {p.key_env for p in PRESETS.values()} | {
        t.get("api_key_env") for t in tables.values() if isinstance(t, Mapping)} | {
        s.env for s in SETTINGS if s.secret}
    found: list[object] = [v for k, v in env.items() if k.endswith("_API_KEY") or k in names]
    found += [layers.file_values.get(s.key) for s in SETTINGS if s.secret]
    return known_secrets(v.strip() if isinstance(v, str) else v for v in found)


def _api_key(chosen: Provider, env: Mapping[str, str], need_key: bool = True) -> str | None:
    key = env.get(chosen.key_env) if chosen.key_env else None
    if key:
        return key
    if chosen.key_required and not need_key:
        return None
    if chosen.key_required:
        raise ConfigError(
            f"provider '{chosen.name}' needs an API key: set {chosen.key_env} "
            "in the environment or in a .env file"
        )
    # Local servers accept anything; the SDK insists on a non-empty string.
    return "not-needed"


def _order_id_pattern(layers: Layers) -> re.Pattern[str]:
    value = layers.raw("order_id_pattern")
    if value is None:
        return ORDER_ID_PATTERN
    try:
        return compile_order_id_pattern(str(value))
    except ValueError as exc:
        raise ConfigError(f"{layers.source('order_id_pattern')}: order_id_pattern {str(value)[:80]!r} is unusable: "
                          f"{exc}") from None


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


def _default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))
