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
from triage_cli.engine.escalation import filing_escalations
from triage_cli.errors import TriageError
from triage_cli.store.tickets import TicketStore
from triage_cli.ui.render import present
from triage_cli.ui.terminal_view import TerminalRenderer
from triage_cli.ui.sanitize import clean
from triage_cli.ui.terminal import make_console

EXIT_WORDS = {"exit", "quit", "/exit", "/quit"}


class Repl:
    def __init__(self, settings: Settings, console: Console, *, order: str | None = None) -> None:
        self.settings = settings
        self.console = console
        self.order = order
        self.conversation = Conversation()
        self.engine = build_engine(settings)
        self.tickets = TicketStore(settings.home)

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

    async def close(self) -> None:
        await self.engine.aclose()

    async def answer(self, text: str) -> None:
        """One turn. Ctrl-C cancels it; a failure is reported and the session goes on."""
        message = compose_question(text, self.order)
        self.conversation.add_user(message)
        events = filing_escalations(self.engine.run(self.conversation), self.tickets, message)
        task = asyncio.create_task(present(events, TerminalRenderer(self.console)))
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            self.console.print(Text("[interrupted]", style="yellow"))
        except TriageError as exc:
            self.console.print(Text.assemble(("error: ", "bold red"), clean(str(exc))))
        finally:
            loop.remove_signal_handler(signal.SIGINT)
        self.console.print()


def run_chat(settings: Settings, *, order: str | None = None) -> int:
    repl = Repl(settings, make_console(), order=order)

    async def session() -> int:
        try:
            return await repl.loop()
        finally:
            await repl.close()

    return asyncio.run(session())
