"""The REPL's slash commands. Each takes the REPL and the text after the command; none of them
calls the model. An unknown command gets a one-line hint."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from triage_cli.errors import TriageError
from triage_cli.ui.hints import user_message
from triage_cli.sanitize import json_text, one_line

if TYPE_CHECKING:
    from triage_cli.ui.repl import Repl

HISTORY_LINES = 15
Handler = Callable[["Repl", str], Awaitable[bool | None]]  # False: leave the REPL


@dataclass(frozen=True)
class Command:
    """One slash command: its names (the first is the one /help shows), its line of help, and
    what it does. Registered once (`_command`), so help, completion and dispatch cannot differ."""

    names: tuple[str, ...]
    summary: str
    run: Handler


_REGISTRY: list[Command] = []


def _command(name: str, summary: str, *aliases: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _REGISTRY.append(Command((name, *aliases), summary, handler))
        return handler

    return register


KEYS = (
    "Enter sends · Alt+Enter or Esc Enter: new line · Up: history · Right: accept suggestion · "
    "Tab: complete · Ctrl-C: cancel the answer or clear the line · Ctrl-D: leave"
)


async def run_command(repl: Repl, line: str) -> bool:
    """Run a slash command; False when the REPL should end."""
    name, _, argument = line.strip().partition(" ")
    name, argument = name.lower(), argument.strip()
    command = _BY_NAME.get(name)
    if command is None:
        close = [c for c in COMMANDS if c.startswith(name[:3])] or ["/help"]
        repl.say(f"unknown command {name}: try {' or '.join(close[:2])}", "yellow")
        return True
    try:
        if await command.run(repl, argument) is False:
            return False
    except TriageError as exc:
        repl.say(f"error: {user_message(exc)}", "bold red")
    except Exception as exc:  # noqa: BLE001 - a bug in a command must not end the session
        repl.say(f"error: {name} failed: {type(exc).__name__}: {exc} (a bug in triage; please report it)", "bold red")
    return True


@_command("/help", "list the commands and keys")
async def _help(repl: Repl, _: str) -> None:
    labels = [(", ".join(command.names), command.summary) for command in _REGISTRY]
    width = max(len(label) for label, _ in labels)
    lines = [f"{label:<{width}}  {summary}" for label, summary in labels]
    repl.say("\n".join(lines), "")
    repl.say(KEYS, "dim")


@_command("/order", "/order ID sets the order in context; /order alone shows it, /order none clears it")
async def _order(repl: Repl, argument: str) -> None:
    session = repl.session
    if not argument:
        repl.say(f"order in context: {session.order or 'none'}", "")
    elif argument.lower() in ("none", "clear", "-"):
        session.set_order(None)
        repl.say("no order in context", "")
    else:
        repl.say(f"order in context: {session.set_order(argument)}", "")


@_command("/new", "start a new conversation (drops the context and the order)")
async def _new(repl: Repl, _: str) -> None:
    repl.session.new()
    repl.last_reply = ""  # /copy copies this conversation's answers only
    repl.say("new conversation", "")


@_command("/model", "/model NAME switches model; alone, shows the current one")
async def _model(repl: Repl, argument: str) -> None:
    if not argument:
        repl.say(f"model: {repl.settings.describe()}", "")
        return
    if len(argument.split()) != 1 or len(argument) > 200:
        raise TriageError("a model name is one word, e.g. /model gpt-4.1-mini")
    if repl.settings.offline and repl.session.where()[0] == "data":  # a server's session says the model is its
        raise TriageError("the offline engine has no model: pick a provider first, e.g. /provider openai")
    await repl.switch({"provider": repl.settings.provider, "model": argument, "base_url": repl.settings.base_url})


PROVIDER_USAGE = "/provider NAME [--base-url URL] [--model M]"
_PROVIDER_FLAGS = {"--base-url": "base_url", "--model": "model", "-m": "model"}


@_command("/provider", "/provider NAME [--base-url URL] [--model M] switches provider (custom and vllm need "
                       "--base-url); alone, shows it")
async def _provider(repl: Repl, argument: str) -> None:
    if not argument:
        settings = repl.settings
        structured, tool_rounds = repl.session.modes()  # the modes the engine settled on, else the settings'
        modes = "" if settings.offline else f" · structured output: {structured} · tool rounds: {tool_rounds}"
        repl.say(f"provider: {settings.describe()}{modes}", "")
        return
    await repl.switch(parse_provider(argument))


def parse_provider(argument: str) -> dict[str, str]:
    """`custom --base-url http://localhost:8000/v1 --model llama` -> the switch's flags."""
    import shlex

    try:
        words = shlex.split(argument)
    except ValueError as exc:
        raise TriageError(f"{exc}: use {PROVIDER_USAGE}") from None
    flags: dict[str, str] = {}
    names: list[str] = []
    while words:
        word = words.pop(0)
        flag, equals, value = word.partition("=")
        if flag in _PROVIDER_FLAGS:
            if not equals:
                if not words or words[0].startswith("-"):
                    raise TriageError(f"{flag} needs a value: use {PROVIDER_USAGE}")
                value = words.pop(0)
            flags[_PROVIDER_FLAGS[flag]] = value
        elif word.startswith("-"):
            raise TriageError(f"unknown option {one_line(word)[:40]}: use {PROVIDER_USAGE}")
        else:
            names.append(word)
    if len(names) != 1:
        raise TriageError(f"name one provider: use {PROVIDER_USAGE}")
    return {"provider": names[0].lower(), **flags}


