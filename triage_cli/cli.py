"""The command line: parses flags, resolves settings and hands over to a front end.

Heavy modules (rich's Markdown, prompt-toolkit, the openai SDK) are imported inside the commands,
so `--help` and `--version` stay fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional, TypeGuard

import typer

from triage_cli import __version__
from triage_cli.cli_common import ServerOpt
from triage_cli.cli_common import no_model_flags as _no_model_flags
from triage_cli.cli_common import print_error as _print_error
from triage_cli.cli_common import records as _records
from triage_cli.cli_common import reprobe as _reprobe
from triage_cli.cli_common import server as _server
from triage_cli.cli_common import settings_for as _settings
from triage_cli.cli_common import user_errors as _user_errors
from triage_cli.cli_parts import Command as _Command
from triage_cli.cli_parts import Group as _Group
from triage_cli.cli_parts import conversation_ids as _conversation_ids
from triage_cli.cli_parts import read_question, with_optional_values
from triage_cli.cli_agents import agents_app
from triage_cli.cli_stored import history_app, tickets_app
from triage_cli.errors import UsageError

if TYPE_CHECKING:
    from typer import _click  # typer 0.2x's own copy of click: the classes its commands hand over

app = typer.Typer(
    name="triage",
    cls=_Group,
    help=(
        "Triage customer messages about orders: look the order up, explain it in plain "
        "language, and say whether to answer or escalate.\n\n"
        "Works offline out of the box (a rules engine, no model); point it at any "
        "OpenAI-compatible model with --provider/--model or a config file."
    ),
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion: commands, options and ids
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)

OrderOpt = Annotated[
    Optional[str], typer.Option("--order", "-o", metavar="ID", help="Order id to look up, e.g. A1002.", show_default=False)
]
ProviderOpt = Annotated[
    Optional[str],
    typer.Option(
        "--provider", "-p", metavar="NAME", show_default=False,
        help="openai, groq, ollama, openrouter, sambanova, vllm, together, cerebras, custom or offline.",
    ),
]
ModelOpt = Annotated[
    Optional[str],
    typer.Option("--model", "-m", metavar="NAME", show_default=False, help="Model name; PROVIDER/MODEL also picks the provider."),
]
BaseUrlOpt = Annotated[
    Optional[str],
    typer.Option("--base-url", metavar="URL", show_default=False, help="Any OpenAI-compatible endpoint, e.g. http://localhost:8000/v1."),
]
TemperatureOpt = Annotated[
    Optional[float],
    typer.Option("--temperature", metavar="T", min=0, max=2, show_default=False,
                 help="Sampling temperature sent to the model, 0 to 2 (default: the endpoint's)."),
]
ReprobeOpt = Annotated[
    bool, typer.Option("--reprobe", help="Forget what this endpoint refused before (structured output, streamed "
                                          "tool calls) and try each again.")
]
MaxTokensOpt = Annotated[
    Optional[int],
    typer.Option("--max-tokens", metavar="N", min=1, max=1_000_000, show_default=False,
                 help="The most tokens a model call may write (default: the endpoint's)."),
]



def _version(value: bool) -> None:
    if value:
        print(f"triage {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Triage customer messages about orders."""


@app.command(cls=_Command)
def ask(
    question: Annotated[
        Optional[list[str]],
        typer.Argument(metavar="MESSAGE", help="The customer's message. Read from stdin when omitted and stdin is not a terminal.",
                       show_default=False),
    ] = None,
    order: OrderOpt = None,
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    reprobe: ReprobeOpt = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: reply, triage record, tool calls, usage.")
    ] = False,
    events: Annotated[
        bool, typer.Option("--events", help="Print the event stream as NDJSON, one event a line, as it happens.")
    ] = False,
    plain: Annotated[
        bool, typer.Option("--plain", help="Plain text even on a terminal: the reply as written, then the record.")
    ] = False,
    resume: Annotated[
        Optional[str],
        typer.Option("--resume", "-r", metavar="ID", show_default=False, autocompletion=_conversation_ids,
                     help="Continue stored conversation ID (or 'last') with its whole context."),
    ] = None,
    continue_: Annotated[
        bool, typer.Option("--continue", "-c", help="Continue the latest conversation (the same as --resume last).")
    ] = False,
    server: ServerOpt = None,
) -> None:
    """Answer one customer message and exit.

    Exit status: 0 answered, 1 the model or its API failed, 2 bad input or configuration.
    An answer that escalates also opens a ticket (see: triage tickets). Every answer is
    stored as a conversation (see: triage history).

    \b
    Examples:
      triage ask "Where is order A1003?"
      triage ask --order A1002 "It still hasn't arrived"
      echo "Where is A1003?" | triage ask
      triage ask --json --order A9999 "Where is my parcel?"
      triage ask --resume last "And the other order?"
      triage ask -c "And the other order?"
      triage ask --server http://triage.internal:8787 "Where is A1003?"
    """
    with _user_errors():
        if as_json + events + plain > 1:
            raise UsageError("use only one of --json, --events and --plain")
        if continue_ and resume is not None:
            raise UsageError("use --continue or --resume ID, not both")
        resume = "last" if continue_ else resume
        from triage_cli.ui.oneshot import run_ask

        text = read_question(question)
        remote = _server(server)
        _no_model_flags(remote, provider, model, base_url, temperature, max_tokens)
        settings = _settings(provider, model, base_url, temperature=temperature, max_tokens=max_tokens)
        _reprobe(settings, reprobe)
        output = "json" if as_json else "events" if events else "plain" if plain else "auto"
        code = run_ask(settings, text, order=order, output=output, resume=resume, server=remote)
    raise typer.Exit(code)


