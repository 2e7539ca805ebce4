"""The model adapter: the only module that imports openai, and only when a model is called.

It turns the SDK's streamed chunks into our own small pieces and the SDK's exceptions into
ModelError with one line a support agent can act on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import jiter

from triage_cli.engine.model_errors import KeptAlive, Phase, empty_stream, provider_says, stream_error
from triage_cli.engine.sse import sse_batches
from triage_cli.errors import EmptyStream, ModelError
from triage_cli.providers import without_credentials


@dataclass(frozen=True)
class TextPiece:
    text: str


@dataclass(frozen=True)
class ReasoningPiece:
    text: str


@dataclass(frozen=True)
class ToolCallPiece:
    """A fragment of a streamed tool call; fragments with one index belong together."""

    index: int | None  # some servers leave it out
    id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True)
class UsagePiece:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class FinishPiece:
    reason: str


Piece = TextPiece | ReasoningPiece | ToolCallPiece | UsagePiece | FinishPiece


class ChatModel(Protocol):
    """What the agent needs from a model: one chat completion at a time, streamed or not; both
    give the same pieces, so the agent reads them with one code path."""

    name: str

    def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        allow_tools: bool = True,
        response_format: dict[str, Any] | None = None,
    ) -> AsyncGenerator[Piece, None]: ...

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        allow_tools: bool = True,
        response_format: dict[str, Any] | None = None,
    ) -> list[Piece]: ...

    def warm_up(self) -> None: ...

    async def aclose(self) -> None: ...


CONNECT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Endpoint:
    provider: str
    base_url: str
    api_key: str
    model: str
    timeout: float
    key_env: str | None = None
    retries: int = 2  # by the SDK, with backoff, honouring Retry-After; never once a stream has started
    temperature: float | None = None  # None: the endpoint's own default
    max_tokens: int | None = None


class OpenAIChatModel:
    """A ChatModel for any OpenAI-compatible endpoint."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.name = endpoint.model
        self._client: Any = None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def warm_up(self) -> None:
        """Import the SDK and build the client now (about 1 s), not on the first question."""
        self._get_client()

    def _get_client(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI  # ~1 s: only paths that call a model pay for it

            from openai import Timeout

            timeout = self.endpoint.timeout
            from openai import DefaultAsyncHttpxClient

            from triage_cli.engine.http_transport import sdk_transport

            self._client = AsyncOpenAI(
                api_key=self.endpoint.api_key,
                base_url=self.endpoint.base_url,
                # A host that drops packets is given up on sooner than a model that thinks.
                timeout=Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS)),
                max_retries=self.endpoint.retries,
                http_client=DefaultAsyncHttpxClient(transport=sdk_transport(DefaultAsyncHttpxClient),
                                                    event_hooks={"response": [_no_retry_for_refusals]}),
            )
        return self._client

    def _request(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], allow_tools: bool,
                 response_format: dict[str, Any] | None, stream: bool) -> dict[str, Any]:
        request: dict[str, Any] = {"model": self.endpoint.model, "messages": _wire(messages), "stream": stream}
        if stream:
            request["stream_options"] = {"include_usage": True}
        if tools:
            request["tools"] = tools
            request["tool_choice"] = "auto" if allow_tools else "none"
        if response_format is not None:
            request["response_format"] = response_format
        if self.endpoint.temperature is not None:
            request["temperature"] = self.endpoint.temperature
        if self.endpoint.max_tokens is not None:  # OpenAI's own API takes only the new name for newer models
            request["max_completion_tokens" if self.endpoint.provider == "openai" else "max_tokens"] = self.endpoint.max_tokens
        return request

    def _sdk_client(self) -> Any:
        """The SDK client, or a ModelError saying what the SDK refused about the endpoint."""
        try:
            return self._get_client()
        except Exception as exc:  # noqa: BLE001 - whatever the SDK refuses about the endpoint
            raise ModelError(f"cannot set up a client for {self.endpoint.provider} at "
                             f"{self.endpoint.base_url}: {exc}") from None

    async def list_models(self) -> list[dict[str, Any]]:
        """The models the endpoint's /models lists (id, owned_by, created), as it says them."""
        import openai

        try:
            return [{"id": str(m.id), "owned_by": getattr(m, "owned_by", None), "created": getattr(m, "created", None)}
                    async for m in self._sdk_client().models.list()]
        except ModelError:
            raise
        except openai.NotFoundError:
            raise ModelError(f"{self.endpoint.provider} at {without_credentials(self.endpoint.base_url)} has no list "
                             "of models (HTTP 404 for /models)") from None
        except Exception as exc:
            raise stream_error(exc, "request", {"model": self.endpoint.model}, self.endpoint) from None

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        allow_tools: bool = True,
        response_format: dict[str, Any] | None = None,
    ) -> list[Piece]:
        """One chat completion with `stream: false`, as the pieces a stream would give: for
        servers that cannot stream tool calls. Raises as stream() does."""

        request = self._request(messages, tools, allow_tools, response_format, stream=False)
        try:
            completion = await self._sdk_client().chat.completions.create(**request)
            return _completion_pieces(completion)
        except ModelError:
            raise
        except Exception as exc:
            raise stream_error(exc, "request", request, self.endpoint) from None

    async def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        allow_tools: bool = True,
        response_format: dict[str, Any] | None = None,
    ) -> AsyncGenerator[Piece, None]:
        """One streamed chat completion. Raises StructuredOutputRejected when the endpoint
        refuses `response_format`, ModelError for any other failure."""
        import openai

        request = self._request(messages, tools, allow_tools, response_format, stream=True)
        phase: Phase = "request"
        exits = contextlib.AsyncExitStack()
        try:
            client = self._sdk_client()
            # The SDK sends the request (retries, backoff, error types); the body is read here:
            # its own loop builds a model object per chunk, most of the cost of a fast stream.
            response = (await exits.enter_async_context(
                client.chat.completions.with_streaming_response.create(**request))).http_response
            phase = "headers"
            finished = False
            # Closed as soon as this stops: its deadline must not outlive the read.
            chunks = await exits.enter_async_context(contextlib.aclosing(
                _chunks(sse_batches(_body(response, openai)), self.endpoint.timeout, openai, response)))
            async for batch in chunks:
                phase = "chunks" if phase == "headers" else phase
                for piece in _coalesced([piece for chunk in batch for piece in _pieces(chunk)]):
                    phase = "said" if not isinstance(piece, UsagePiece) else phase
                    finished = finished or isinstance(piece, FinishPiece)
                    yield piece
            if phase != "said":
                raise empty_stream(self.endpoint.provider, request)
            if not finished:
                # A proxy closing a connection-delimited body, or [DONE] before the end.
                raise ModelError(f"the stream from {self.endpoint.provider} ended before the answer was complete "
                                 "(no finish_reason)")
        except ModelError:
            raise
        except Exception as exc:
            raise stream_error(exc, phase, request, self.endpoint) from None
        finally:
            # Closing matters on cancel: it drops the HTTP stream at once.
            await exits.aclose()


