"""The team's agents, each with a token of their own, in the state database (so every replica and
every terminal on one PostgreSQL sees the same agents). Only a SHA-256 hash of a token is stored:
the token itself is shown once, when it is made (`add`, `rotate`). A lead may force a release or a
close of a ticket another agent holds."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from triage_cli.errors import InvalidValue, NotFound
from triage_cli.limits import MAX_AGENT_CHARS as MAX_NAME_CHARS
from triage_cli.redaction import new_agent_token  # `trg_…`: recognisable where it should not be (a log, a note)
from triage_cli.record_types import Agent
from triage_cli.store.database import Database, as_database, now

WHAT = "the agent list"
_NAME = re.compile(rf"[^\W_][\w.@' -]{{0,{MAX_NAME_CHARS - 1}}}")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_name(name: str) -> str:
    """A name as it is kept: letters or digits first, then letters, digits, spaces and . @ ' - _."""
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise InvalidValue(f"an agent's name is 1 to {MAX_NAME_CHARS} letters, digits, spaces or . @ ' - _, "
                           "starting with a letter or digit")
    return name


class AgentStore:
    def __init__(self, database: Database | Path) -> None:
        self.database = as_database(database)

    def add(self, name: str, *, lead: bool = False) -> tuple[Agent, str]:
        """A new agent and their token (shown to nobody else, kept by nobody: only its hash is stored)."""
        name, token = check_name(name), new_agent_token()
        with self.database.transaction(WHAT) as db:
            if db.execute("SELECT 1 FROM agents WHERE LOWER(name) = LOWER(?)", (name,)).fetchone():
                raise InvalidValue(f"there is already an agent called {name}")
            db.execute("INSERT INTO agents (name, token_hash, lead, created_at) VALUES (?, ?, ?, ?)",
                       (name, token_hash(token), int(lead), now()))
        return self.get(name), token

    def rotate(self, name: str) -> tuple[Agent, str]:
        """A new token for `name`; the old one stops working at once."""
        token = new_agent_token()
        with self.database.transaction(WHAT) as db:
            agent = self._find(db, name)
            db.execute("UPDATE agents SET token_hash = ?, rotated_at = ? WHERE name = ?",
                       (token_hash(token), now(), agent.name))
        return self.get(agent.name), token

    def remove(self, name: str) -> Agent:
        with self.database.transaction(WHAT) as db:
            agent = self._find(db, name)
            db.execute("DELETE FROM agents WHERE name = ?", (agent.name,))
        return agent

    def get(self, name: str) -> Agent:
        with self.database.opened(WHAT) as db:
            return self._find(db, name)

    def list(self) -> list[Agent]:
        with self.database.opened(WHAT) as db:
            rows = db.execute("SELECT name, lead, created_at, rotated_at FROM agents ORDER BY LOWER(name)").fetchall()
        return [_agent(row) for row in rows]

    def by_token(self, token: str) -> Agent | None:
        """The agent whose token this is, or None. Looked up by the token's hash."""
        with self.database.opened(WHAT) as db:
            row = db.execute("SELECT name, lead, created_at, rotated_at FROM agents WHERE token_hash = ?",
                             (token_hash(token),)).fetchone()
        return None if row is None else _agent(row)

    def any(self) -> bool:
        with self.database.opened(WHAT) as db:
            return db.execute("SELECT 1 FROM agents LIMIT 1").fetchone() is not None

    @staticmethod
    def _find(db: Any, name: str) -> Agent:
        row = db.execute("SELECT name, lead, created_at, rotated_at FROM agents WHERE LOWER(name) = LOWER(?)",
                         (name.strip(),)).fetchone()
        if row is None:
            raise NotFound(f"no agent called {name.strip()[:MAX_NAME_CHARS]}", kind="agent")
        return _agent(row)


def _agent(row: Any) -> Agent:
    return Agent(name=row[0], lead=bool(row[1]), created_at=row[2], rotated_at=row[3])
