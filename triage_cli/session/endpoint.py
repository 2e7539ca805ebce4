"""What a session knows about its model's endpoint beyond one turn: the models it serves, and
what it refused (structured output, streamed tool calls), remembered in the data directory for a
day (store/endpoint_memory.py) so the next run starts at the step that works. Front ends use
these; the engine only starts where it is told and reports the modes it settled on."""

from __future__ import annotations

import asyncio
from typing import Any

from triage_cli.config import Settings
from triage_cli.store.endpoint_memory import EndpointMemory, Learned

Modes = tuple[str | None, str | None]  # (structured-output step, tool-round mode)


def _memory(settings: Settings) -> EndpointMemory:
    return EndpointMemory(settings.home)


def remembered(settings: Settings) -> Learned | None:
    """What the settings' endpoint refused in an earlier run (None: nothing, or offline)."""
    if settings.offline:
        return None
    return _memory(settings).recall(settings.base_url or "", settings.model or "")


def learned_modes(settings: Settings) -> Modes:
    """The steps the engine starts at, where the settings leave them to `auto`."""
    learned = remembered(settings)
    if learned is None:
        return None, None
    return (learned.structured_output if settings.structured_output == "auto" else None,
            learned.tool_rounds if settings.tool_rounds == "auto" else None)


def engine_modes(engine: Any) -> Modes:
    return getattr(engine, "structured_mode", None), getattr(engine, "tool_round_mode", None)


async def remember(settings: Settings, before: Modes, after: Modes) -> None:
    """After a turn: keep what the endpoint refused during it (a step down from `before`)."""
    if settings.offline or after == before:
        return
    structured, rounds = after
    await asyncio.to_thread(
        _memory(settings).learn, settings.base_url or "", settings.model or "",
        structured_output=structured if settings.structured_output == "auto" and structured != "json_schema" else None,
        tool_rounds=rounds if settings.tool_rounds == "auto" and rounds == "plain" else None)


def forget(settings: Settings) -> bool:
    """--reprobe: probe the endpoint afresh; whether anything was remembered."""
    return not settings.offline and _memory(settings).forget(settings.base_url or "", settings.model or "")


async def served_models(settings: Settings) -> list[dict[str, Any]]:
    """What the settings' endpoint lists at /models."""
    from triage_cli.session.build import chat_model

    model = chat_model(settings)
    try:
        return await model.list_models()
    finally:
        await model.aclose()