async def _chunks(batches: AsyncIterator[list[bytes]], timeout: float, openai: Any,
                  response: Any) -> AsyncGenerator[list[dict[str, Any]], None]:
    """The stream's chunks, parsed, a list for each read of the body, until [DONE]; an error
    chunk raised as the SDK's own loop raises it; TimeoutError after `timeout` seconds without a
    chunk. The read timeout alone misses a server that sends keep-alive comments forever: the
    deadline moves with the chunks, in steps of 1% (moving a timer costs more than reading a
    chunk), set one step late: the stall is called between 100% and 101% of `timeout` after the
    last chunk. A server that sent only keep-alive comments meanwhile is KeptAlive: still there,
    but not answering (llama-cpp-python's, asked to stream tool calls it cannot)."""
    step = timeout / 100
    pinged = False
    try:
        async with asyncio.timeout(timeout + step) as deadline, \
                contextlib.aclosing(_moving(batches, deadline, timeout, step, openai, response)) as moving:
            async for batch in moving:
                if not batch:
                    pinged = True
                    continue
                pinged = False
                yield batch
    except TimeoutError:
        raise (KeptAlive() if pinged else TimeoutError()) from None


async def _moving(batches: AsyncIterator[list[bytes]], deadline: asyncio.Timeout, timeout: float, step: float,
                  openai: Any, response: Any) -> AsyncGenerator[list[dict[str, Any]], None]:
    """The parsed chunks of each read (an empty list for a read of keep-alives), the deadline
    moved on by each read that brought one."""
    loop = asyncio.get_running_loop()
    moved = loop.time()
    async for batch in batches:
        parsed: list[dict[str, Any]] = []
        for data in batch:
            if data.startswith(b"[DONE]"):
                if parsed:
                    yield parsed
                await _drain(batches, openai)
                return
            chunk = jiter.from_json(data)
            if isinstance(chunk, dict) and chunk.get("error"):
                if parsed:  # what came before the error in the same read is said first
                    yield parsed
                error = chunk["error"]
                message = error.get("message") if isinstance(error, dict) else None
                raise openai.APIError(message if isinstance(message, str) and message else
                                      "An error occurred during streaming", response.request, body=error)
            parsed.append(chunk)
        now = loop.time()
        if parsed and now - moved >= step:  # a keep-alive does not move it
            moved = now
            deadline.reschedule(now + timeout + step)
        yield parsed


def _coalesced(pieces: list[Piece]) -> list[Piece]:
    """Text (and reasoning) pieces that arrived together as one: a reader that fell behind passes
    one event on through every layer for what queued up, not one a token, so it catches up."""
    merged: list[Piece] = []
    for piece in pieces:
        last = merged[-1] if merged else None
        if isinstance(piece, TextPiece) and isinstance(last, TextPiece):
            merged[-1] = TextPiece(last.text + piece.text)
        elif isinstance(piece, ReasoningPiece) and isinstance(last, ReasoningPiece):
            merged[-1] = ReasoningPiece(last.text + piece.text)
        else:
            merged.append(piece)
    return merged


