"""`triage ask`: one question, one answer, rendered for a terminal or as plain text for a pipe."""

from __future__ import annotations

import asyncio
import sys

from triage_cli.config import Settings
from triage_cli.engine.build import build_engine
from triage_cli.engine.conversation import Conversation, compose_question
from triage_cli.errors import UsageError
from triage_cli.ui.render import PlainRenderer, Renderer, TerminalRenderer, present
from triage_cli.ui.terminal import make_console


def run_ask(settings: Settings, question: str, *, order: str | None = None) -> int:
    """Answer `question` and return the exit code (0 answered, 1 the model or API failed)."""
    if not question.strip() and not (order or "").strip():
        raise UsageError("no question: pass it as an argument, pipe it on stdin, or use --order ID")
    conversation = Conversation()
    conversation.add_user(compose_question(question, order))
    engine = build_engine(settings)
    renderer: Renderer = TerminalRenderer(make_console()) if sys.stdout.isatty() else PlainRenderer()

    async def answer() -> int:
        try:
            return (await present(engine.run(conversation), renderer)).exit_code
        finally:
            await engine.aclose()

    return asyncio.run(answer())
