"""The model adapter's HTTP transport: the SDK's client (its requests, retries, errors) sending
through aiohttp, whose parser is in C and whose reads hand over all a stream has queued at once.
The SDK's own transport parses a streamed body in Python and reads one socket chunk per wakeup;
at 200 streams in one server process that was most of the difference in delay
(benchmarks/serve_bench.py). Imported only when a model is called.

Each aiohttp failure is raised as the HTTP library's own (httpx, or httpx2 for newer SDKs), so
the SDK and model_errors.py see a refused connection as a connect error, a stalled read as a read
timeout and a dropped body as a read error, as with the SDK's transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

import aiohttp

# The SDK's connection limits (openai's DEFAULT_CONNECTION_LIMITS): a server answering hundreds of
# turns at once must not queue them behind aiohttp's default of 100 connections.
MAX_CONNECTIONS = 1000
KEEP_ALIVE_SECONDS = 5.0


# Each aiohttp failure, in order (the first that fits), and the HTTP library's exception it is.
_RAISED_AS: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    ((aiohttp.ConnectionTimeoutError,), "ConnectTimeout"),
    ((aiohttp.ServerTimeoutError, asyncio.TimeoutError), "ReadTimeout"),
    ((aiohttp.ClientProxyConnectionError,), "ProxyError"),
    ((aiohttp.ClientConnectorError,), "ConnectError"),
    ((aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError), "UnsupportedProtocol"),
    ((aiohttp.ClientResponseError,), "RemoteProtocolError"),
    ((aiohttp.ClientError, OSError), "ReadError"),
)


def _raised_as(exc: BaseException, http: ModuleType) -> type[Exception] | None:
    """The HTTP library's exception type for an aiohttp failure (None: not a transport failure)."""
    return next((getattr(http, name) for kinds, name in _RAISED_AS if isinstance(exc, kinds)), None)


@contextlib.contextmanager
def _failures_as(http: ModuleType) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        kind = _raised_as(exc, http)
        if kind is None:
            raise
        raise kind(str(exc) or type(exc).__name__) from exc


def sdk_transport(client_class: type) -> Any:
    """A transport for `client_class` (the SDK's DefaultAsyncHttpxClient), of its HTTP library."""
    library = next(c.__module__ for c in client_class.__mro__ if c.__module__.startswith("httpx"))
    return transport(sys.modules[library.partition(".")[0]])


def _tls(http: ModuleType) -> ssl.SSLContext:
    """The certificates the SDK's own transport trusts (certifi's, or SSL_CERT_FILE / SSL_CERT_DIR)."""
    create = getattr(http, "create_ssl_context", None)
    return create() if create is not None else ssl.create_default_context()


def _proxy_for(scheme: str, host: str) -> str | None:
    """The proxy the environment names for a URL (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY; none for a
    host in NO_PROXY), as the SDK's own transport reads it. Not aiohttp's `trust_env`: that also
    reads ~/.netrc, whose login for the endpoint's host would clash with the API key's header."""
    proxies = urllib.request.getproxies_environment()
    if not proxies or urllib.request.proxy_bypass(host):
        return None
    return proxies.get(scheme) or proxies.get("all")


def transport(http: ModuleType) -> Any:
    """An AsyncBaseTransport of `http` (the SDK's HTTP library) that sends through aiohttp."""

    class Body(http.AsyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, response: aiohttp.ClientResponse) -> None:
            self._response = response

        async def __aiter__(self) -> AsyncIterator[bytes]:
            with _failures_as(http):
                async for chunk in self._response.content.iter_any():
                    yield chunk

        async def aclose(self) -> None:
            if self._response.content.at_eof():
                self._response.release()  # read to its end: the connection serves the next call
            else:
                self._response.close()  # cut short (a cancelled answer): the connection is dropped

    class AiohttpTransport(http.AsyncBaseTransport):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            self._session: aiohttp.ClientSession | None = None

        async def handle_async_request(self, request: Any) -> Any:
            if self._session is None:  # made on the loop that uses it
                self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
                    limit=MAX_CONNECTIONS, keepalive_timeout=KEEP_ALIVE_SECONDS, ssl=_tls(http)), auto_decompress=False)
            timeout = request.extensions.get("timeout", {})
            with _failures_as(http):
                response = await self._session.request(
                    request.method, str(request.url), data=await request.aread() or None,
                    proxy=_proxy_for(request.url.scheme, request.url.host),
                    headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
                    allow_redirects=False, compress=None, skip_auto_headers=("Accept-Encoding", "User-Agent"),
                    timeout=aiohttp.ClientTimeout(sock_connect=timeout.get("connect"), sock_read=timeout.get("read"),
                                                  connect=timeout.get("pool")))
            return http.Response(status_code=response.status, headers=response.raw_headers, stream=Body(response),
                                 request=request, extensions={"http_version": b"HTTP/1.1",
                                                              "reason_phrase": (response.reason or "").encode()})

        async def aclose(self) -> None:
            if self._session is not None:
                await self._session.close()
                self._session = None

    return AiohttpTransport()
