"""`triage models`: what the configured endpoint serves (its /models list), the configured model
marked; one id a line when piped, JSON with --json. Every id came from the endpoint: sanitized."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from triage_cli.config import Settings
from triage_cli.errors import UsageError
from triage_cli.redaction import masked_url
from triage_cli.sanitize import json_text, one_line


def run_models(settings: Settings, *, as_json: bool) -> int:
    if settings.offline:
        raise UsageError("the offline rules engine has no models to list: name a provider, "
                         "e.g. triage models --provider groq")
    from triage_cli.session.endpoint import served_models

    models = sorted(asyncio.run(served_models(settings)), key=lambda m: str(m["id"]).lower())
    if as_json:
        report = {"provider": settings.provider, "base_url": masked_url(settings.base_url or ""), "model": settings.model,
                  "models": models}
        sys.stdout.write(json_text(report) + "\n")
    elif not sys.stdout.isatty():
        sys.stdout.write("".join(one_line(str(m["id"])) + "\n" for m in models))
    else:
        _show(settings, models)
    return 0


def _show(settings: Settings, models: list[dict[str, Any]]) -> None:
    from rich.text import Text

    from triage_cli.ui.terminal import make_console

    console = make_console()
    console.print(Text(f"{one_line(settings.provider)} at {one_line(masked_url(settings.base_url or ''))}: "
                       f"{len(models)} model{'' if len(models) == 1 else 's'}", style="bold"))
    for model in models:
        name = one_line(str(model["id"]))
        mark = "*" if name == settings.model else " "
        owner = f"  ({one_line(str(model['owned_by']))})" if model.get("owned_by") else ""
        console.print(Text(f"{mark} {name}") + Text(owner, style="dim"))
    if models and settings.model not in {str(m["id"]) for m in models}:
        console.print(Text(f"the configured model {one_line(settings.model or '')} is not among them", style="yellow"))
    console.print(Text("* the configured model · use one: --model NAME, or model = \"NAME\" in the config",
                       style="dim"))
