"""Driving the model Agent in-process against a scripted server: the real openai SDK over
loopback, no CLI subprocess. For tests that count calls and read events."""

from __future__ import annotations

import asyncio
from pathlib import Path

from triage_cli.engine.agent import Agent
from triage_cli.engine.conversation import Conversation
from triage_cli.engine.events import Done, Error, Event, Notice, TextDelta
from triage_cli.engine.llm import Endpoint, OpenAIChatModel
from triage_cli.store.orders import OrderStore
from triage_cli.tools.orders import order_registry


def make_agent(base_url: str, home: Path, **settings) -> Agent:
    endpoint = Endpoint(provider="custom", base_url=base_url, api_key="sk-test-not-a-real-key",
                        model="scripted-model", timeout=settings.pop("timeout", 10.0),
                        retries=settings.pop("retries", 2))
    return Agent(OpenAIChatModel(endpoint), order_registry(OrderStore.demo(home)), **settings)


def ask_agent(agent: Agent, *questions: str) -> tuple[list[list[Event]], Conversation]:
    """Each question in turn in one conversation (one event loop: one session); the events of
    each answer, and the conversation."""
    conversation = Conversation()

    async def go() -> list[list[Event]]:
        answers = []
        try:
            for question in questions:
                conversation.add_user(question)
                answers.append([event async for event in agent.run(conversation)])
        finally:
            await agent.aclose()
        return answers

    return asyncio.run(go()), conversation


def reply(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def notices(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, Notice)]


def outcome(events: list[Event]) -> Done | Error:
    return next(e for e in events if isinstance(e, (Done, Error)))
