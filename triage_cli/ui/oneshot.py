"""`triage ask`: one question, one answer, rendered for a terminal, as plain text for a pipe, or
as JSON (`--json`, `--events`) for scripts."""

from __future__ import annotations

import asyncio
import contextlib
import sys

from triage_cli.config import Settings
from triage_cli.engine.events import EventStream
from triage_cli.errors import UsageError
from triage_cli.ui.hangup import Hangup
from triage_cli.ui.render import PlainRenderer, Renderer, present
from triage_cli.ui.render_stats import RenderStats
from triage_cli.ui.session_source import Server, open_session


def run_ask(settings: Settings, question: str, *, order: str | None = None, output: str = "auto",
            resume: str | None = None, server: Server | None = None) -> int:
    """Answer `question` and return the exit code (0 answered, 1 the model or API failed). The
    turn is stored as a new conversation, or added to the stored one `resume` names; with
    `server`, a team's `triage serve` answers and stores it."""
    if not question.strip() and not (order or "").strip():
        raise UsageError("no question: pass it as an argument, pipe it on stdin, or use --order ID")

    async def answer() -> int:
        async with await open_session(settings, server, source="ask", order=order, resume=resume) as session:
            events = session.ask(question)  # a message too long is an error before any output
            await session.ready()  # so is a bad order database
            stats = RenderStats.from_environment()
            try:
                return await _shown(events, _renderer(session.settings, output, stats))
            finally:
                if stats is not None:
                    stats.write()

    return asyncio.run(answer())


async def _shown(events: EventStream, renderer: Renderer) -> int:
    """Render the turn; a hang-up (SIGHUP, SIGTERM, a vanished terminal) ends it, stored as
    interrupted, with the hang-up's exit code."""
    task = asyncio.current_task()
    assert task is not None
    with Hangup(task.cancel) as hangup:
        try:
            return (await present(events, renderer)).exit_code
        except (asyncio.CancelledError, OSError) as exc:
            if not hangup.ended(exc):
                raise
            with contextlib.suppress(OSError, ValueError):  # after SIGHUP there may be no terminal
                sys.stderr.write(f"error: {hangup.message}\n")
                sys.stderr.flush()
            return hangup.exit_code


def _renderer(settings: Settings, output: str, stats: RenderStats | None) -> Renderer:
    """The front end for `output`: json, events, plain, or auto (Markdown on a terminal)."""
    if output == "json":
        from triage_cli.ui.machine_output import JsonReport

        return JsonReport(settings.provider, settings.model)
    if output == "events":
        from triage_cli.ui.machine_output import EventLines

        return EventLines()
    from triage_cli.ui.terminal import is_dumb_terminal

    if output == "auto" and sys.stdout.isatty() and not is_dumb_terminal():
        from triage_cli.ui.terminal import make_console
        from triage_cli.ui.terminal_view import TerminalRenderer  # rich's Markdown and Live: a terminal's only
        from triage_cli.ui.warm_up import warm_up_rendering_in_background

        if not settings.offline:
            warm_up_rendering_in_background()  # while the model thinks
        return TerminalRenderer(make_console(), stats=stats, waiting_hint=not settings.offline)
    return PlainRenderer(stats=stats)
