"""`triage chat`: a prompt-toolkit REPL that keeps one conversation across turns.

Only prompt-toolkit is needed to draw the prompt. Everything else the first answer needs (rich
and its Markdown renderer, the engine and its order store, the model client) is loaded in a
thread while the user types, and the first answer waits for it only if it is not ready yet.
Slash commands are in ui/slash_commands.py; the input line in ui/prompt_input.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prompt_toolkit import print_formatted_text
from prompt_toolkit.formatted_text import HTML, FormattedText

from triage_cli.config import Settings
from triage_cli.errors import TriageError
from triage_cli.ui.hangup import CHAT_STARTING, Hangup, Interrupts
from triage_cli.ui.hints import user_message
from triage_cli.ui.prompt_input import ChatCompleter, make_session
from triage_cli.sanitize import clean
from triage_cli.ui.session_source import AnySession, Server, open_session
from triage_cli.ui.slash_commands import COMMANDS, run_command
from triage_cli.engine.events import EventStream

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from rich.console import Console

    from triage_cli.record_types import StoredConversation

EXIT_WORDS = {"exit", "quit"}
PREPARE_DELAY_SECONDS = 0.05  # after the prompt is drawn
LEAVE_HINT = "(Ctrl-D or /exit leaves)"
_PROMPT_STYLES = {"yellow": "ansiyellow", "bold red": "ansired bold", "dim": "ansibrightblack"}


class Repl:
    """The screen side of `triage chat`: the prompt, the console, what was shown. The
    conversation itself (engine, context, order, usage, history) is `self.session`'s."""

    def __init__(self, session: AnySession) -> None:
        self.session = session
        self.console: Console | None = None
        self.show_reasoning = False
        self._order_ids: list[str] = []
        self._advice_shown: set[tuple[str, str]] = set()  # notices with a hint already shown
        self._preparing: asyncio.Future[Any] | None = None
        self._turn_task: asyncio.Task[None] | None = None
        self._main_task: asyncio.Task[Any] | None = None
        self._hangup: Hangup | None = None
        self._renderer: Any = None  # the answer being drawn, held while a tool waits for approval
        self.interrupted = False  # Ctrl-C pressed away from the prompt and from an answer
        self._prompt: PromptSession[str] | None = None  # the prompt, while it reads a line
        self._asking = asyncio.Lock()  # one approval question at a time
        self.last_reply = ""  # the last answer's text, for /copy

    @property
    def settings(self) -> Settings:
        return self.session.settings

    # output ------------------------------------------------------------------------------------

    def say(self, text: str, style: str, *, wrap: bool = True) -> None:
        """One message from the REPL itself (not model text: callers pass their own words).
        `wrap=False`: lines as they are, however long (JSON to copy), the terminal folding them."""
        if self.console is None:
            fragments = [(_PROMPT_STYLES.get(style, ""), clean(text))]
            print_formatted_text(FormattedText(fragments) if not wrap else _wrapped(fragments))
        else:
            from rich.text import Text

            self.console.print(Text(clean(text), style=style), soft_wrap=not wrap)

    def write_raw(self, sequence: str) -> None:
        """A control sequence of triage's own (the clipboard's) straight to the terminal."""
        import sys

        sys.stdout.write(sequence)
        sys.stdout.flush()

    def welcome(self) -> None:
        print_formatted_text(_wrapped([
            ("bold", "triage chat"), ("ansibrightblack", "  ·  "), ("", clean(self.settings.describe())),
            *self._where(),
        ]))
        print_formatted_text(_wrapped([
            ("ansibrightblack", "Type a customer's message and press Enter. /help lists the commands; "
                                "Ctrl-D leaves."),
        ]))

    def _where(self) -> list[tuple[str, str]]:
        """Where the conversation is kept: this machine's data directory, or the team's server."""
        kind, place = self.session.where()
        return [("ansibrightblack", f"  ·  {kind}: "), ("", clean(place))]

    def toolbar(self) -> FormattedText:
        return FormattedText([
            ("", f" {clean(self.settings.describe())} "),
            ("", f"· order {clean(self.session.order_in_context() or '—')} "),
            ("", f"· {self.session.totals.tokens:,} tokens this session "),
        ])

    # the engine --------------------------------------------------------------------------------

    def _prepare_screen(self) -> None:
        """Load the renderer and the order ids for completion (blocking; run in a thread)."""
        from triage_cli.ui.terminal import make_console
        from triage_cli.ui.warm_up import warm_up_rendering

        self.console = self.console or make_console()
        warm_up_rendering()
        if not self._order_ids:
            try:
                self._order_ids = self.session.order_ids()
            except TriageError:
                pass  # completion without order ids; the answer will report the store

    def _prepare(self) -> asyncio.Future[Any]:
        """The screen and the session's engine, loaded in threads while the user types."""
        if self._preparing is None:
            self._preparing = asyncio.gather(asyncio.to_thread(self._prepare_screen), self.session.warm_up())
        return self._preparing

    async def switch(self, flags: Mapping[str, Any]) -> None:
        """Use another provider or model from the next question on; the conversation stays."""
        if self._preparing is not None:
            await asyncio.gather(self._preparing, return_exceptions=True)
        self._preparing = None
        settings = await self.session.switch(flags)
        self._prepare()
        self.say(f"now using {settings.describe()}", "")

    def recap(self, stored: StoredConversation) -> None:
        """What a resumed conversation was about: its questions, their next steps, and where
        the last answer stopped."""
        from triage_cli.ui.history_view import turn_line
        from triage_cli.ui.render import when

        count = len(stored.turns)
        self.last_reply = stored.turns[-1].reply if stored.turns else ""
        self.say(f"resumed conversation {stored.id} · {count} question{'' if count == 1 else 's'} · "
                 f"last active {when(stored.updated_at)}", "bold")
        for turn in stored.turns[-5:]:
            self.say(turn_line(turn), "")
        if count > 5:
            self.say(f"(earlier questions: triage history show {stored.id})", "dim")

    # the loop ----------------------------------------------------------------------------------

    def interrupt(self) -> None:
        """Ctrl-C, whenever the terminal turns it into SIGINT (everywhere but at the prompt, which
        reads it as a key): it cancels the answer in progress; anywhere else (starting, between
        prompts, a command) it is what it is at the prompt: nothing is lost, and the next prompt
        says how to leave."""
        if self._turn_task is not None and not self._turn_task.done():
            self._turn_task.cancel()
        elif self._prompt is not None and self._prompt.app.is_running:
            # Pressed before the prompt took the terminal, handled once it had: a Ctrl-C at it.
            self._prompt.app.key_processor.send_sigint()
        else:
            self.interrupted = True

    def _hang_up(self) -> None:
        """SIGTERM or SIGHUP: cancel the answer in progress (it is stored as interrupted), or the
        prompt, and end the session."""
        if self._turn_task is not None and not self._turn_task.done():
            self._turn_task.cancel()
        elif self._main_task is not None:
            self._main_task.cancel()

    async def loop(self) -> int:
        self._main_task = asyncio.current_task()
        with Hangup(self._hang_up) as hangup:
            self._hangup = hangup
            try:
                return await self._loop(hangup)
            except (asyncio.CancelledError, OSError) as exc:
                if not hangup.ended(exc):
                    raise
                return hangup.exit_code

    async def _loop(self, hangup: Hangup) -> int:
        completer = ChatCompleter(COMMANDS, lambda: self._order_ids, self.settings.order_id_pattern)
        session = make_session(self.settings.home, completer, self.toolbar, self.session.redact)
        self.welcome()
        if self.session.resumed is not None:
            self.recap(self.session.resumed)
        asyncio.get_running_loop().call_later(PREPARE_DELAY_SECONDS, self._prepare)
        hinted = False
        while True:
            if self.interrupted and not hinted:  # Ctrl-C while starting or between prompts
                self.say(LEAVE_HINT, "dim")
                hinted = True
            self.interrupted = False
            self._prompt = session
            try:
                # The prompt reads Ctrl-C as a key; SIGINT stays with self.interrupt throughout.
                line = await session.prompt_async(HTML("<b>›</b> "), handle_sigint=False)
            except KeyboardInterrupt:  # Ctrl-C at the prompt clears the line
                if not session.default_buffer.text.strip() and not hinted:
                    self.say(LEAVE_HINT, "dim")  # once, not at every press
                    hinted = True
                continue
            except EOFError:
                return 0
            finally:
                self._prompt = None
            hinted = False
            text = line.strip()
            if not text:
                continue
            if text.lower() in EXIT_WORDS:
                return 0
            if text.startswith("/"):
                if not await run_command(self, text):
                    return 0
                continue
            await self.answer(text)
            if hangup.signum is not None:
                return hangup.exit_code

    async def close(self) -> None:
        if self._preparing is not None:
            await asyncio.gather(self._preparing, return_exceptions=True)

    async def answer(self, text: str) -> None:
        """One turn. Ctrl-C cancels it (even while the engine is still loading); a failure is
        reported and the session goes on."""
        task = self._turn_task = asyncio.create_task(self._turn(text))
        try:
            await task
        except asyncio.CancelledError:
            if self._hangup is not None and self._hangup.signum is not None:
                return  # the terminal may be gone: write nothing more
            self.say("[interrupted]", "yellow")
        except TriageError as exc:
            self.say(f"error: {user_message(exc)}", "bold red")
        self.say("", "")

    async def _turn(self, text: str) -> None:
        events = self.session.ask(text)  # a message too long is an error before anything is drawn
        try:
            await asyncio.shield(self._prepare())  # a cancelled turn leaves the loading going on
        except TriageError:
            self._preparing = None  # try again on the next question
            raise
        assert self.console is not None
        from triage_cli.ui.render import PlainRenderer, Renderer, present, usage_line
        from triage_cli.ui.terminal import is_dumb_terminal
        from triage_cli.ui.terminal_view import TerminalRenderer

        renderer: Renderer = (PlainRenderer() if is_dumb_terminal()
                              else TerminalRenderer(self.console, show_reasoning=self.show_reasoning,
                                                 waiting_hint=not self.settings.offline))
        self._renderer = renderer
        try:
            result = await present(self._advice_once(events), renderer)
        finally:
            self._renderer = None
        self.last_reply = result.summary.reply
        if result.usage is not None:
            self.say(usage_line(result.usage), "dim")

    async def approve(self, name: str, arguments: str) -> bool:
        """Ask whether a tool that acts may run ("Run crm__refund with {...}? [y/N]"); no unless
        the user says yes."""
        from prompt_toolkit import PromptSession

        from triage_cli.sanitize import one_line

        async with self._asking:
            held = getattr(self._renderer, "held", None)
            with held() if held is not None else contextlib.nullcontext():
                shown = one_line(arguments)
                shown = shown if len(shown) <= 200 else shown[:199] + "…"
                try:
                    reply = await PromptSession[str]().prompt_async(f"Run {one_line(name)} with {shown}? [y/N] ",
                                                                    handle_sigint=False)
                except (KeyboardInterrupt, EOFError):
                    reply = ""
        return reply.strip().lower() in ("y", "yes")

    async def _advice_once(self, events: EventStream) -> EventStream:
        """A notice with a hint is advice about the setup ("answered by the offline rules
        engine… set OPENAI_API_KEY"): said once a session, not after every answer."""
        from triage_cli.engine.events import Notice

        async with contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, Notice) and event.hint:
                    if (event.text, event.hint) in self._advice_shown:
                        continue
                    self._advice_shown.add((event.text, event.hint))
                yield event


