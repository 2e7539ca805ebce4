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


def _memory(settings: Settings) -> tuple[EndpointMemory, str, str]:
    """The memory in the settings' data directory, and their endpoint: base URL and model."""
    return EndpointMemory(settings.home), settings.base_url or "", settings.model or ""


def remembered(settings: Settings) -> Learned | None:
    """What the settings' endpoint refused in an earlier run (None: nothing, or offline)."""
    if settings.offline:
        return None
    memory, base_url, model = _memory(settings)
    return memory.recall(base_url, model)


def learned_modes(settings: Settings) -> Modes:
    """What the settings' endpoint refused before, for the engine to start from (it applies it
    where the settings leave the mode to `auto`)."""
    learned = remembered(settings)
    return (None, None) if learned is None else (learned.structured_output, learned.tool_rounds)


def engine_learned(engine: Any) -> Modes:
    """What the engine found its endpoint refuses, worth remembering (nothing for the offline one)."""
    learned: Modes = getattr(engine, "learned", (None, None))
    return learned


async def remember(settings: Settings, learned: Modes) -> None:
    """After a turn that learned something new about the endpoint: keep it for the next run."""
    (memory, base_url, model), (structured, rounds) = _memory(settings), learned
    await asyncio.to_thread(memory.learn, base_url, model, structured_output=structured, tool_rounds=rounds)


def forget(settings: Settings) -> bool:
    """--reprobe: probe the endpoint afresh; whether anything was remembered."""
    memory, base_url, model = _memory(settings)
    return not settings.offline and memory.forget(base_url, model)


async def served_models(settings: Settings) -> list[dict[str, Any]]:
    """What the settings' endpoint lists at /models."""
    from triage_cli.session.build import chat_model

    model = chat_model(settings)
    try:
        return await model.list_models()
    finally:
        await model.aclose()
