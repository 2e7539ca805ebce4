"""Where a front end's answers come from: a local `TriageSession`, or a team's `triage serve`
(`--server URL`) through a `RemoteSession` with the same surface, so ask and chat render both
with the same views."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol, Self, TypeAlias

from triage_cli.config import Settings
from triage_cli.engine.events import EventStream, TriageRecord, Usage
from triage_cli.engine.turn_summary import UsageTotals
from triage_cli.session import TriageSession
from triage_cli.record_types import SearchHit, StoredConversation
from triage_cli.record_types import Ticket
from triage_cli.tools.registry import Approver

Server: TypeAlias = tuple[str, str | None]  # the server's URL and its token (config.load_server)


class AnySession(Protocol):
    """What ask and chat use of a session, local or a server's: the state both keep
    (engine/session_state.py) and where their turns run. The front ends never ask which it is."""

    settings: Settings
    order: str | None
    turns: list[tuple[str, str | None]]
    last_record: TriageRecord | None
    last_usage: Usage | None
    totals: UsageTotals
    resumed: Any

    @property
    def conversation_id(self) -> int | None: ...
    def ask(self, text: str) -> EventStream: ...
    def set_order(self, text: str | None, *, flag: str = "/order") -> str | None: ...
    def order_in_context(self) -> str | None: ...
    def new(self) -> None: ...
    async def resume(self, which: str | None) -> StoredConversation: ...
    async def stored_conversations(self, limit: int) -> list[StoredConversation]: ...
    async def search(self, text: str, limit: int) -> list[SearchHit]: ...
    def where(self) -> tuple[str, str]: ...
    async def open_tickets(self, limit: int) -> list[Ticket]: ...
    async def ready(self) -> Any: ...
    async def warm_up(self) -> None: ...
    def modes(self) -> tuple[str, str]: ...
    async def switch(self, settings: Settings | Mapping[str, Any]) -> Settings: ...
    async def tool_catalog(self) -> dict[str, Any]: ...
    def order_ids(self) -> list[str]: ...
    def redact(self, text: str) -> str: ...
    async def aclose(self) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None: ...


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