async def _body(response: Any, openai: Any) -> AsyncIterator[bytes]:
    """The response body's bytes, with its transport's failures raised as the SDK's own loop
    raises them (a timeout, or a connection error), so they read the same to the caller."""
    import anyio

    transport = sys.modules[type(response).__module__.partition(".")[0]]  # httpx2, or httpx for older SDKs
    try:
        async for chunk in response.aiter_bytes():
            yield chunk
    except transport.TimeoutException as exc:
        raise openai.APITimeoutError(request=response.request) from exc
    except (transport.RequestError, transport.StreamError, ssl.SSLError, anyio.ClosedResourceError,
            anyio.BrokenResourceError, anyio.EndOfStream) as exc:
        raise openai.APIConnectionError(request=response.request) from exc


DRAIN_SECONDS = 0.1


async def _drain(events: AsyncIterator[Any], openai: Any) -> None:
    """After [DONE]: the rest of an HTTP/1.1 body read (briefly), so the connection is reused by
    the next call (a tool round's answer) instead of a new one (a TLS handshake) being opened."""
    with contextlib.suppress(TimeoutError, openai.APIError):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in events:
                pass


def _text(value: Any, what: str) -> str:
    """A string field of a chunk; anything else means a stream triage cannot trust."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ModelError(f"the model service sent a stream triage cannot read: {what} is {type(value).__name__}, "
                         "not text")
    return value


def _pieces(chunk: dict[str, Any]) -> list[Piece]:
    """A chat.completion.chunk, as parsed JSON, as pieces. Called for every chunk of every answer:
    plain dict lookups, no model object."""
    pieces: list[Piece] = []
    usage = chunk.get("usage")
    if usage:
        pieces.append(UsagePiece(usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0))
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta")
        if delta:
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                pieces.append(ReasoningPiece(reasoning))
            content = _text(delta.get("content"), "content")
            if content:
                pieces.append(TextPiece(content))
            for call in delta.get("tool_calls") or ():
                function = call.get("function")
                pieces.append(ToolCallPiece(
                    index=call.get("index"),
                    id=_text(call.get("id"), "a tool call id") or None,
                    name=_text(function.get("name"), "a tool name") or None if function else None,
                    arguments=_text(function.get("arguments"), "tool arguments") if function else "",
                ))
        if choice.get("finish_reason"):
            pieces.append(FinishPiece(choice["finish_reason"]))
    return pieces


def _wire(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages as sent: an assistant message that only calls tools carries `content: ""`,
    not null. llama-cpp-python's server refuses null (HTTP 500, "Input should be a valid string")
    and its chatml-function-calling template needs the field; OpenAI takes either."""
    return [{**m, "content": ""} if m.get("content") is None and m.get("tool_calls") else m for m in messages]


def _completion_pieces(completion: Any) -> list[Piece]:
    """A non-streamed chat.completion as the pieces its stream would have given."""
    pieces: list[Piece] = []
    usage = getattr(completion, "usage", None)
    for choice in getattr(completion, "choices", None) or ():
        message = choice.message
        extra = (message.model_extra or {}) if message is not None else {}
        reasoning = extra.get("reasoning_content") or extra.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            pieces.append(ReasoningPiece(reasoning))
        content = _text(message.content, "content") if message is not None else ""
        if content:
            pieces.append(TextPiece(content))
        for index, call in enumerate((message.tool_calls if message is not None else None) or ()):
            function = getattr(call, "function", None)
            pieces.append(ToolCallPiece(
                index=index,
                id=_text(call.id, "a tool call id") or None,
                name=_text(function.name, "a tool name") or None if function else None,
                arguments=_text(function.arguments, "tool arguments") if function else "",
            ))
        pieces.append(FinishPiece(choice.finish_reason or "stop"))
    if not pieces:
        raise EmptyStream("the server sent a completion without an answer")
    if usage:
        pieces.append(UsagePiece(usage.prompt_tokens or 0, usage.completion_tokens or 0))
    return pieces


# What a server's refusal names, lower-cased: a request it will never take, so asking again is a
# wasted call. llama-cpp-python answers json_schema with a 500 and "Input should be 'text' or
# 'json_object'", and a streamed call offering tools with "Automatic streaming tool choice is not
# supported" (as an SSE error or an empty 200 stream).
async def _no_retry_for_refusals(response: Any) -> None:
    """An httpx response hook: a 5xx that names something the server cannot do, or a request it
    failed to validate, is not retried (the SDK obeys `x-should-retry`), so a 500 about
    json_schema costs one call, not 3."""
    if response.status_code < 500:
        return  # 4xx are not retried anyway (but 408/409/429, which are never refusals)
    await response.aread()
    try:
        body = response.json()
    except ValueError:
        body = None
    message = response.text
    if isinstance(body, dict):
        inner = body.get("error")
        message = str((inner.get("message") if isinstance(inner, dict) else body.get("message")) or message)
    if provider_says(response.status_code, message) or "validation error" in message.lower():
        # A request the server's schema rejects (llama-cpp-python answers those with a 500)
        # fails the same way every time.
        response.headers["x-should-retry"] = "false"
