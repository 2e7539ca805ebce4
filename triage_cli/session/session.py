"""One triage conversation's life, for any front end: the engine, the conversation, the journal
that keeps it, the order in context, the usage so far, and everything it must close.

A front end opens a session on its event loop, renders `session.ask(text)` and closes it:

    async with await TriageSession.open(settings, source="ask") as session:
        async for event in session.ask("Where is A1002?"):
            ...

The engine (the openai SDK import, the model client) is built in a thread the first time it is
needed, or earlier with `warm_up()` while a prompt waits for input; everything else is opened and
closed on the loop. Store reads and writes run in threads, so the loop never waits on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from triage_cli.closing import AsyncClosing
from triage_cli.config import Settings
from triage_cli.engine.base import Engine
from triage_cli.engine.conversation import Conversation, question_text
from triage_cli.engine.events import EventStream, Notice
from triage_cli.engine.session_state import SessionState
from triage_cli.engine.turn_summary import tally
from triage_cli.errors import ConversationBusy, StoreError
from triage_cli.redaction import Redactor
from triage_cli.session.endpoint import engine_learned, remember
from triage_cli.session.tracing import tracing_for
from triage_cli.session.journal import Begun, Journal
from triage_cli.session.turn import answer_turn, run_turn
from triage_cli.session.redacted import redacted, redacted_events
from triage_cli.record_types import SearchHit, StoredConversation
from triage_cli.record_types import Ticket
from triage_cli.store.search import search
from triage_cli.store.tickets import TicketStore
from triage_cli.tools.registry import Approver

if TYPE_CHECKING:
    from triage_cli.tools.mcp_client import McpTools
    from triage_cli.tools.mcp_config import McpServer
    from triage_cli.tools.registry import ToolRegistry

SOURCES = ("ask", "chat", "serve", "eval")


async def connect_mcp(settings: Settings, mcp: McpTools | None, stack: contextlib.AsyncExitStack,
                      servers: list[McpServer] | None = None) -> McpTools | None:
    """The configured MCP servers (`servers`: as read already), connecting in the background
    (made once, closed by `stack`)."""
    if mcp is None and (settings.mcp_servers or settings.mcp_config):
        from triage_cli.session.build import mcp_tools

        mcp = await asyncio.to_thread(mcp_tools, settings, servers)  # reads the mcp_config file, if not yet
        if mcp is not None:
            stack.push_async_callback(mcp.aclose)
    if mcp is not None:
        await mcp.start()
    return mcp


async def tool_registry(settings: Settings, mcp: McpTools | None, approve: Approver | None) -> ToolRegistry:
    """The order lookup and the tools of the MCP servers that started (each waited for within
    mcp_connect_timeout); a tool that acts asks `approve`, or is refused without one."""
    from triage_cli.session.build import build_tools

    tools = await asyncio.to_thread(build_tools, settings)
    if mcp is not None:
        await mcp.register(tools)
    tools.approver = approve
    return tools


class SharedEngine:
    """One engine for the many sessions of a process that answers many conversations at once (the
    server): built in a thread on first use and lent to each session, which leaves it open; its
    model client and connections serve every turn, so a turn does not pay for a client of its own
    (tens of ms of CPU and nearly 1 MiB each). Built again each day, as the demo orders are."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None
        self._day: date | None = None
        self._retired: list[Engine] = []  # yesterday's, still lent to turns that began before midnight
        self._lock = asyncio.Lock()
        self._mcp: McpTools | None = None  # the MCP servers' connections, shared like the engine
        self._stack = contextlib.AsyncExitStack()

    async def get(self) -> Engine:
        async with self._lock:
            if self._engine is None or self._day != date.today():
                from triage_cli.session.build import build_engine

                self._mcp = await connect_mcp(self.settings, self._mcp, self._stack)
                tools = await tool_registry(self.settings, self._mcp, None)  # no one to ask: `allow` decides
                engine = await asyncio.to_thread(build_engine, self.settings, tools)
                if self._engine is not None:
                    self._retired.append(self._engine)
                self._engine, self._day = engine, date.today()
            return self._engine

    async def aclose(self) -> None:
        engines, self._retired, self._engine = [*self._retired, self._engine], [], None
        for engine in engines:
            if engine is not None:
                await engine.aclose()
        await self._stack.aclose()