@app.command(cls=_Command)
def chat(
    order: OrderOpt = None,
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    reprobe: ReprobeOpt = False,
    resume: Annotated[
        Optional[str],
        typer.Option("--resume", "-r", metavar="[ID]", show_default=False, autocompletion=_conversation_ids,
                     help="Continue a stored conversation: ID, or the latest when none is given."),
    ] = None,
    server: ServerOpt = None,
) -> None:
    """Start an interactive session that keeps the conversation across turns.

    Type a message and press Enter (Alt+Enter for a new line). /help lists the commands:
    /order, /new, /model, /provider, /tickets, /history, /resume, /usage, /reasoning, /json,
    /exit. Ctrl-C cancels an answer; Ctrl-D leaves. Every turn is stored as it happens.

    \b
    Examples:
      triage chat
      triage chat --order A1002
      triage chat --resume        (the latest conversation)
      triage chat --resume 12
      triage chat --server http://triage.internal:8787
    """
    with _user_errors():
        if not sys.stdin.isatty():
            raise UsageError("triage chat needs a terminal; for piped input use: triage ask")
        from triage_cli.ui.repl import run_chat

        flags = {"provider": provider, "model": model, "base_url": base_url, "temperature": temperature,
                 "max_tokens": max_tokens}
        remote = _server(server)
        _no_model_flags(remote, *flags.values())
        settings = _settings(provider, model, base_url, temperature=temperature, max_tokens=max_tokens)
        _reprobe(settings, reprobe)
        code = run_chat(settings, flags, order=order, resume=resume, server=remote)
    raise typer.Exit(code)


@app.command(cls=_Command)
def serve(
    host: Annotated[Optional[str], typer.Option("--host", metavar="ADDRESS", show_default=False,
                                                help="Address to listen on (default 127.0.0.1; any other needs agents or a token).")] = None,
    port: Annotated[Optional[int], typer.Option("--port", metavar="PORT", min=0, max=65535, show_default=False,
                                                help="Port to listen on (default 8787; 0 picks a free one).")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", metavar="N", min=1, max=64, show_default=False,
                                                   help="Processes serving the one port, each with its own engine "
                                                        "(default 1; share a PostgreSQL: database_url).")] = None,
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """Serve triage over HTTP: each turn streamed as Server-Sent Events.

    POST /v1/chat/stream answers one turn as SSE; POST /v1/chat as one JSON object; also /v1/conversations, /v1/tickets and /healthz (OpenAPI at /docs).
    Ctrl-C or SIGTERM ends the open streams, stores their turns as interrupted and exits. See "Serving" in the README and docs/security.md.

    Once any agent exists (triage agents add NAME), every caller needs their token, even here.

    \b
    Examples:
      triage serve
      triage serve --port 9000 --provider groq
      triage serve --workers 2        (two processes on one port)
      triage agents add ana && triage serve --host 0.0.0.0
    """
    with _user_errors():
        from triage_cli.config_server import load_server_settings
        from triage_cli.server.run import refuse_unprotected, serve as run_server

        server = load_server_settings({"host": host, "port": port, "workers": workers})
        settings = _settings(provider, model, base_url)
        refuse_unprotected(settings, server)
        code = run_server(settings, server)
    raise typer.Exit(code)