@_command("/tickets", "list the open escalation tickets")
async def _tickets(repl: Repl, _: str) -> None:
    from triage_cli.ui.tickets_view import print_tickets

    print_tickets(await repl.session.open_tickets(20), status="open", as_json=False)


@_command("/history", "the stored conversations, most recent first (this one marked *)")
async def _history(repl: Repl, argument: str) -> None:
    from triage_cli.ui.history_view import conversation_line

    conversations = await repl.session.stored_conversations(HISTORY_LINES)
    if not conversations:
        repl.say("no stored conversations yet", "dim")
    for stored in conversations:
        mark = "*" if stored.id == repl.session.conversation_id else " "
        repl.say(f"{mark}{conversation_line(stored)}", "")
    if len(conversations) == HISTORY_LINES:
        repl.say(f"(the latest {HISTORY_LINES}; all of them: triage history --limit 1000)", "dim")


@_command("/search", "/search TEXT finds the stored questions, replies and ticket notes that say it")
async def _search(repl: Repl, argument: str) -> None:
    from triage_cli.ui.search_view import print_hits

    if not argument:
        raise TriageError("say what to find, e.g. /search refund A1002")
    print_hits(await repl.session.search(argument, HISTORY_LINES), argument, as_json=False,
               hint="/resume ID: continue that conversation")


@_command("/resume", "/resume ID continues a stored conversation; alone, the latest other one")
async def _resume(repl: Repl, argument: str) -> None:
    which = argument or None
    if which is None:  # the latest conversation other than this one
        others = [c for c in await repl.session.stored_conversations(2) if c.id != repl.session.conversation_id]
        if not others:
            raise TriageError("no other stored conversation to resume (see /history)")
        which = str(others[0].id)
    repl.recap(await repl.session.resume(which))


@_command("/retry", "ask the last question again (the earlier answer stays in the conversation)")
async def _retry(repl: Repl, _: str) -> None:
    if not repl.session.turns:
        raise TriageError("nothing to retry yet: ask a question first")
    question = repl.session.turns[-1][0]
    repl.say(f"asking again: {one_line(question)[:200]}", "dim")
    await repl.answer(question)


@_command("/edit", "write the next message in your editor ($VISUAL or $EDITOR), then send it")
async def _edit(repl: Repl, _: str) -> None:
    from triage_cli.ui.editor import edited

    text = await asyncio.to_thread(edited)
    if not text:
        repl.say("nothing written: nothing sent", "dim")
        return
    repl.say(f"› {text}", "")
    await repl.answer(text)


@_command("/copy", "copy the last reply to the clipboard (OSC 52: works over ssh; see the note it prints)")
async def _copy(repl: Repl, _: str) -> None:
    from triage_cli.ui.clipboard import copied, osc52, refusal

    reply = repl.last_reply
    if not reply:
        raise TriageError("no reply to copy yet")
    problem = refusal(reply)
    if problem is not None:
        raise TriageError(problem)
    repl.write_raw(osc52(reply))
    repl.say(copied(reply), "dim")


@_command("/usage", "the last answer's usage and the session's totals")
async def _usage(repl: Repl, _: str) -> None:
    from triage_cli.ui.render import usage_line

    session = repl.session
    last = session.last_usage
    repl.say(f"last answer: {usage_line(last) if last else 'none yet'}", "")
    calls, prompt, completion = session.totals.model_calls, session.totals.prompt_tokens, session.totals.completion_tokens
    questions = len(session.turns)
    repl.say(f"this session: {calls} model call{'' if calls == 1 else 's'} · {prompt:,} in / {completion:,} out tokens · "
             f"{questions} question{'' if questions == 1 else 's'}", "")


@_command("/reasoning", "/reasoning on|off shows the model's reasoning text, or just a count")
async def _reasoning(repl: Repl, argument: str) -> None:
    if argument.lower() not in ("on", "off", ""):
        raise TriageError("use /reasoning on or /reasoning off")
    if argument:
        repl.show_reasoning = argument.lower() == "on"
    repl.say(f"reasoning: {'shown' if repl.show_reasoning else 'a token count only'}", "")


@_command("/json", "the last triage record as JSON")
async def _json(repl: Repl, _: str) -> None:
    last = repl.session.last_record
    if last is None:
        repl.say("no triage record yet", "dim")
        return
    record = {k: v for k, v in last.to_dict().items() if k != "type"}
    repl.say(json_text(record, indent=2), "", wrap=False)  # unwrapped: copied, it is JSON


@_command("/tools", "the tools the answers can use, their MCP servers and whether they run without asking")
async def _tools(repl: Repl, _: str) -> None:
    from triage_cli.ui.tools_view import catalog_lines

    repl.say("\n".join(catalog_lines(await repl.session.tool_catalog())), "")


@_command("/exit", "leave (also: exit, quit, Ctrl-D)", "/quit")
async def _exit(repl: Repl, _: str) -> bool:
    return False


# What completion and the unknown-command hint offer: every name, in the order /help lists them.
COMMANDS: dict[str, str] = {name: command.summary for command in _REGISTRY for name in command.names}
_BY_NAME = {name: command for command in _REGISTRY for name in command.names}
