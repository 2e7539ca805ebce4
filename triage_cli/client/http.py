"""A small client of `triage serve`'s HTTP API: the streamed chat turn (SSE), the JSON routes,
and one clear `ServerError` line for each way a server can fail (unreachable, 401, 429, another
4xx, a dropped stream). The HTTP library is the one the openai SDK brings (httpx2, or httpx for
older SDKs), imported only when a command talks to a server."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from triage_cli.errors import QueueEmpty, ServerError, ServerRefused

CONNECT_SECONDS = 10.0
READ_SECONDS = 60.0  # the server sends a keep-alive comment every 15 s while a turn is quiet


class ServerClient:
    """One server: `url` (http://host:port) and its bearer token, if it needs one."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token or None
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The HTTP client (an httpx AsyncClient), made on first use."""
        if self._client is None:
            httpx = _http()
            headers = {"Accept": "application/json"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._client = httpx.AsyncClient(
                base_url=self.url, headers=headers,
                timeout=httpx.Timeout(READ_SECONDS, connect=CONNECT_SECONDS), trust_env=False)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # the JSON routes ---------------------------------------------------------------------------

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self._call("GET", path, params={k: v for k, v in (params or {}).items() if v is not None})

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return await self._call("POST", path, json=body or {})

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        httpx = _http()
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None
        self.check(response.status_code, response.headers, response.content)
        try:
            return response.json()
        except ValueError:
            raise ServerError(f"the triage server at {self.url} sent something that is not JSON") from None

    # the streamed turn -------------------------------------------------------------------------

    async def stream(self, path: str, body: dict[str, Any]) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
        """(event name, data) for each server-sent event of the turn, up to `done` or `error`; the
        iterator ends with the body, once the server has stored the turn. Closing it (a cancelled
        turn: Ctrl-C) closes the HTTP stream, which the server stores as interrupted. A stream
        that ends before `done` or `error` is a ServerError."""
        httpx = _http()
        headers = {"Accept": "text/event-stream"}
        ended = False
        try:
            async with self.client.stream("POST", path, json=body, headers=headers) as response:
                if response.status_code >= 400:
                    self.check(response.status_code, response.headers, await response.aread())
                async for name, data in _events(response.aiter_lines()):
                    if not ended:
                        yield name, data
                    # Read on to the end of the body: the server stores the turn after `done`,
                    # and a client that hung up before then would have it stored as interrupted.
                    ended = ended or name in ("done", "error")
        except httpx.HTTPError as exc:
            if not ended:
                raise self.dropped(exc) from None
        if not ended:
            raise self.dropped(None)

    # the errors --------------------------------------------------------------------------------

    def unreachable(self, exc: BaseException) -> ServerError:
        httpx = _http()
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            return ServerError(f"cannot reach the triage server at {self.url}: {_cause(exc)}")
        return self.dropped(exc)

    def dropped(self, exc: BaseException | None) -> ServerError:
        httpx = _http()
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            return self.unreachable(exc)
        why = f": {_cause(exc)}" if exc is not None else ""
        return ServerError(f"the connection to the triage server at {self.url} was lost{why}")

    def check(self, status: int, headers: Any, content: bytes) -> None:
        """Raise the one-line ServerError a failed response means."""
        if status < 400:
            return
        if status == 401:
            which = ("refused the token (TRIAGE_AGENT_TOKEN or agent_token, else TRIAGE_SERVER_TOKEN)" if self.token
                     else "needs a token: set TRIAGE_AGENT_TOKEN (yours, from triage agents add) or agent_token")
            raise ServerError(f"the triage server at {self.url} {which} (401)")
        if status == 429:
            wait = headers.get("retry-after")
            after = f"; try again in {wait} s" if wait and wait.isdigit() else "; try again shortly"
            raise ServerError(f"the triage server at {self.url} is answering too many questions at once (429){after}")
        message = _error_message(content) or f"HTTP {status}"
        if _error_code(content) == "queue_empty":  # exit 1, as without a server
            raise QueueEmpty(f"the triage server at {self.url} said: {message}")
        refused = ServerRefused if status in (400, 404, 409, 413, 415, 422) else ServerError
        raise refused(f"the triage server at {self.url} said: {message} ({status})")


def _http() -> Any:
    """The SDK's HTTP library: httpx2 (openai 3), else httpx."""
    import importlib

    try:
        return importlib.import_module("httpx2")
    except ImportError:
        return importlib.import_module("httpx")


async def _events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Server-sent events from the body's lines: comments (keep-alives) and `id:` are skipped;
    an event is dispatched at its blank line, so one cut off before it is not read."""
    name, data = "message", list[str]()
    async for line in lines:
        if not line:
            if data:
                try:
                    value = json.loads("\n".join(data))
                except ValueError:
                    value = None
                if isinstance(value, dict):
                    yield name, value
            name, data = "message", list[str]()
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)


def _error_message(content: bytes) -> str | None:
    """The message of the API's `{"error": {"message": ...}}`, if that is what came back."""
    message = _error_field(content, "message")
    return " ".join(str(message).split())[:300] if message else None


def _error_code(content: bytes) -> str | None:
    code = _error_field(content, "code")
    return code if isinstance(code, str) else None


def _error_field(content: bytes, name: str) -> object:
    try:
        error = json.loads(content).get("error")
    except (ValueError, AttributeError):
        return None
    return error.get(name) if isinstance(error, dict) else None


def _cause(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())[:200]