@app.command("config", cls=_Command)
def config_command(
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    reprobe: ReprobeOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of lines.")] = False,
) -> None:
    """Show the effective settings and where each came from.

    Each setting's source is its default, the config file and line, an environment variable or a
    flag; the config file and the data directory are shown too. API keys are only said to be set,
    never shown. Takes the same flags as ask, to see what they would change.
    """
    with _user_errors():
        from triage_cli.config_report import settings_with_sources
        from triage_cli.ui.config_view import show_config

        # Without the provider's key too: that is when one needs to see the settings.
        settings = _settings(provider, model, base_url, need_key=False, temperature=temperature, max_tokens=max_tokens)
        _reprobe(settings, reprobe)
        show_config(settings_with_sources(settings), as_json=as_json, settings=settings)


@app.command("stats", cls=_Command)
def stats_command(
    since: Annotated[str, typer.Option("--since", "-s", metavar="WHEN",
                                       help="The period: 24h, 7d, 4w back from now, or a date (2026-12-01).")] = "7d",
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
    server: ServerOpt = None,
) -> None:
    """What the team did: turns, escalations by topic, tickets and their waits, the model.

    From the stored conversations and tickets (this machine's store, or a team server's with
    --server); `triage eval` runs are not counted. On a terminal, small bar charts per day;
    piped, one `section  key  value` line a figure.

    \b
    Examples:
      triage stats
      triage stats --since 24h --json
      triage stats --since 2026-12-01 --server http://triage.internal:8787
    """
    with _user_errors():
        from triage_cli.ui.stats_view import show_stats

        show_stats(_records(server), since, as_json=as_json)


@app.command("models", cls=_Command)
def models_command(
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: the provider, endpoint, configured model "
                                                         "and each model listed.")] = False,
) -> None:
    """List the models the configured endpoint serves (its /models), the configured one marked.

    Piped, one model id a line. Takes the same flags as ask, to look at another endpoint.

    \b
    Examples:
      triage models
      triage models --provider groq --json
      triage models --provider custom --base-url http://localhost:8000/v1
    """
    with _user_errors():
        from triage_cli.ui.models_view import run_models

        code = run_models(_settings(provider, model, base_url), as_json=as_json)
    raise typer.Exit(code)


@app.command("tools", cls=_Command)
def tools_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of lines.")] = False,
) -> None:
    """List the tools answers can use: the order lookup and the MCP servers' tools.

    Connects the configured MCP servers as an answer would, then shows each tool with its server
    and whether it runs freely (it only reads), when allowed, or after approval (in chat), and
    each server's state (ready, failed, stopped, disabled).
    """
    with _user_errors():
        from triage_cli.ui.tools_view import run_tools

        code = run_tools(_settings(None, None, None), as_json=as_json)
    raise typer.Exit(code)


@app.command("mcp", cls=_Command)
def mcp_command(
    http: Annotated[Optional[int], typer.Option("--http", metavar="PORT", min=1, max=65535, show_default=False,
                                                help="Serve streamable HTTP on 127.0.0.1:PORT (path /mcp) instead of stdio.")] = None,
) -> None:
    """Serve triage's tools to other agents over MCP (stdio, or --http PORT).

    The tools: get_order_status, list_tickets and get_ticket (they only read) and open_ticket.
    A desktop assistant starts it with the command `triage` and the argument `mcp`.
    """
    with _user_errors():
        from triage_cli.mcp_server import serve

        settings = _settings(None, None, None)
        serve(settings, http_port=http)


