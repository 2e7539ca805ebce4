"""The model adapter: the only module that imports openai, and only when a model is called.

It turns the SDK's streamed chunks into our own small pieces and the SDK's exceptions into
ModelError with one line a support agent can act on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import jiter

from triage_cli.engine.sse import sse_data
from triage_cli.errors import (
    ContextTooLong,
    EmptyStream,
    ModelError,
    StructuredOutputRejected,
    ToolStreamingUnsupported,
)
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
    ) -> AsyncIterator[Piece]: ...

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

            self._client = AsyncOpenAI(
                api_key=self.endpoint.api_key,
                base_url=self.endpoint.base_url,
                # A host that drops packets is given up on sooner than a model that thinks.
                timeout=Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS)),
                max_retries=self.endpoint.retries,
                http_client=DefaultAsyncHttpxClient(event_hooks={"response": [_no_retry_for_refusals]}),
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
        return request

    def _refusal(self, exc: Exception, request: dict[str, Any]) -> ModelError:
        """The error for a failed call: a refusal the agent can step around, or a plain one."""
        line = describe_api_error(exc, self.endpoint)
        refused = refusal_of(getattr(exc, "status_code", None), _server_message(exc))
        if refused == "response_format" and "response_format" in request:
            return StructuredOutputRejected(line)
        if refused == "tool_streaming" and request.get("stream") and "tools" in request:
            return ToolStreamingUnsupported(line)
        if getattr(exc, "status_code", None) == 400 and _context_too_long(exc):
            return ContextTooLong(line)
        return ModelError(line)

    def _sdk_client(self) -> Any:
        """The SDK client, or a ModelError saying what the SDK refused about the endpoint."""
        try:
            return self._get_client()
        except Exception as exc:  # noqa: BLE001 - whatever the SDK refuses about the endpoint
            raise ModelError(f"cannot set up a client for {self.endpoint.provider} at "
                             f"{self.endpoint.base_url}: {exc}") from None

    def _empty(self, request: dict[str, Any]) -> ModelError:
        """A 200 stream that ended (or broke) before any chunk: llama-cpp-python's server does
        this when it cannot stream tool calls (it fails after sending its headers)."""
        line = f"{self.endpoint.provider} ended the stream without an answer"
        return ToolStreamingUnsupported(line) if "tools" in request else EmptyStream(line)

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
        import openai

        request = self._request(messages, tools, allow_tools, response_format, stream=False)
        try:
            completion = await self._sdk_client().chat.completions.create(**request)
            return _completion_pieces(completion)
        except openai.APIError as exc:
            raise self._refusal(exc, request) from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(f"{self.endpoint.provider} sent an answer triage cannot read: {exc}") from None

    async def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        allow_tools: bool = True,
        response_format: dict[str, Any] | None = None,
    ) -> AsyncIterator[Piece]:
        """One streamed chat completion. Raises StructuredOutputRejected when the endpoint
        refuses `response_format`, ModelError for any other failure."""
        import openai

        request = self._request(messages, tools, allow_tools, response_format, stream=True)
        response = None
        started = False  # once chunks arrive, a failure is a cut stream, not a refused connection
        said_anything = finished = False
        provider, timeout = self.endpoint.provider, self.endpoint.timeout
        stalled = (f"the stream from {provider} stalled: nothing for {timeout:g} s (the timeout setting), "
                   "so the answer is incomplete")
        exits = contextlib.AsyncExitStack()
        try:
            client = self._sdk_client()
            # The SDK sends the request (retries, backoff, error types); the body is read here:
            # its own loop builds a model object per chunk, most of the cost of a fast stream.
            response = (await exits.enter_async_context(
                client.chat.completions.with_streaming_response.create(**request))).http_response
            events = sse_data(_body(response, openai))
            loop = asyncio.get_running_loop()
            # The read timeout alone misses a server that sends keep-alive comments forever: the
            # deadline moves with the chunks, so `timeout` seconds without one end the stream. It
            # moves in steps of 1% (moving a timer costs more than reading a chunk), set one step
            # late: the stall is called between 100% and 101% of `timeout` after the last chunk.
            step = timeout / 100
            moved = loop.time()
            async with asyncio.timeout_at(moved + timeout + step) as deadline:
                async for data in events:
                    if data.startswith(b"[DONE]"):
                        await _drain(events, openai)
                        break
                    chunk = jiter.from_json(data)
                    if isinstance(chunk, dict) and chunk.get("error"):  # as the SDK's own loop raises it
                        error = chunk["error"]
                        message = error.get("message") if isinstance(error, dict) else None
                        raise openai.APIError(message if isinstance(message, str) and message else
                                              "An error occurred during streaming", response.request, body=error)
                    now = loop.time()
                    if now - moved >= step:
                        moved = now
                        deadline.reschedule(now + timeout + step)
                    started = True
                    for piece in _pieces(chunk):
                        said_anything = said_anything or not isinstance(piece, UsagePiece)
                        finished = finished or isinstance(piece, FinishPiece)
                        yield piece
            if not said_anything:
                raise self._empty(request)
            if not finished:
                # A proxy closing a connection-delimited body, or [DONE] before the end.
                raise ModelError(f"the stream from {provider} ended before the answer was complete "
                                 "(no finish_reason)")
        except TimeoutError:
            if response is not None and not said_anything and "tools" in request:
                # llama-cpp-python's server may also keep such a failed stream open (its SSE
                # pings go on): `timeout` seconds of nothing after the headers is the same refusal.
                raise ToolStreamingUnsupported(f"{provider} sent headers, then nothing for {timeout:g} s (the timeout "
                                               "setting)") from None
            raise ModelError(stalled if started else f"{provider} at {without_credentials(self.endpoint.base_url)} sent "
                             f"nothing within {timeout:g} s (the timeout setting)") from None
        except openai.APIError as exc:
            if started and isinstance(exc, openai.APITimeoutError):
                raise ModelError(stalled) from None
            if response is not None and not said_anything and isinstance(exc, openai.APIConnectionError):
                raise self._empty(request) from None
            if started and isinstance(exc, openai.APIConnectionError):
                raise ModelError(f"the stream from {self.endpoint.provider} was cut off mid-answer") from None
            if said_anything:  # asking again, another way, would repeat what the user has seen
                raise ModelError(describe_api_error(exc, self.endpoint)) from None
            raise self._refusal(exc, request) from None
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            # A malformed event or a dropped socket that the SDK did not wrap.
            raise ModelError(f"{self.endpoint.provider} sent a stream triage cannot read: {exc}") from None
        except Exception as exc:
            if not type(exc).__module__.startswith(("httpx", "httpcore")):  # httpx2 and httpcore2 too
                raise
            if response is not None and not said_anything:
                raise self._empty(request) from None
            raise ModelError(f"the stream from {self.endpoint.provider} was cut off mid-answer ({exc})") from None
        finally:
            # Closing matters on cancel: it drops the HTTP stream at once.
            await exits.aclose()


async def _body(response: Any, openai: Any) -> AsyncIterator[bytes]:
    """The response body's bytes, with its transport's failures raised as the SDK's own loop
    raises them (a timeout, or a connection error), so they read the same to the caller."""
    transport = sys.modules[type(response).__module__.partition(".")[0]]  # httpx2, or httpx for older SDKs
    try:
        async for chunk in response.aiter_bytes():
            yield chunk
    except transport.TimeoutException as exc:
        raise openai.APITimeoutError(request=response.request) from exc
    except Exception as exc:
        if isinstance(exc, (transport.RequestError, ssl.SSLError)) or type(exc).__module__.startswith("anyio"):
            raise openai.APIConnectionError(request=response.request) from exc
        raise


DRAIN_SECONDS = 0.1


async def _drain(events: AsyncIterator[bytes], openai: Any) -> None:
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
_FORMAT_WORDS = ("response_format", "response format", "json_schema", "json_object", "structured")
_TOOL_STREAM_WORDS = ("streaming tool", "stream tool", "tool choice is not supported",
                      "tools are not supported with stream", "tool calls with stream")


def refusal_of(status: int | None, message: str) -> str | None:
    """'response_format' or 'tool_streaming' when an error says the server cannot do that, else
    None. Only a 400, 422 or 5xx counts: a 429 or an auth error is about something else."""
    if status is not None and status not in (400, 422) and status < 500:
        return None
    text = message.lower()
    if any(words in text for words in _TOOL_STREAM_WORDS):
        return "tool_streaming"
    if any(words in text for words in _FORMAT_WORDS):
        return "response_format"
    return None


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
    if refusal_of(response.status_code, message) or "validation error" in message.lower():
        # A request the server's schema rejects (llama-cpp-python answers those with a 500)
        # fails the same way every time.
        response.headers["x-should-retry"] = "false"


def describe_api_error(exc: Exception, endpoint: Endpoint) -> str:
    """One line for the user, saying what to do where there is something to do. Never includes
    the key, even when the server's message quotes it."""
    message = _describe(exc, endpoint)
    return message.replace(endpoint.api_key, "[redacted]") if len(endpoint.api_key) >= 8 else message


