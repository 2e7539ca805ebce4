"""The routes of `triage serve`. Each turn opens a TriageSession (resuming the stored conversation
a follow-up names; every session borrows one SharedEngine), asks it, and renders its events as SSE (stream.py) or as one JSON object (the
`ask --json` shape); the session stores the turn and files tickets, the server only renders.
Store reads run in threads, so no request waits on SQLite on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from triage_cli import __version__
from triage_cli.config import Settings
from triage_cli.config_server import ServerSettings
from triage_cli.engine.conversation import order_flag
from triage_cli.engine.events import EventStream
from triage_cli.engine.turn_summary import TurnSummary
from triage_cli.engine.wire import turn_report
from triage_cli.errors import TriageError
from triage_cli.nested import map_strings
from triage_cli.server.guard import Guard, RequestLog, SameSite, error_response, replica
from triage_cli.server.identity import Identities, actor
from triage_cli.server.limits import Slot, TurnGate
from triage_cli.server.page import add_page
from triage_cli.server.problems import ApiError, from_triage_error
from triage_cli.server.requests import TurnRequest, json_body, turn_request
from triage_cli.server.stream import TurnStream, close_turn
from triage_cli.server.ticket_routes import ticket_routes
from triage_cli.server.wire import SafeJSONResponse, secrets_redactor
from triage_cli.session import SharedEngine, TriageSession
from triage_cli.session.records import figures_since
from triage_cli.store.search import search
from triage_cli.store.sessions import SessionStore
from triage_cli.store.database import Database, keep_connections, open_database

SHUTTING_DOWN = ApiError(503, "shutdown", "the server is shutting down")


class Service:
    """What the routes share: the settings, the gate on turns, and the shutdown signal."""

    def __init__(self, settings: Settings, server: ServerSettings) -> None:
        self.settings, self.server = settings, server
        self.gate = TurnGate(server.max_concurrent_turns)
        self.engines = SharedEngine(settings)  # one model client (and its connections) for every turn
        self.stopping = asyncio.Event()  # the open streams end now
        self.draining = False  # no new turn; the open ones may finish (up to drain_seconds)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.observe: Callable[[EventStream], EventStream] = lambda events: events  # /metrics counts them

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        try:
            yield
        finally:
            await self.engines.aclose()

    def begin_shutdown(self) -> None:
        """End the open streams (from a signal handler, or any thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.stopping.set)

    def drain(self, seconds: float) -> None:
        """Take no new turn and let the open ones finish, for `seconds` at most; then end the rest
        (from a signal handler, on the loop's thread)."""
        self.draining = True
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._draining, seconds)

    def _draining(self, seconds: float) -> None:
        logging.getLogger("triage.serve").info("draining: no new turn; %d under way may finish within %g s",
                                               self.gate.active, seconds)
        asyncio.get_running_loop().call_later(seconds, self.stopping.set)

    async def start_turn(self, asked: TurnRequest) -> tuple[TriageSession, EventStream, Slot]:
        """A session on the conversation, the turn's events, and the turn's place in the gate;
        every refusal (busy, too many, unknown conversation, bad order) before anything streams."""
        if self.stopping.is_set() or self.draining:
            raise SHUTTING_DOWN
        order = None if asked.order is None else order_flag(asked.order, '"order"', self.settings.order_id_pattern)
        resume = None if asked.conversation_id is None else str(asked.conversation_id)
        session = await TriageSession.open(self.settings, source="serve", resume=resume, order=order,
                                           shared=self.engines)  # an unknown conversation is a 404 first
        slot: Slot | None = None
        try:
            slot = self.gate.enter(asked.conversation_id)  # this process's own limits, at once
            # Stored as running before anything streams: a conversation another replica is
            # answering is a 409 here too (its lease is in the database), a bad order database a 503.
            events = await session.start(asked.message)
        except BaseException:
            await close_turn(session, slot)
            raise
        return session, self.observe(events), slot


