"""The model adapter: the only module that imports openai, and only when a model is called.

It turns the SDK's streamed chunks into our own small pieces and the SDK's exceptions into
ModelError with one line a support agent can act on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from triage_cli.errors import ModelError, StructuredOutputRejected


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
    """What the agent needs from a model: one streamed chat completion at a time."""

    name: str

    def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        allow_tools: bool = True,
        response_format: dict[str, Any] | None = None,
    ) -> AsyncIterator[Piece]: ...

    def warm_up(self) -> None: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Endpoint:
    provider: str
    base_url: str
    api_key: str
    model: str
    timeout: float
    key_env: str | None = None


class OpenAIChatModel:
    """A ChatModel for any OpenAI-compatible endpoint."""

    def __init__(self, endpoint: Endpoint, *, max_retries: int = 2) -> None:
        self.endpoint = endpoint
        self.name = endpoint.model
        self._max_retries = max_retries
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

            self._client = AsyncOpenAI(
                api_key=self.endpoint.api_key,
                base_url=self.endpoint.base_url,
                timeout=self.endpoint.timeout,
                max_retries=self._max_retries,
            )
        return self._client

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

        client = self._get_client()
        request: dict[str, Any] = {
            "model": self.endpoint.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            request["tools"] = tools
            request["tool_choice"] = "auto" if allow_tools else "none"
        if response_format is not None:
            request["response_format"] = response_format
        response = None
        started = False  # once chunks arrive, a failure is a cut stream, not a refused connection
        try:
            response = await client.chat.completions.create(**request)
            async for chunk in response:
                started = True
                for piece in _pieces(chunk):
                    yield piece
        except openai.APIError as exc:
            if started and isinstance(exc, openai.APIConnectionError):
                raise ModelError(f"the stream from {self.endpoint.provider} was cut off mid-answer") from None
            if response_format is not None and _rejects_response_format(exc):
                raise StructuredOutputRejected(describe_api_error(exc, self.endpoint)) from None
            raise ModelError(describe_api_error(exc, self.endpoint)) from None
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            # A malformed event or a dropped socket that the SDK did not wrap.
            raise ModelError(f"{self.endpoint.provider} sent a stream triage cannot read: {exc}") from None
        finally:
            if response is not None:
                # Closing matters on cancel: it drops the HTTP stream at once.
                await response.close()


def _pieces(chunk: Any) -> list[Piece]:
    pieces: list[Piece] = []
    if getattr(chunk, "usage", None):
        pieces.append(UsagePiece(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0))
    for choice in chunk.choices or ():
        delta = choice.delta
        if delta is not None:
            extra = delta.model_extra or {}
            reasoning = extra.get("reasoning_content") or extra.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                pieces.append(ReasoningPiece(reasoning))
            if delta.content:
                pieces.append(TextPiece(delta.content))
            for call in delta.tool_calls or ():
                function = call.function
                pieces.append(ToolCallPiece(
                    index=getattr(call, "index", None),
                    id=call.id,
                    name=function.name if function else None,
                    arguments=(function.arguments or "") if function else "",
                ))
        if choice.finish_reason:
            pieces.append(FinishPiece(choice.finish_reason))
    return pieces


def describe_api_error(exc: Exception, endpoint: Endpoint) -> str:
    """One line for the user. Never includes the key."""
    import openai

    provider, url = endpoint.provider, endpoint.base_url
    status = getattr(exc, "status_code", None)
    detail = _server_message(exc)
    if isinstance(exc, openai.APITimeoutError):
        return f"{provider} at {url} did not answer within {endpoint.timeout:g} s"
    if isinstance(exc, openai.APIConnectionError):
        return f"cannot connect to {provider} at {url}"
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        where = f" ({endpoint.key_env})" if endpoint.key_env else ""
        return f"{provider} refused the request (HTTP {status}): check the key for provider {provider}{where}"
    if isinstance(exc, openai.NotFoundError):
        return f"model '{endpoint.model}' was not found at provider {provider} (HTTP 404): {detail}"
    if isinstance(exc, openai.RateLimitError):
        return f"{provider} is rate-limiting requests (HTTP 429), even after retries: {detail}"
    if isinstance(exc, openai.BadRequestError):
        return f"{provider} rejected the request (HTTP 400): {detail}"
    if status is not None:
        return f"{provider} failed with HTTP {status}: {detail}"
    return f"{provider} stream failed: {detail}"


def _rejects_response_format(exc: Exception) -> bool:
    """A 400 or 422 whose message is about structured output, as servers without it answer."""
    if getattr(exc, "status_code", None) not in (400, 422):
        return False
    message = _server_message(exc).lower()
    return any(word in message for word in ("response_format", "response format", "json_schema", "structured"))


def _server_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, dict):
        inner = body.get("error")
        message = inner.get("message") if isinstance(inner, dict) else body.get("message")
    if not message:
        message = getattr(exc, "message", None) or str(exc)
    return " ".join(str(message).split())[:300]
