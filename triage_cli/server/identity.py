"""Who is asking. Three kinds of caller:

- an agent, by their own token (`triage agents add`): the server knows their name, and a request
  cannot act as anyone else; a lead may force;
- the operator, by `server_token`: lead rights, for scripts, which name the agent they act for;
- anyone on this machine, while the server has neither a token nor any agent (loopback only:
  run.py refuses to listen beyond it so).

Once any agent exists, every route but /healthz and the page needs a token, loopback or not."""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from triage_cli.errors import InvalidValue, StoreError
from triage_cli.server.problems import ApiError
from triage_cli.redaction import AGENT_TOKEN_PREFIX
from triage_cli.store.agents import AgentStore, check_name
from triage_cli.store.database import Database


@dataclass(frozen=True)
class Actor:
    name: str | None  # an agent's name; None: the request names the agent (operator, open server)
    lead: bool
    kind: str  # agent, operator or open

    def to_dict(self) -> dict[str, Any]:
        return {"agent": self.name, "lead": self.lead, "kind": self.kind}


OPERATOR = Actor(None, True, "operator")
ANYONE = Actor(None, True, "open")
UNAUTHORIZED = ApiError(401, "unauthorized", "this server needs Authorization: Bearer TOKEN (your agent token)",
                        headers={"WWW-Authenticate": "Bearer"})


class Identities:
    """`loopback`: whether this server may answer anyone at all while it has no token and no agent
    (a server beyond loopback whose last agent is removed answers nobody but the operator)."""

    def __init__(self, database: Database, token: str | None, *, loopback: bool) -> None:
        self.agents, self.token, self.loopback = AgentStore(database), token, loopback

    async def identify(self, authorization: str | None) -> Actor:
        """The caller `Authorization: Bearer …` names, or the ApiError refusing them."""
        given = _bearer(authorization)
        if given and self.token and hmac.compare_digest(given.encode(), self.token.encode()):
            return OPERATOR
        try:
            if given and given.startswith(AGENT_TOKEN_PREFIX):
                agent = await asyncio.to_thread(self.agents.by_token, given)
                if agent is not None:
                    return Actor(agent.name, agent.lead, "agent")
            if self.loopback and self.token is None and not await asyncio.to_thread(self.agents.any):
                return ANYONE
        except StoreError:
            raise ApiError(503, "unavailable", "the server cannot reach its database to check the token") from None
        raise UNAUTHORIZED


def _bearer(header: str | None) -> str | None:
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    return given.strip()


def actor(request: Request) -> Actor:
    found: Actor = request.scope["state"]["actor"]
    return found


def acting_as(request: Request, body: dict[str, Any], *, required: bool = True) -> str | None:
    """The agent a queue action is done as: an agent's own name, whatever the body's `agent`
    says (a token fixes who acts); for the operator or an open server, the body's `agent`."""
    caller = actor(request)
    if caller.name is not None:
        return caller.name
    named = body.get("agent")
    if named is None and not required:
        return None
    if not isinstance(named, str):
        raise ApiError(400, "invalid", "agent must be your name in the queue (a string)")
    try:
        return check_name(named)
    except InvalidValue as exc:
        raise ApiError(400, "invalid", f"agent: {exc}") from None


def check_force(request: Request, force: bool) -> None:
    if force and not actor(request).lead:
        raise ApiError(403, "lead_only", "only a lead can force a release or a close of another agent's ticket")
