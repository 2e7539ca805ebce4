"""`triage agents`: what each command prints. A token is printed once, as the last line of the
output, so a script can take it with `tail -n 1`; nothing else ever shows it."""

from __future__ import annotations

import sys

from rich.text import Text

from triage_cli.record_types import Agent
from triage_cli.session.records import LocalAgents
from triage_cli.ui.render import when
from triage_cli.sanitize import json_text, one_line
from triage_cli.ui.table_layout import Column, fit_table
from triage_cli.ui.terminal import make_console


def add_agent(agents: LocalAgents, name: str, *, lead: bool) -> None:
    agent, token = agents.add(name, lead=lead)
    _say_token(f"Added {_who(agent)}.", agent, token)


def rotate_agent(agents: LocalAgents, name: str) -> None:
    agent, token = agents.rotate(name)
    _say_token(f"New token for {_who(agent)}; the old one no longer works.", agent, token)


def remove_agent(agents: LocalAgents, name: str) -> None:
    agent = agents.remove(name)
    print(f"Removed {_who(agent)}: their token no longer works.")


def list_agents(store: LocalAgents, *, as_json: bool) -> None:
    agents = store.list()
    if as_json:
        sys.stdout.write(json_text([a.to_dict() for a in agents]) + "\n")
    elif not sys.stdout.isatty():
        rows = ["name\tlead\tcreated"] + [f"{one_line(a.name)}\t{'yes' if a.lead else 'no'}\t{a.created_at}" for a in agents]
        sys.stdout.write("\n".join(rows) + "\n")
    elif not agents:
        make_console().print(Text("No agents: triage serve asks no one for a token on this machine "
                                  "(add one with triage agents add NAME).", style="dim"))
    else:
        columns = [Column("Name", 0), Column("Lead", 1), Column("Added", 2), Column("Token changed", 3)]
        rows_ = [[Text(one_line(a.name)), Text("lead" if a.lead else ""), Text(when(a.created_at)),
                  Text(when(a.rotated_at) if a.rotated_at else "")] for a in agents]
        console = make_console()
        console.print(fit_table("Agents", columns, rows_, console.width)[0])


def _who(agent: Agent) -> str:
    return f"agent {one_line(agent.name)}{' (lead)' if agent.lead else ''}"


def _say_token(said: str, agent: Agent, token: str) -> None:
    print(said)
    print(f"Their token, shown only now: {one_line(agent.name)} sets it as agent_token (or TRIAGE_AGENT_TOKEN) "
          "for --server, or pastes it into the page when asked:", flush=True)
    print(token)