def _wrapped(fragments: list[tuple[str, str]]) -> FormattedText:
    """Fragments re-flowed at spaces to the window's width, so the terminal never breaks a word."""
    from prompt_toolkit.utils import get_cwidth

    width = shutil.get_terminal_size().columns
    out: list[tuple[str, str]] = []
    column = 0
    for style, text in fragments:
        for piece in re.split(r"(\n| +)", text):
            if piece == "\n":
                out.append((style, piece))
                column = 0
            elif piece.startswith(" "):
                if column + len(piece) < width:
                    out.append((style, piece))
                    column += len(piece)
                else:  # spaces at the end of a line become its end
                    out.append(("", "\n"))
                    column = 0
            elif piece:
                size = get_cwidth(piece)
                if column and column + size > width:
                    out.append(("", "\n"))
                    column = 0
                out.append((style, piece))
                column += size
    return FormattedText(out)


def run_chat(settings: Settings, flags: Mapping[str, Any] | None = None, *, order: str | None = None,
             resume: str | None = None, server: Server | None = None) -> int:
    starting = CHAT_STARTING

    async def chat() -> int:
        repl: Repl | None = None

        async def approve(name: str, arguments: str) -> bool:
            return repl is not None and await repl.approve(name, arguments)

        def interrupt() -> None:  # one handler for the chat's whole life: SIGINT never raises
            if repl is not None:
                repl.interrupt()
            else:
                starting.note()

        with Interrupts(interrupt):
            # Opened before the prompt: a bad --order, --resume id or order database (or an
            # unreachable server) is an error at start. Ctrl-C meanwhile is kept for the prompt.
            async with await open_session(settings, server, source="chat", flags=flags, resume=resume,
                                          order=clean(order) if order else None, approve=approve) as session:
                repl = Repl(session)
                repl.interrupted = starting.pressed
                try:
                    return await repl.loop()
                finally:
                    await repl.close()

    with starting:
        return asyncio.run(chat())
