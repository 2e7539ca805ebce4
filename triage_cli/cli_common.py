"""What the commands share: one line for a user's mistake, the data directory and store, the team
server's setting, and the --server option."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

import typer

from triage_cli.errors import TriageError, UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from triage_cli.session.records import LocalAgents, LocalRecords, Records
    from types import TracebackType

    from triage_cli.config import Settings
    from triage_cli.store.database import Database

ServerOpt = Annotated[
    Optional[str],
    typer.Option("--server", metavar="URL", show_default=False,
                 help="A team's triage serve to use instead of this machine (or server_url, TRIAGE_SERVER_URL; "
                      "its token from TRIAGE_SERVER_TOKEN)."),
]


def options_belong_after(ctx: typer.Context) -> None:
    """`triage tickets --json show 3`: the group's options were given before a command."""
    sources = (ctx.get_parameter_source(name) for name in ctx.params)
    if any(source is not None and source.name != "DEFAULT" for source in sources):
        with user_errors():
            group = ctx.info_name or ""
            raise UsageError(f"put the options after the command: triage {group} {ctx.invoked_subcommand} [OPTIONS]")


def server(flag: str | None) -> tuple[str, str | None] | None:
    """The team server to use, if any (`--server`, TRIAGE_SERVER_URL, `server_url`), and its token."""
    from triage_cli.config_server import load_server

    return load_server(flag)


def local_only(command: str) -> None:
    """A command that changes or exports this machine's store, refused while a team server is
    set: it would quietly act on the wrong data."""
    if server(None) is not None:
        raise UsageError(f"`triage {command}` works on this machine's store, and a server is set "
                         "(TRIAGE_SERVER_URL or server_url): run it on the server's machine, or unset it")


def no_model_flags(server: tuple[str, str | None] | None, *flags: object) -> None:
    if server is not None and any(flag is not None for flag in flags):
        raise UsageError("with --server (or server_url) the server's model answers: "
                         "leave out --provider, --model, --base-url, --temperature and --max-tokens")


def store() -> Database:
    """The state database (SQLite under the data directory, or database_url's PostgreSQL); the
    ticket and history commands need no model, so no provider is resolved."""
    from triage_cli.config import load_store_settings
    from triage_cli.store.database import open_database

    found = load_store_settings()
    return open_database(found.home if found.database_url else checked_home(found.home), found.database_url)


def records(flag: str | None) -> Records:
    """The history and the ticket queue: a team server's (`--server`, TRIAGE_SERVER_URL,
    `server_url`), else this machine's store."""
    remote = server(flag)
    if remote is not None:
        from triage_cli.client.records import RemoteRecords

        return RemoteRecords(*remote)
    from triage_cli.session.records import LocalRecords

    return LocalRecords(store())


def local_records() -> LocalRecords:
    """This machine's history and queue, for what only they do (reopen, delete, prune, export)."""
    from triage_cli.session.records import LocalRecords

    return LocalRecords(store())


def local_agents() -> LocalAgents:
    from triage_cli.session.records import LocalAgents

    return LocalAgents(store())


def agent() -> str:
    """agent_name, as it is stored: with any secret in it replaced."""
    from triage_cli.config import load_store_settings

    return redact(load_store_settings().agent_name)


def redact(text: str) -> str:
    """`text` as a command may store or send it: the known secrets (API keys, the server and agent
    tokens, anything shaped like an agent token) replaced."""
    from triage_cli.config import load_secrets
    from triage_cli.redaction import Redactor

    return Redactor(load_secrets()).text(text)


def note(text: str | None) -> str | None:
    """A ticket's note as it may be stored: within the limit, with no secret in it."""
    from triage_cli.limits import MAX_MESSAGE_CHARS

    if text is not None and len(text) > MAX_MESSAGE_CHARS:
        raise UsageError(f"--note is longer than {MAX_MESSAGE_CHARS:,} characters")
    return None if text is None else redact(text)


def checked_home(home: Path) -> Path:
    """Warn (once a run) when the data directory, made by the user, lets other users in."""
    from triage_cli.store.database import exposed_home

    warning = exposed_home(home)
    if warning and not _warned:
        _warned.append(warning)
        print_error(warning, label="warning")
    return home


_warned: list[str] = []


def settings_for(provider: str | None, model: str | None, base_url: str | None, *, need_key: bool = True,
                 **more: Any) -> Settings:
    """The settings with the model flags over them (`more`: --temperature, --max-tokens)."""
    from triage_cli.config import load_settings

    settings = load_settings({"provider": provider, "model": model, "base_url": base_url, **more}, need_key=need_key)
    checked_home(settings.home)
    return settings


def reprobe(settings: Settings, asked: bool) -> None:
    """--reprobe: forget what the endpoint refused before, so this run tries every step again."""
    if asked:
        from triage_cli.session.endpoint import forget

        if forget(settings):
            print_error(f"forgot what {settings.provider} · {settings.model} refused before; each step is "
                        "tried again", label="note")


class user_errors:
    """Turn our own exceptions into one line on stderr and their exit code."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> Literal[False]:
        if isinstance(error, TriageError):
            from triage_cli.ui.hints import user_message

            print_error(user_message(error))
            raise typer.Exit(error.exit_code)
        if isinstance(error, KeyboardInterrupt):
            print_error("interrupted")
            raise typer.Exit(130)
        if isinstance(error, BrokenPipeError):
            from triage_cli.ui.render import quiet_stdout

            quiet_stdout()
            raise typer.Exit(0)  # the reader had enough (`| head -1`): not a failure
        return False


def print_error(message: str, label: str = "error") -> None:
    from triage_cli.sanitize import clean

    if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        colour = "1;31" if label == "error" else "1;33"
        sys.stderr.write(f"\x1b[{colour}m{label}:\x1b[0m {clean(message)}\n")
    else:
        sys.stderr.write(f"{label}: {clean(message)}\n")
