"""Around every request, outermost first:

- `RequestLog`: one line per request (method, path, status, time; never a body, a query string or
  a header), and one escaped line, no traceback, for a request triage failed on;
- `SameSite`: 421 for a Host that is not this server's (DNS rebinding), 403 for an Origin that is
  neither this server's nor one of `cors_origins` (a page elsewhere acting through the browser);
- (CORS, when origins are listed: it answers their preflights)
- `Guard`: who is asking (identity.py: 401 without a token when one is needed), and 415 for a
  state-changing request that is not `Content-Type: application/json`, empty bodies included,
  so no "simple" cross-site request (a form, a no-cors fetch) can change anything."""

from __future__ import annotations

import logging
import re
import os
import secrets
import time
import traceback
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triage_cli.server.problems import ApiError
from triage_cli.server.wire import SafeJSONResponse, log_text

log = logging.getLogger("triage.serve")
OPEN_PATHS = ("/healthz", "/")  # the page (page.py) asks for the token itself, for the routes it calls
OPEN_PREFIXES = ("/static/",)  # the page's script, style and libraries: the same files in every install
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
CHANGING = ("POST", "PUT", "PATCH", "DELETE")
INTERNAL = ApiError(500, "internal", "triage failed on this request")


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    return SafeJSONResponse(error.body(), status_code=error.status, headers={**error.headers, **(headers or {})})


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class SameSite:
    """421 unless the Host names this server; 403 when an Origin is neither its own nor allowed."""

    def __init__(self, app: ASGIApp, bound: str, allowed_hosts: Collection[str], cors_origins: Collection[str]) -> None:
        self.app = app
        self.hosts = {name.lower().strip("[]") for name in (bound, *LOOPBACK_NAMES, *allowed_hosts)}
        self.any_host = "*" in self.hosts
        self.origins = {origin.rstrip("/").lower() for origin in cors_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(header(scope, b"host") or "", header(scope, b"origin"))
            if refusal is not None:
                await error_response(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, host: str, origin: str | None) -> ApiError | None:
        if not self.any_host and host_name(host) not in self.hosts:
            return ApiError(421, "unknown_host", "this server does not answer for that Host name; "
                                                 "list it in allowed_hosts to serve it")
        if origin is not None and origin.rstrip("/").lower() not in self.origins \
                and urlsplit(origin).netloc.lower() != host.lower():
            return ApiError(403, "foreign_origin", "requests from pages elsewhere are refused; "
                                                   "list the page's origin in cors_origins to allow it")
        return None


_HOST = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._*-]+))(?::[0-9]{1,5})?")


def host_name(host: str) -> str:
    """The name in a Host header, without its port: `[::1]:8787` -> `::1`; "" for anything that
    is not a name or an address with an optional port (`localhost:evil`, `a@b`, `[::1]x`)."""
    found = _HOST.fullmatch(host.strip().lower())
    return "" if found is None else found["v6"] or found["name"]


class Guard:
    """Who is asking, kept in `scope["state"]["actor"]` for the routes (a refusal from `identify`
    ends the request); then 415 for a state-changing request that does not say it sends JSON."""

    def __init__(self, app: ASGIApp, identify: Callable[[str | None], Any]) -> None:
        self.app, self.identify = app, identify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_open(scope["path"]):
            try:
                scope.setdefault("state", {})["actor"] = await self.identify(header(scope, b"authorization"))
                if scope["method"] in CHANGING and not _is_json(header(scope, b"content-type")):
                    raise ApiError(415, "unsupported_media_type",
                                   "send a JSON body (even {}) with Content-Type: application/json")
            except ApiError as refusal:
                await error_response(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _is_json(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "application/json"


_REPLICA: dict[int, str] = {}


def replica() -> str:
    """Which process answered, behind a balancer: its pid and a random tag (no host name goes
    out), made in the process itself (a worker forked from `serve --workers` gets its own)."""
    return _REPLICA.setdefault(os.getpid(), f"{os.getpid()}.{secrets.token_hex(3)}")


class RequestLog:
    """One line per request when its response has ended (a stream: when the stream ends). A
    request triage fails on gets a 500 (when nothing was sent yet) and one line naming the error's
    type and where it was raised: never its message, which may hold what the request sent. Every
    response says which replica answered it (`X-Triage-Replica`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [0]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (b"x-triage-replica", replica().encode("ascii"))]}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:  # a bug: answered and logged here, so no traceback reaches the log
            log.error("%s %s failed: %s", scope["method"], _path(scope), _where(exc))
            if not status[0]:
                await error_response(INTERNAL)(scope, receive, sending)
        finally:
            log.info("%s %s %d %.0f ms", scope["method"], _path(scope), status[0] or 500,
                     (time.perf_counter() - started) * 1000)


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    place = f" at {frames[-1].filename.rpartition('/')[2]}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{place}"


def _path(scope: dict[str, Any] | Scope) -> str:
    return log_text(str(scope.get("path", "")))[:200]
