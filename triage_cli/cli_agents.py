"""`triage agents`: the team's agents, each with a token of their own for `triage serve`. Kept in
the state database (this machine's, or database_url's PostgreSQL that every replica shares)."""

from __future__ import annotations

from typing import Annotated

import typer

from triage_cli.cli_common import local_only as _local_only
from triage_cli.cli_common import local_agents as _local_agents
from triage_cli.cli_common import user_errors as _user_errors
from triage_cli.cli_parts import Command as _Command
from triage_cli.cli_parts import Group as _Group
from triage_cli.errors import UsageError

agents_app = typer.Typer(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
)

@agents_app.callback()
def agents() -> None:
    """The team's agents, each with their own token for triage serve.

    Once any agent exists, triage serve asks every caller for a token (but for /healthz and the page), even on this machine.
    A request made with an agent's token acts as that agent; a lead may also release or close a ticket another agent holds.

    \b
    Examples:
      triage agents add ana
      triage agents add sam --lead
      triage agents list
      triage agents rotate ana
      triage agents remove ana
    """


NameArg = Annotated[str, typer.Argument(help="The agent's name, as the queue shows it.", metavar="NAME",
                                        show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@agents_app.command("add", cls=_Command)
def agents_add(name: NameArg,
               lead: Annotated[bool, typer.Option("--lead", help="May force a release or a close.")] = False) -> None:
    """Add an agent and print their token, once (its last line): only a hash of it is kept."""
    with _user_errors():
        _local_only("agents add")
        from triage_cli.config import load_secrets
        from triage_cli.redaction import Redactor
        from triage_cli.ui.agents_view import add_agent

        if Redactor(load_secrets()).text(name) != name:  # a pasted key or token, kept and shown as a name
            raise UsageError("that name holds a key or a token: give the agent's name")
        add_agent(_local_agents(), name, lead=lead)


@agents_app.command("list", cls=_Command)
def agents_list(as_json: JsonOpt = False) -> None:
    """The agents, with who is a lead (never their tokens)."""
    with _user_errors():
        from triage_cli.ui.agents_view import list_agents

        list_agents(_local_agents(), as_json=as_json)


@agents_app.command("rotate", cls=_Command)
def agents_rotate(name: NameArg) -> None:
    """Give an agent a new token (printed once, its last line); the old one stops working at once."""
    with _user_errors():
        _local_only("agents rotate")
        from triage_cli.ui.agents_view import rotate_agent

        rotate_agent(_local_agents(), name)


@agents_app.command("remove", cls=_Command)
def agents_remove(name: NameArg) -> None:
    """Remove an agent: their token stops working at once (the tickets they worked keep their name)."""
    with _user_errors():
        _local_only("agents remove")
        from triage_cli.ui.agents_view import remove_agent

        remove_agent(_local_agents(), name)