@app.command("eval", cls=_Command)
def eval_command(
    cases: Annotated[
        Optional[str],
        typer.Argument(metavar="CASES", show_default=False,
                       help="A JSONL case file, or one shipped part (dev, test, blind, blind2 … blind17); all of them when omitted."),
    ] = None,
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    reprobe: ReprobeOpt = False,
    trials: Annotated[int, typer.Option("--trials", "-k", metavar="K", min=1, max=100,
                                        help="Run every case K times; pass^K counts a case only if all K are right.")] = 1,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", metavar="N", min=1, max=64,
                                             help="Run N cases at a time.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: the summary and every case's result.")] = False,
    minimum: Annotated[Optional[str], typer.Option("--min", metavar="ACC", show_default=False,
                                                   help="Exit 1 when the accuracy is under ACC (0.97 or 97%).")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Store the answers in the history and file their tickets.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="FILE", show_default=False, dir_okay=False,
                                                help="Append each case's result to FILE (JSONL) as it is scored.")] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", metavar="FILE", show_default=False, dir_okay=False,
                                                   help="Skip the cases already in FILE (an earlier --out) and "
                                                        "append the rest to it.")] = None,
    sample: Annotated[Optional[int], typer.Option("--sample", metavar="N", min=1, show_default=False,
                                                  help="Run a sample of N cases, chosen by --seed.")] = None,
    seed: Annotated[int, typer.Option("--seed", metavar="S", help="The seed of --sample: the same seed, the "
                                                                   "same cases.")] = 1,
) -> None:
    """Score an engine on labelled cases: next step, order id and must-mention words.

    Each case runs through the same engine as ask, offline unless a provider is set.

    Nothing is stored and no ticket is filed unless --keep.

    \b
    A case file holds one JSON object a line (order, order_id, mentions optional):
      {"id": "c1", "message": "Where is A1002?", "order": "A1002",
       "expect": {"next_step": "answer", "order_id": "A1002",
                  "mentions": ["weather"]}}

    On a terminal a progress bar shows the cases done, the accuracy so far and the time left.
    Ctrl-C or SIGTERM stops the run and prints the figures of the cases done so far.

    Exit status: 0 scored, 1 accuracy under --min, 2 bad input or configuration, 130 or 143
    stopped by Ctrl-C or SIGTERM.

    \b
    Examples:
      triage eval
      triage eval test --min 97%
      triage eval my_cases.jsonl --provider groq --trials 3 --concurrency 4
      triage eval --json > scores.json
      triage eval blind --sample 30 --provider custom --base-url http://localhost:8000/v1 --out run.jsonl
      triage eval blind --sample 30 --provider custom --base-url http://localhost:8000/v1 --resume run.jsonl
    """
    with _user_errors():
        from triage_cli.ui.eval_view import EvalRun, parse_min, run_eval

        bound = parse_min(minimum)
        settings = _settings(provider, model, base_url, temperature=temperature, max_tokens=max_tokens)
        _reprobe(settings, reprobe)
        if out is not None and resume is not None and out != resume:
            raise UsageError("--resume FILE appends to FILE: leave out --out, or name the same file")
        run = EvalRun(trials=trials, concurrency=concurrency, keep=keep, out=out, resume=resume, sample=sample,
                      seed=seed)
        code = run_eval(settings, cases, run, as_json=as_json, minimum=bound)
    raise typer.Exit(code)


app.add_typer(tickets_app, name="tickets")
app.add_typer(history_app, name="history")
app.add_typer(agents_app, name="agents")


def _refuse_repeated_order(argv: list[str]) -> None:
    """`triage ask --order A1 --order A2`: click would keep the last silently; one order is
    looked up for sure, so two are a mistake to say (the others can be named in the message)."""
    if not argv or argv[0] not in ("ask", "chat"):
        return
    given = 0
    for arg in argv[1:]:
        if arg == "--":
            break
        given += arg in ("--order", "-o") or arg.startswith("--order=") or (arg.startswith("-o") and arg[1] != "-")
    if given > 1:
        _print_error(f"--order was given {given} times; give one order, and name any other in the message "
                     f"(see: triage {argv[0]} --help)")
        raise SystemExit(2)


def main() -> None:
    """Run the CLI. Usage errors (an unknown option, a missing value) are one line on stderr
    with exit 2, like every other user mistake, rather than typer's boxed message."""
    for name in ("stdout", "stderr"):  # started with `>&-`: write into nothing rather than fail
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
    # Arguments that are not UTF-8 arrive as surrogates, which nothing can store or print.
    args = [a.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for a in sys.argv[1:]]
    with contextlib.ExitStack() as stack:
        if args[:1] == ["chat"]:  # Ctrl-C while chat loads is Ctrl-C at its prompt, not the end of it
            from triage_cli.ui.hangup import CHAT_STARTING

            stack.enter_context(CHAT_STARTING)
        _run(args)


def _run(args: list[str]) -> None:
    try:
        _refuse_repeated_order(args)
        code = app(args=with_optional_values(args), prog_name="triage", standalone_mode=False)
    except Exception as exc:
        if type(exc).__name__ == "Abort":
            _print_error("aborted")
            raise SystemExit(1) from None
        if not _is_click_error(exc):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help is already printed
            message = exc.format_message().strip()
            if message:
                sys.stderr.write(message + "\n")
            raise SystemExit(2) from None
        ctx = getattr(exc, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        _print_error(exc.format_message().rstrip(".") + hint)
        raise SystemExit(getattr(exc, "exit_code", 2)) from None
    raise SystemExit(code or 0)


def _is_click_error(exc: BaseException) -> TypeGuard[_click.ClickException]:
    """Click's own exceptions (usage errors, bad parameters), without importing the copy of
    click that typer vendors by its private name."""
    return any(kind.__name__ == "ClickException" for kind in type(exc).__mro__)