class TriageSession(SessionState, AsyncClosing):
    """`source` (ask, chat, serve) is stored with each conversation. `flags` are the command
    line's settings, which a `switch` keeps unless it overrides them. Constructing one does no
    I/O; `open` also checks the order database and resumes a stored conversation. With
    `keep=False` nothing is stored: no turn in the history and no ticket (`triage eval`). With
    `shared`, the session answers with that engine (until a `switch`) and does not close it.
    `approve`: the front end's question to the user before a tool that acts runs (chat); without
    one, such a tool is refused unless its server's `allow` lists it."""

    def __init__(self, settings: Settings, *, source: str, flags: Mapping[str, Any] | None = None,
                 order: str | None = None, keep: bool = True, shared: SharedEngine | None = None,
                 approve: Approver | None = None) -> None:
        if source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
        super().__init__(settings.order_id_pattern)
        self.settings = settings
        self.source = source
        self.flags = dict(flags or {})
        self.keep = keep
        self.journal = Journal.for_settings(settings, source)
        self.conversation = Conversation()
        self._engine: Engine | None = None
        self._loading: asyncio.Future[Engine] | None = None
        self._shared = shared
        self.tracing = tracing_for(settings)  # None unless traces are sent somewhere
        self._approve = approve
        self._mcp: McpTools | None = None  # the MCP servers' connections, once started
        self._servers: list[McpServer] | None = None  # the MCP servers configured, once read
        self._unanswered: Begun | None = None  # a turn `start` stored, its answer not yet begun
        self._tools: ToolRegistry | None = None  # the engine's tools, once built
        self._stack = contextlib.AsyncExitStack()
        self._stack.push_async_callback(self._close_engine)
        if order is not None:
            self.set_order(order, flag="--order")

    @classmethod
    async def open(cls, settings: Settings, *, source: str, resume: str | None = None, order: str | None = None,
                   flags: Mapping[str, Any] | None = None, keep: bool = True,
                   shared: SharedEngine | None = None, approve: Approver | None = None) -> TriageSession:
        """A session continuing the stored conversation `resume` names (an id, or 'last'), if
        any. A bad `order`, a bad id and a missing order database are errors now, before any
        prompt. In chat, a resumed conversation's last order is the order in context, unless
        `order` names one; `ask` asks about the order it is given only."""
        session = cls(settings, source=source, flags=flags, order=order, keep=keep, shared=shared, approve=approve)
        if settings.orders_db is not None:
            from triage_cli.session.build import open_order_store  # the stores and tools load off the prompt's path

            await asyncio.to_thread(open_order_store, settings)
        if settings.mcp_config is not None:  # a missing or broken file: an error now, before any prompt
            from triage_cli.session.build import mcp_servers

            session._servers = await asyncio.to_thread(mcp_servers, settings)
        if resume is not None:
            await session.resume(resume)
            if order is not None or source == "ask":
                session.set_order(order, flag="--order")
        return session

    async def aclose(self) -> None:
        """Close what the session owns (the model client, a loading engine is waited for; the
        MCP servers' connections), once every turn is stored: a turn `start` stored whose answer
        never started is ended interrupted, and the write of one cut short is waited for."""
        unanswered, self._unanswered = self._unanswered, None
        if unanswered is not None:
            await self.journal.abandon(unanswered, self.conversation)
        await self.journal.settled()
        await self._stack.aclose()

    # the engine --------------------------------------------------------------------------------

    async def warm_up(self) -> None:
        """Build the engine and load its model client in a thread, so the first answer need not
        wait. A bad setting (the order database) raises here; a model client that fails to load
        is left for the first answer to report."""
        engine = await self.ready()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(engine.warm_up)

    async def ready(self) -> Engine:
        """The engine, built in a thread on first use. Cancelling the caller leaves the building
        going on; a failure is raised to every caller waiting and retried by the next one."""
        if self._engine is not None:
            return self._engine
        if self._shared is not None:
            return await self._shared.get()
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._build())
        loading = self._loading
        try:
            engine = await asyncio.shield(loading)
        except asyncio.CancelledError:
            raise
        except BaseException:
            if self._loading is loading:
                self._loading = None
            raise
        if self._loading is loading:
            self._engine, self._loading = engine, None
        return engine

    async def _build(self) -> Engine:
        from triage_cli.session.build import build_engine

        tools = await self._tool_registry()
        return await asyncio.to_thread(build_engine, self.settings, tools)

    async def _start_mcp(self) -> McpTools | None:
        """The MCP servers start connecting (once a session), in the background."""
        self._mcp = await connect_mcp(self.settings, self._mcp, self._stack, self._servers)
        return self._mcp

    async def _tool_registry(self) -> ToolRegistry:
        """The tools an engine gets: the order lookup, and the tools of the MCP servers that
        started (waited for, each within mcp_connect_timeout)."""
        self._tools = await tool_registry(self.settings, await self._start_mcp(), self._approve)
        return self._tools

    async def tool_catalog(self) -> dict[str, Any]:
        """Every tool with its server and whether it runs freely, and each MCP server's state
        (for chat's /tools and `triage tools`)."""
        await self.ready()  # the engine's own tools, so there is one registry
        tools = self._tools
        assert tools is not None
        servers = [{"name": c.server.name, "transport": c.server.transport, "state": c.state,
                    "problem": c.problem, "tools": sum(t.server == c.server.name for t in tools.tools())}
                   for c in (self._mcp.connections if self._mcp else [])]
        servers += [{"name": s.name, "transport": s.transport, "state": "disabled", "problem": "", "tools": 0}
                    for s in (self._mcp.servers_off if self._mcp else []) if not s.enabled]
        return {
            "tools": [{"name": t.name, "server": t.server or "triage", "read_only": t.read_only,
                       "runs": "freely" if t.read_only else "allowed" if t.approved else "after approval",
                       "description": t.description} for t in tools.tools()],
            "servers": servers,
        }

    def _mcp_notices(self) -> list[Notice]:
        return [Notice(text) for text in self._mcp.take_notices()] if self._mcp is not None else []

    def modes(self) -> tuple[str, str]:
        """The structured-output step and the tool-round mode the engine settled on, else the
        settings' (for /provider)."""
        engine, settings = self._engine, self.settings
        return (str(getattr(engine, "structured_mode", settings.structured_output)),
                str(getattr(engine, "tool_round_mode", settings.tool_rounds)))

    async def _close_engine(self) -> None:
        if self._loading is not None:
            with contextlib.suppress(Exception):
                self._engine = await self._loading
            self._loading = None
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.aclose()

    async def switch(self, settings: Settings | Mapping[str, Any]) -> Settings:
        """Answer with other settings (or these flags over the command line's) from the next
        question on; the conversation stays. Returns the settings now in use."""
        if not isinstance(settings, Settings):
            from triage_cli.config import load_settings

            settings = load_settings({**self.flags, "model": None, "base_url": None, **settings})
        await self._close_engine()
        self._shared = None  # lent for the settings it was opened with
        self._servers = None  # read again for the new settings
        self.settings = settings
        self.journal.use(settings)
        return settings

    # the conversation --------------------------------------------------------------------------

    @property
    def conversation_id(self) -> int | None:
        """The stored conversation's id; None until its first question is stored."""
        return self.journal.conversation_id

    @property
    def redactor(self) -> Redactor:
        """The secrets this session knows: the API keys and tokens of its settings, and agent tokens by shape."""
        return self.journal.redactor

    def redact(self, text: str) -> str:
        """`text` with every known secret replaced (for what a front end writes, like its input history)."""
        return self.redactor.text(text)

    def ask(self, text: str) -> EventStream:
        """One turn: `text` with the order in context goes to the engine, and its events come
        back as they happen, with the known secrets replaced, while the journal stores the turn.
        A message too long to send is a usage error here, before any event."""
        question = question_text(text, self.order)
        self.turns.append((text, None))
        order = self.order

        def answering(engine: Engine) -> EventStream:
            return run_turn(engine, self.conversation, question, self.journal if self.keep else None, order=order)

        return self._turn(len(self.turns) - 1, answering)

    async def start(self, text: str) -> EventStream:
        """`ask`, with the question stored as running before it returns (a server's turn):
        ConversationBusy now, before anything streams, when another process or replica is
        answering this conversation. A database that cannot be written is said in the answer,
        which goes on, as `ask`'s does."""
        question = question_text(text, self.order)
        await self.ready()  # a bad order database is an error now too
        self.conversation.add_user(question, self.order)
        begun: Begun | None = None
        if self.keep:
            try:
                begun = await self.journal.begin(self.conversation)
            except ConversationBusy:
                self.conversation.messages.pop()
                raise
            except StoreError:
                pass  # the journal says so in the answer
        self.turns.append((text, None))
        self._unanswered = begun

        def answering(engine: Engine) -> EventStream:
            self._unanswered = None  # the answer has started: the journal ends the turn
            return answer_turn(engine, self.conversation, self.journal if self.keep else None, begun)

        return self._turn(len(self.turns) - 1, answering)

    async def _turn(self, index: int, answering: Callable[[Engine], EventStream]) -> EventStream:
        engine = await self.ready()
        for notice in self._mcp_notices():  # a server that could not start: said once
            yield redacted(notice, self.redactor)
        before = engine_learned(engine)
        events = redacted_events(answering(engine), self.redactor)
        if self.tracing is not None:
            events = self.tracing.traced(events, self.redact(self.turns[index][0]), lambda: self.conversation_id)
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    tally(self, index, event)
                    yield event
        finally:  # what the endpoint refused, kept even when the turn failed after the refusal
            after = engine_learned(engine)
            if after != before:
                with contextlib.suppress(OSError):
                    await asyncio.shield(remember(self.settings, after))
        for notice in self._mcp_notices():  # a server that stopped during the turn
            yield redacted(notice, self.redactor)

    def new(self) -> None:
        """Start a new conversation: no context, no order, nothing resumed."""
        self.conversation = Conversation()
        self.journal.start_new()
        self.forget()

    async def resume(self, which: str | None) -> StoredConversation:
        """Continue a stored conversation (`which` is an id, or None/'last' for the latest): its
        turns become the context, and its last record's order the order in context."""
        stored, self.conversation = await self.journal.resume(which)
        self.resumed_from(stored)
        return stored

    def where(self) -> tuple[str, str]:
        """Where the conversation is kept: this machine's data directory."""
        return "data", str(self.settings.home)

    async def open_tickets(self, limit: int) -> list[Ticket]:
        """The open tickets of the queue, newest first (read in a thread)."""
        return await asyncio.to_thread(TicketStore(self.journal.store.database).list, "open", limit)

    async def stored_conversations(self, limit: int) -> list[StoredConversation]:
        """The stored conversations, the most recently active first (for /history, /resume)."""
        return await asyncio.to_thread(self.journal.store.list, limit=limit)

    async def search(self, text: str, limit: int) -> list[SearchHit]:
        """The stored questions, replies and ticket notes that say `text` (for /search)."""
        return await asyncio.to_thread(search, self.journal.store.database, text, limit)

    def order_ids(self) -> list[str]:
        """The ids in the order store, for completion. Blocking: run it in a thread."""
        from triage_cli.session.build import open_order_store

        return open_order_store(self.settings).order_ids()
