"""`triage chat`: a prompt-toolkit REPL that keeps one conversation across turns.

Only prompt-toolkit is needed to draw the prompt. Everything else the first answer needs (rich
and its Markdown renderer, the engine and its order store, the model client) is loaded in a
thread while the user types, and the first answer waits for it only if it is not ready yet.
"""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.formatted_text import HTML, FormattedText

from triage_cli.config import Settings
from triage_cli.engine.conversation import Conversation, compose_question
from triage_cli.errors import TriageError

if TYPE_CHECKING:
    from rich.console import Console

    from triage_cli.engine.build import Engine

EXIT_WORDS = {"exit", "quit", "/exit", "/quit"}
PREPARE_DELAY_SECONDS = 0.05  # after the prompt is drawn


class Repl:
    def __init__(self, settings: Settings, *, order: str | None = None) -> None:
        if settings.orders_db is not None:
            # Checked now, not when the engine is built behind the prompt.
            from triage_cli.engine.build import open_order_store

            open_order_store(settings)
        self.settings = settings
        self.order = order
        self.conversation = Conversation()
        self.engine: Engine | None = None
        self.console: Console | None = None
        self._preparing: asyncio.Future[None] | None = None

    def welcome(self) -> None:
        print_formatted_text(FormattedText([
            ("bold", "triage chat"), ("ansibrightblack", "  ·  "), ("", _clean(self.settings.describe())),
            ("ansibrightblack", "  ·  data: "), ("", _clean(str(self.settings.home))),
        ]))
        print_formatted_text(FormattedText([
            ("ansibrightblack", "Type a customer's message. Leave with exit, quit or Ctrl-D."),
        ]))

    def _prepare_now(self) -> None:
        """Load the renderer, build the engine and its model client (blocking; run in a thread)."""
        from triage_cli.engine.build import build_engine
        from triage_cli.ui.terminal import make_console
        from triage_cli.ui.warm_up import warm_up_rendering

        self.console = self.console or make_console()
        warm_up_rendering()
        self.engine = self.engine or build_engine(self.settings)
        try:
            self.engine.warm_up()
        except Exception:  # noqa: BLE001 - a real failure shows on the first answer
            pass

    def _prepare(self) -> asyncio.Future[None]:
        if self._preparing is None:
            self._preparing = asyncio.ensure_future(asyncio.to_thread(self._prepare_now))
        return self._preparing

    async def loop(self) -> int:
        session: PromptSession[str] = PromptSession()
        self.welcome()
        asyncio.get_running_loop().call_later(PREPARE_DELAY_SECONDS, self._prepare)
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
        if self._preparing is not None:
            await asyncio.gather(self._preparing, return_exceptions=True)
        if self.engine is not None:
            await self.engine.aclose()

    async def answer(self, text: str) -> None:
        """One turn. Ctrl-C cancels it (even while the engine is still loading); a failure is
        reported and the session goes on."""
        task = asyncio.create_task(self._turn(text))
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            self._say("[interrupted]", "yellow")
        except TriageError as exc:
            self._say(f"error: {_clean(str(exc))}", "bold red")
        finally:
            loop.remove_signal_handler(signal.SIGINT)
        self._say("", "")

    async def _turn(self, text: str) -> None:
        try:
            await asyncio.shield(self._prepare())  # a cancelled turn leaves the loading going on
        except TriageError:
            self._preparing = None  # try again on the next question
            raise
        assert self.engine is not None and self.console is not None
        from triage_cli.engine.escalation import filing_escalations
        from triage_cli.store.tickets import TicketStore
        from triage_cli.ui.render import present
        from triage_cli.ui.terminal_view import TerminalRenderer

        message = compose_question(text, self.order)
        self.conversation.add_user(message)
        events = filing_escalations(self.engine.run(self.conversation), TicketStore(self.settings.home), message)
        await present(events, TerminalRenderer(self.console))

    def _say(self, text: str, style: str) -> None:
        if self.console is None:
            print_formatted_text(FormattedText([(_PROMPT_STYLES.get(style, ""), text)]))
        else:
            from rich.text import Text

            self.console.print(Text(text, style=style))


_PROMPT_STYLES = {"yellow": "ansiyellow", "bold red": "ansired bold"}


def _clean(text: str) -> str:
    from triage_cli.ui.sanitize import clean

    return clean(text)


def run_chat(settings: Settings, *, order: str | None = None) -> int:
    repl = Repl(settings, order=order)

    async def session() -> int:
        try:
            return await repl.loop()
        finally:
            await repl.close()

    return asyncio.run(session())
