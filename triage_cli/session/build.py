"""Building the engine a session uses from its settings: the model agent or the offline rules,
with the tools over the order source (SQLite or the shop's API) and those of the MCP servers. The
engine gets plain values (the endpoint, max_rounds, the order id pattern), never the settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from triage_cli.config import Settings
from triage_cli.settings_table import APP_NAME
from triage_cli.engine.base import Engine
from triage_cli.errors import ConfigError, StoreError
from triage_cli.store.orders import OrderSource, OrderStore
from triage_cli.tools.orders import order_registry
from triage_cli.tools.registry import ToolRegistry

if TYPE_CHECKING:
    from triage_cli.engine.llm import OpenAIChatModel
    from triage_cli.tools.mcp_client import McpTools
    from triage_cli.tools.mcp_config import McpServer


def open_order_store(settings: Settings) -> OrderSource:
    if settings.orders_api is not None:
        from triage_cli.store.order_api import OrderApi

        return OrderApi(settings.orders_api)
    if settings.orders_db is not None:
        where = settings.sources.get("orders_db", "orders_db")  # TRIAGE_ORDERS_DB, the file and line
        if not settings.orders_db.is_file():
            raise ConfigError(f"order database not found: {settings.orders_db} (from {where})")
        try:
            return OrderStore.open(settings.orders_db)
        except StoreError as exc:  # not SQLite, no orders table: the setting is wrong
            raise ConfigError(f"{exc} (from {where})") from None
    return OrderStore.demo(settings.home)


def build_tools(settings: Settings) -> ToolRegistry:
    return order_registry(open_order_store(settings), timeout=settings.tool_timeout,
                          order_id_pattern=settings.order_id_pattern)


def mcp_servers(settings: Settings) -> list[McpServer]:
    """The [mcp_servers.NAME] tables, then the servers of the mcp_config file (a table wins over
    a server of the same name there). Reads the file: a missing or broken one is a ConfigError."""
    servers = list(settings.mcp_servers)
    if settings.mcp_config is not None:
        from triage_cli.tools.mcp_config import servers_from_json

        named = {server.name for server in servers}
        try:
            servers += [s for s in servers_from_json(settings.mcp_config) if s.name not in named]
        except ConfigError as exc:
            raise ConfigError(f"{exc} (from {settings.sources.get('mcp_config', 'mcp_config')})") from None
    return servers


def mcp_tools(settings: Settings, servers: list[McpServer] | None = None) -> McpTools | None:
    """The configured MCP servers (`servers`, when the session has read them already), to start
    on the running loop; None when there are none, and then the mcp package is never imported."""
    servers = mcp_servers(settings) if servers is None else servers
    if not any(server.enabled for server in servers):
        return None
    from triage_cli.tools.mcp_client import McpTools

    return McpTools(servers, home=settings.home, connect_timeout=settings.mcp_connect_timeout)


def chat_model(settings: Settings) -> OpenAIChatModel:
    """The client of the settings' OpenAI-compatible endpoint."""
    from triage_cli.engine.llm import Endpoint, OpenAIChatModel

    return OpenAIChatModel(Endpoint(
        provider=settings.provider, base_url=settings.base_url or "", api_key=settings.api_key or "",
        model=settings.model or "", timeout=settings.timeout, key_env=settings.key_env, retries=settings.retries,
        temperature=settings.temperature, max_tokens=settings.max_tokens,
    ))


def pattern_cache() -> Path:
    """Where the rules' compiled patterns are kept: the user's cache directory (XDG_CACHE_HOME,
    ~/.cache/triage), one for every data directory, as the table is the same for all of them."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME, appauthor=False))


def build_engine(settings: Settings, tools: ToolRegistry | None = None) -> Engine:
    from triage_cli.engine import intents

    intents.keep_compiled_patterns_in(pattern_cache())  # the rules load in 0.02 s, not 0.5
    tools = tools or build_tools(settings)
    if settings.offline:
        from triage_cli.engine.offline import OfflineEngine

        return OfflineEngine(tools, order_id_pattern=settings.order_id_pattern)
    from triage_cli.engine.agent import Agent
    from triage_cli.session.endpoint import learned_modes

    agent = Agent(
        chat_model(settings), tools,
        max_rounds=settings.max_rounds, structured_output=settings.structured_output,
        tool_rounds=settings.tool_rounds, order_id_pattern=settings.order_id_pattern,
        policy_guard=settings.policy_guard, instructions=settings.instructions, learned=learned_modes(settings),
    )
    if settings.fallback != "offline":
        return agent
    from triage_cli.engine.fallback import FallbackEngine
    from triage_cli.engine.offline import OfflineEngine

    return FallbackEngine(agent, OfflineEngine(tools, order_id_pattern=settings.order_id_pattern))