def _describe(exc: Exception, endpoint: Endpoint) -> str:
    import openai

    provider, url, model = endpoint.provider, without_credentials(endpoint.base_url), endpoint.model
    status = getattr(exc, "status_code", None)
    detail = _server_message(exc)
    tries = f"{endpoint.retries + 1} tries" if endpoint.retries else "1 try"
    if isinstance(exc, openai.APITimeoutError):
        return f"{provider} at {url} did not answer within {endpoint.timeout:g} s ({tries}; see the timeout setting)"
    if isinstance(exc, openai.APIConnectionError):
        cause = " ".join(str(exc.__cause__ or "").split())[:120]
        return f"cannot connect to {provider} at {url}" + (f": {cause}" if cause else "") + f" ({tries})"
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        where = f" ({endpoint.key_env})" if endpoint.key_env else ""
        return f"{provider} refused the request (HTTP {status}): check the key for provider {provider}{where}"
    if isinstance(exc, openai.NotFoundError):
        return (f"model '{model}' was not found at provider {provider} (HTTP 404); check the model name "
                f"(--model) and the base URL {url}: {detail}")
    if isinstance(exc, openai.RateLimitError) and _code(exc) == "insufficient_quota":
        return f"{provider} says the account is out of quota (HTTP 429): check its plan and billing: {detail}"
    if isinstance(exc, openai.RateLimitError):
        return f"{provider} is rate-limiting requests (HTTP 429), still after {tries}; wait a little and ask again: {detail}"
    if isinstance(exc, openai.BadRequestError):
        if _context_too_long(exc):
            return (f"the conversation is too long for model '{model}' (HTTP 400): start a new one "
                    f"(/new in chat) or shorten the message: {detail}")
        return f"{provider} rejected the request (HTTP 400): {detail}"
    if status is not None:
        retried = f", after {tries}" if status >= 500 or status in (408, 409) else ""
        if refusal_of(status, detail) or "validation error" in detail.lower():
            retried = ""  # not retried: see _no_retry_for_refusals
        return f"{provider} failed with HTTP {status}{retried}: {detail}"
    return f"{provider} stream failed: {detail}"


def _code(exc: Exception) -> str | None:
    body = getattr(exc, "body", None)
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def _context_too_long(exc: Exception) -> bool:
    code = _code(exc)
    message = _server_message(exc).lower()
    return code == "context_length_exceeded" or any(words in message for words in (
        "context length", "context_length", "context window", "maximum context", "too many tokens",
        "prompt is too long", "reduce the length", "input is too long"))


def _server_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, dict):
        inner = body.get("error")
        message = inner.get("message") if isinstance(inner, dict) else body.get("message")
    if not message:
        message = getattr(exc, "message", None) or str(exc)
    return " ".join(str(message).split())[:300]
