"""`triage chat`: a prompt-toolkit REPL that keeps one conversation across turns."""

from __future__ import annotations

import asyncio
import contextlib
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
from triage_cli.ui.warm_up import warm_up_rendering
from triage_cli.ui.sanitize import clean
from triage_cli.ui.terminal import make_console

EXIT_WORDS = {"exit", "quit", "/exit", "/quit"}
WARM_UP_DELAY_SECONDS = 0.05


class Repl:
    def __init__(self, settings: Settings, console: Console, *, order: str | None = None) -> None:
        self.settings = settings
        self.console = console
        self.order = order
        self.conversation = Conversation()
        self.engine = build_engine(settings)
        self.tickets = TicketStore(settings.home)
        self._warming: asyncio.Future[None] | None = None

    def welcome(self) -> None:
        self.console.print(Text.assemble(
            ("triage chat", "bold"), ("  ·  ", "dim"), self.settings.describe(),
            ("  ·  data: ", "dim"), str(self.settings.home),
        ))
        self.console.print(Text("Type a customer's message. Leave with exit, quit or Ctrl-D.", style="dim"))

    def _warm_up(self) -> None:
        """Load the Markdown renderer and the model client in a thread while the user types the
        first question, so neither delays the prompt nor the first answer."""
        async def warm() -> None:
            with contextlib.suppress(Exception):  # a real failure shows on the first answer
                await asyncio.to_thread(warm_up_rendering)
                await asyncio.to_thread(self.engine.warm_up)

        self._warming = asyncio.ensure_future(warm())

    async def loop(self) -> int:
        session: PromptSession[str] = PromptSession()
        self.welcome()
        # Started just after the prompt is drawn, so the prompt never waits for it.
        asyncio.get_running_loop().call_later(WARM_UP_DELAY_SECONDS, self._warm_up)
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
        if self._warming is not None:
            await self._warming  # never build the client twice
        message = compose_question(text, self.order)
        self.conversation.add_user(message)
        from triage_cli.ui.terminal_view import TerminalRenderer  # loaded while the user typed

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
