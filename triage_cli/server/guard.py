"""Around every request: the bearer token (every route but /healthz and the page's files, when a
token is set) and the log line (method, path, status, time; never a body, a query string or a
header)."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triage_cli.server.limits import authorized
from triage_cli.server.problems import ApiError
from triage_cli.ui.sanitize import one_line

log = logging.getLogger("triage.serve")
OPEN_PATHS = ("/healthz", "/")  # the page (page.py) asks for the token itself, for the routes it calls
OPEN_PREFIXES = ("/static/",)  # the page's script, style and libraries: the same files in every install


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers={**error.headers, **(headers or {})})


class Guard:
    """401 for a request without the right `Authorization: Bearer TOKEN`."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if scope["type"] == "http" and path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES):
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            if not authorized(header, self.token):
                refusal = ApiError(401, "unauthorized", "this server needs Authorization: Bearer TOKEN",
                                   headers={"WWW-Authenticate": "Bearer"})
                await error_response(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class RequestLog:
    """One line per request when its response has ended (a stream: when the stream ends)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            log.info("%s %s %d %.0f ms", scope["method"], _path(scope), status[0],
                     (time.perf_counter() - started) * 1000)


def _path(scope: dict[str, Any] | Scope) -> str:
    return one_line(str(scope.get("path", "")))[:200]
