"""`triage chat`: a prompt-toolkit REPL that keeps one conversation across turns."""

from __future__ import annotations

import asyncio
import signal

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import HTML
from rich.console import Console
from rich.text import Text

from triage_cli.config import Settings
from triage_cli.engine.build import build_engine
from triage_cli.engine.conversation import Conversation, compose_question
from triage_cli.engine.offline import find_order_ids
from triage_cli.ui.render import TerminalRenderer, present
from triage_cli.ui.terminal import make_console

EXIT_WORDS = {"exit", "quit", "/exit", "/quit"}


class Repl:
    def __init__(self, settings: Settings, console: Console, *, order: str | None = None) -> None:
        self.settings = settings
        self.console = console
        self.order = order.strip().upper() if order else None
        self.conversation = Conversation()
        self.engine = build_engine(settings)

    def welcome(self) -> None:
        self.console.print(Text.assemble(
            ("triage chat", "bold"), ("  ·  ", "dim"), self.settings.describe(),
            ("  ·  data: ", "dim"), str(self.settings.home),
        ))
        self.console.print(Text("Type a customer's message. Leave with exit, quit or Ctrl-D.", style="dim"))

    async def loop(self) -> int:
        session: PromptSession[str] = PromptSession()
        self.welcome()
        while True:
            try:
                line = await session.prompt_async(HTML("<b>›</b> "))
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt clears the line
            except EOFError:
                return 0
            text = line.strip()
            if not text:
                continue
            if text.lower() in EXIT_WORDS:
                return 0
            await self.answer(text)

    async def answer(self, text: str) -> None:
        order = self.order if self.order and not find_order_ids(text) else None
        self.conversation.add_user(compose_question(text, order))
        task = asyncio.create_task(present(self.engine.run(self.conversation), TerminalRenderer(self.console)))
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            self.console.print(Text("[interrupted]", style="yellow"))
        finally:
            loop.remove_signal_handler(signal.SIGINT)
        self.console.print()


def run_chat(settings: Settings, *, order: str | None = None) -> int:
    repl = Repl(settings, make_console(), order=order)
    return asyncio.run(repl.loop())
