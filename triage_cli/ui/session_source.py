"""Where a front end's answers come from: a local `TriageSession`, or a team's `triage serve`
(`--server URL`) through a `RemoteSession` with the same surface, so ask and chat render both
with the same views."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from triage_cli.config import Settings
from triage_cli.session import TriageSession
from triage_cli.tools.registry import Approver

if TYPE_CHECKING:
    from triage_cli.client.remote_session import RemoteSession

AnySession: TypeAlias = "TriageSession | RemoteSession"
Server: TypeAlias = tuple[str, str | None]  # the server's URL and its token (config.load_server)


async def open_session(settings: Settings, server: Server | None, *, source: str, resume: str | None = None,
                       order: str | None = None, flags: Mapping[str, Any] | None = None,
                       approve: Approver | None = None) -> AnySession:
    """The session answering this front end's questions, opened (and, with `resume`, resumed).
    `approve` asks before a local MCP tool that acts (a server's tools are the server's business)."""
    if server is None:
        return await TriageSession.open(settings, source=source, flags=flags, resume=resume, order=order,
                                        approve=approve)
    from triage_cli.client.http import ServerClient
    from triage_cli.client.remote_session import RemoteSession

    return await RemoteSession.open(settings, ServerClient(*server), source=source, resume=resume, order=order)
