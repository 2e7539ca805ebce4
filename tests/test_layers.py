"""Layers point one way (issue 14): front ends -> session -> engine -> tools -> store. Every
module's imports (at the top, inside functions, under TYPE_CHECKING) are read with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "triage_cli"

# (the layer, the modules it must not import)
RULES = {
    "triage_cli.engine": ("triage_cli.store", "triage_cli.session", "triage_cli.ui", "triage_cli.cli",
                          "triage_cli.config"),
    "triage_cli.store": ("triage_cli.engine", "triage_cli.session", "triage_cli.ui", "triage_cli.cli"),
    "triage_cli.tools": ("triage_cli.engine", "triage_cli.session", "triage_cli.ui", "triage_cli.cli"),
    "triage_cli.session": ("triage_cli.ui", "triage_cli.cli"),
    # The front ends use the session's public surface, never how it builds or keeps things.
    "triage_cli.ui": ("triage_cli.session.build", "triage_cli.session.journal", "triage_cli.session.escalation",
                      "triage_cli.session.session", "triage_cli.engine.build", "triage_cli.engine.journal",
                      "triage_cli.engine.agent", "triage_cli.engine.llm", "triage_cli.engine.offline"),
    # The terminal as a server's client: the server builds the engine and keeps the stores, so the
    # client reads their plain types only and never builds, stores or renders anything itself.
    "triage_cli.client": ("triage_cli.session", "triage_cli.ui", "triage_cli.cli", "triage_cli.server",
                          "triage_cli.tools", "triage_cli.engine.agent", "triage_cli.engine.llm",
                          "triage_cli.engine.offline", "triage_cli.store.orders", "triage_cli.store.demo_orders"),
    # The server is a front end like ui/: it renders a session's events as HTTP, and builds nothing.
    "triage_cli.server": ("triage_cli.session.build", "triage_cli.session.journal", "triage_cli.session.escalation",
                          "triage_cli.session.session", "triage_cli.engine.agent", "triage_cli.engine.llm",
                          "triage_cli.engine.offline", "triage_cli.cli", "triage_cli.ui.repl",
                          "triage_cli.ui.terminal_view"),
    # `triage mcp` serves the order tool and the ticket store: no engine, no conversation.
    "triage_cli.mcp_server": ("triage_cli.ui", "triage_cli.cli", "triage_cli.engine", "triage_cli.session.session",
                              "triage_cli.session.journal", "triage_cli.session.escalation"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


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
    return found


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_layer_exists_and_the_reader_sees_imports():
    names = {module_name(p) for p in MODULES}
    for layer in RULES:
        assert any(within(n, layer) for n in names), layer
    assert "triage_cli.engine.events" in imports(PACKAGE / "engine" / "agent.py")
    assert "triage_cli.session.build.build_engine" in imports(PACKAGE / "session" / "session.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_against_the_direction_of_the_layers(path: Path):
    name = module_name(path)
    wrong = sorted(
        f"{imported} (a {layer} module must not import {forbidden})"
        for layer, banned in RULES.items() if within(name, layer)
        for imported in imports(path)
        for forbidden in banned if within(imported, forbidden)
    )
    assert not wrong, f"{name} imports " + "; ".join(wrong)
