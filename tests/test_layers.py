"""Layers point one way: front ends (cli, ui, server, mcp_server) -> session -> engine -> tools ->
store, with plain modules every layer may use. This is an allow-list: every package and top-level
module of triage_cli is named here with what it may import, and a module nobody named fails the
test (so a new one must say where it sits). Imports are read with `ast` (at the top, inside
functions, under TYPE_CHECKING)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "triage_cli"

# Modules outside the layers: no triage_cli import but each other's.
PLAIN = {"triage_cli", "errors", "order_ids", "nested", "closing", "transcript", "providers", "envfile", "sanitize",
         "redaction", "limits", "private_dirs", "settings_table", "record_types", "ages"}
# unit -> the units it may import (besides PLAIN and itself)
ALLOWED: dict[str, set[str]] = {
    **{name: set() for name in PLAIN},
    "store": set(),
    "tools": {"store"},
    "engine": {"tools"},
    # The settings read their [orders_api] and MCP tables with those parts' own parsers.
    "config": {"store", "tools"},
    "config_server": {"config"},
    "config_report": {"config", "config_server"},
    "session": {"engine", "tools", "store", "config"},
    # The terminal as a server's client: the engine's events and the plain record types only.
    "client": {"engine", "config"},
    "eval": {"session", "engine", "config"},
    # The server renders a session's events as HTTP: no terminal views (server -> ui is forbidden).
    "server": {"session", "engine", "store", "config", "config_server"},
    "mcp_server": {"session", "store", "tools", "config"},
    # The terminal views read the records through session/records.py (this machine's) or
    # client/ (a team server's): ui -> store and ui -> server are forbidden.
    "ui": {"session", "client", "engine", "eval", "tools", "config", "config_server"},
    "cli_parts": {"config"},
    "cli_common": {"config", "config_server", "store", "ui", "session", "client"},
    "cli_stored": {"cli_common", "cli_parts", "store", "ui"},
    "cli_agents": {"cli_common", "cli_parts", "config", "ui"},
    "cli": {"cli_common", "cli_parts", "cli_stored", "cli_agents", "config", "config_server", "config_report",
            "mcp_server", "server", "ui"},
    "__main__": {"cli"},
}

# Inside an allowed layer, what is not its public surface: the front ends use a session, never
# how it builds or keeps things, nor the engines themselves.
PRIVATE = {
    "ui": ("session.build", "session.journal", "session.escalation", "session.session", "engine.agent",
           "engine.llm", "engine.offline", "client.stored"),
    "server": ("session.build", "session.journal", "session.escalation", "session.session", "engine.agent",
               "engine.llm", "engine.offline"),
    "client": ("engine.agent", "engine.llm", "engine.offline", "store.orders", "store.demo_orders"),
    "mcp_server": ("session.session", "session.journal", "session.escalation"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit(name: str) -> str:
    """The package or top-level module `name` belongs to: triage_cli.engine.agent -> engine."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports(path: Path) -> set[str]:
    """Every module `path` imports, `from x import y` counted as both x and x.y."""
    found: set[str] = set()
    package = module_name(path).rpartition(".")[0] if path.name != "__init__.py" else module_name(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package up
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "triage_cli" or name.startswith("triage_cli.")}


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_package_and_top_level_module_is_placed():
    units = {unit(module_name(path)) for path in MODULES}
    assert units - set(ALLOWED) == set(), "name these in ALLOWED"
    assert set(ALLOWED) - units == set(), "ALLOWED names modules that no longer exist"
    assert "triage_cli.engine.events" in imports(PACKAGE / "engine" / "agent.py")  # the reader sees imports


def _top_level_names(name: str) -> set[str]:
    """triage_cli.engine.events.Event -> the unit `engine`; triage_cli.__version__ -> triage_cli."""
    target = unit(name)
    return {target} if (PACKAGE / target).is_dir() or (PACKAGE / f"{target}.py").exists() else {"triage_cli"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_against_the_direction_of_the_layers(path: Path):
    name = module_name(path)
    own = unit(name)
    allowed = ALLOWED[own] | PLAIN | {own}
    wrong = sorted(imported for imported in imports(path) if not _top_level_names(imported) <= allowed)
    private = sorted(imported for imported in imports(path)
                     for hidden in PRIVATE.get(own, ()) if imported == f"triage_cli.{hidden}"
                     or imported.startswith(f"triage_cli.{hidden}."))
    assert not wrong, f"{name} ({own}) may not import " + ", ".join(wrong)
    assert not private, f"{name} ({own}) reaches past a layer's public surface: " + ", ".join(private)


def test_the_allow_list_forbids_what_the_design_forbids():
    assert "ui" not in ALLOWED["server"] and "ui" not in ALLOWED["engine"] and "session" not in ALLOWED["client"]
    assert not ALLOWED["ui"] & {"store", "server"} and "store" not in ALLOWED["client"]
    for layer in ("store", "tools", "engine"):
        assert not ALLOWED[layer] & {"session", "ui", "server", "cli", "config", "client"}, layer


def test_the_two_backends_do_not_import_each_other():
    postgres = imports(PACKAGE / "store" / "postgres.py")
    assert not any(name.startswith("triage_cli.store.database") for name in postgres)
    assert "triage_cli.store.migrations.MIGRATIONS" in postgres and "triage_cli.store.backend.Database" in postgres