def create_app(settings: Settings, server: ServerSettings) -> FastAPI:
    service = Service(settings, server)
    app = FastAPI(title="triage", version=__version__, lifespan=service.lifespan, default_response_class=SafeJSONResponse,
                  description="Support triage over HTTP: each turn streamed as Server-Sent Events.")
    app.state.service = service
    _handle_errors(app)
    keep_connections()  # the turns' saves run in worker threads: each keeps its SQLite connection
    database = open_database(settings.home, settings.database_url)
    _add_guards(app, server, Identities(database, server.token, loopback=server.loopback))

    @app.post("/v1/chat/stream", summary="Answer one turn, streamed as Server-Sent Events")
    async def chat_stream(request: Request) -> Response:
        session, events, slot = await service.start_turn(turn_request(await json_body(request)))
        return TurnStream(session, events, slot, service.stopping)

    @app.post("/v1/chat", summary="Answer one turn as one JSON object (the `ask --json` shape)")
    async def chat(request: Request) -> dict[str, Any]:
        session, events, slot = await service.start_turn(turn_request(await json_body(request)))
        try:
            turn = TurnSummary()
            answering = asyncio.create_task(_collect(events, turn))
            stop = asyncio.create_task(service.stopping.wait())
            await asyncio.wait({answering, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not answering.done():
                answering.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await answering
                raise SHUTTING_DOWN
            answering.result()
            result: dict[str, Any] = map_strings(turn_report(turn, settings.provider, settings.model), session.redact)
            return {**result, "conversation_id": session.conversation_id}
        finally:
            await close_turn(session, slot)

    @app.get("/v1/conversations", summary="Stored conversations, the most recently active first; with q, "
                                          "the questions, replies and ticket notes that say it, best match first")
    async def conversations(order: str | None = None, limit: int = Query(20, ge=1, le=1000),
                            q: str | None = Query(None, max_length=500)) -> dict[str, Any]:
        if q is not None:
            if order:
                raise ApiError(400, "invalid", "search with q, or list by order, not both")
            return await asyncio.to_thread(found_saying, database, q, limit)
        about = None if not order else order_flag(order, "order", settings.order_id_pattern)
        found = await asyncio.to_thread(SessionStore(database).list, limit=limit, order_id=about)
        return {"conversations": [c.to_dict(messages=False) for c in found]}

    @app.get("/v1/stats", summary="The figures of a period (since: 7d, 24h or a date; default 7d): turns, "
                                   "escalations, tickets, the model; `triage stats --json`'s object")
    async def figures(since: str = Query("7d", max_length=40)) -> dict[str, Any]:
        return await asyncio.to_thread(figures_since, database, since)

    @app.get("/v1/conversations/{conversation_id}", summary="One conversation: its turns, states, records, usage")
    async def conversation(conversation_id: str) -> dict[str, Any]:
        store = SessionStore(database)
        stored = await asyncio.to_thread(lambda: store.get(store.resolve(conversation_id)))
        return stored.to_dict()

    app.include_router(ticket_routes(database, secrets_redactor(settings, server)))

    @app.get("/v1/me", summary="Who the server takes the caller for: their agent name (null: the request names it), "
                               "and whether they may force")
    async def me(request: Request) -> dict[str, Any]:
        return actor(request).to_dict()

    @app.get("/healthz", summary="Whether the server and its database answer (503 when the database does not)")
    async def healthz() -> Response:
        reachable = await _answers(database)
        return SafeJSONResponse(
            {"ok": reachable, "version": __version__, "provider": settings.provider, "model": settings.model,
             "database": reachable, "replica": replica(), "turns": service.gate.active,
             "max_turns": service.gate.limit},  # turns: this process's (max_concurrent_turns is per process)
            status_code=200 if reachable else 503)

    if server.metrics == "on":
        _add_metrics(app, service, database, settings)
    add_page(app)
    return app


def _add_metrics(app: FastAPI, service: Service, database: Database, settings: Settings) -> None:
    from triage_cli.server.metrics import Metrics

    metrics = Metrics(database, settings.provider)
    service.observe = metrics.observed

    @app.get("/metrics", summary="Prometheus metrics: turns, their times, tokens, errors, tool calls, streams, "
                                 "open tickets (every worker's, summed)")
    async def exposition() -> Response:
        body, content_type = await asyncio.to_thread(metrics.exposition)
        return Response(body, media_type=content_type)


HEALTH_SECONDS = 1.0  # a balancer's check is answered within this, however long the database's own timeout


async def _answers(database: Database) -> bool:
    """Whether the database answers a read within HEALTH_SECONDS (one that takes longer goes on in
    its thread and is forgotten)."""
    check = asyncio.ensure_future(asyncio.to_thread(SessionStore(database).list, limit=1))
    check.add_done_callback(lambda done: done.cancelled() or done.exception())  # a late failure is not logged
    try:
        await asyncio.wait_for(asyncio.shield(check), HEALTH_SECONDS)
        return True
    except (TriageError, TimeoutError):
        return False


async def _collect(events: EventStream, turn: TurnSummary) -> None:
    async with contextlib.aclosing(events):
        async for event in events:
            turn.add(event)


def _handle_errors(app: FastAPI) -> None:
    """Every error is `{"error": {"message", "code"}}`: ours, a store's, a bad query, an unknown route."""

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def triage_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TriageError)
        return error_response(from_triage_error(exc))

    async def bad_query(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}"
                             for e in exc.errors())
        return error_response(ApiError(400, "invalid", problems or "invalid request"))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(ApiError(exc.status_code, code, str(exc.detail)), dict(exc.headers or {}))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(TriageError, triage_error)
    app.add_exception_handler(RequestValidationError, bad_query)
    app.add_exception_handler(StarletteHTTPException, http_error)  # a bug: guard.RequestLog answers it


def _add_guards(app: FastAPI, server: ServerSettings, identities: Identities) -> None:
    """Outermost first: the log line, Host and Origin, CORS (its preflights), who is asking."""
    app.add_middleware(Guard, identify=identities.identify)
    if server.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(server.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(SameSite, bound=server.host, allowed_hosts=server.allowed_hosts,
                       cors_origins=server.cors_origins)
    app.add_middleware(RequestLog)


def found_saying(database: Database, text: str, limit: int) -> dict[str, Any]:
    """`GET /v1/conversations?q=`: the hits, best first, and the conversations they are in."""
    hits = search(database, text, limit)
    ids = list(dict.fromkeys(hit.conversation_id for hit in hits if hit.conversation_id is not None))
    found = {c.id: c for c in SessionStore(database).list(among=ids)}
    return {"query": text, "hits": [hit.to_dict() for hit in hits],
            "conversations": [found[i].to_dict(messages=False) for i in ids if i in found]}
