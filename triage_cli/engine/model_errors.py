"""What a failed model call tells the user, in one place (as httpx maps httpcore's exceptions):
`stream_error` maps an exception, by its kind and by how far the stream had got, to the
ModelError the agent acts on; `provider_says` is the one reader of a provider's error text;
`describe_api_error` the one line a support agent reads. openai is imported only when a call
has failed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from triage_cli.errors import ContextTooLong, EmptyStream, ModelError, StructuredOutputRejected, ToolStreamingUnsupported
from triage_cli.providers import without_credentials

if TYPE_CHECKING:
    from triage_cli.engine.llm import Endpoint

# How far a streamed call got: no response yet; headers but no chunk; chunks but nothing said
# (usage only); something said (the user has seen it: asking again would repeat it).
Phase = Literal["request", "headers", "chunks", "said"]
# What failed: our own deadline (no chunk for `timeout` s: with nothing at all, or with only
# keep-alive comments); the SDK's read timeout; the connection; an error the API sent; a body
# triage cannot read.
Kind = Literal["deadline", "kept_alive", "read_timeout", "connection", "api", "unreadable"]

# (what failed, how far it got) -> what the user is told (the methods of _Told). A stall is a
# timeout; only a server that keeps pinging a call offering tools without answering it is read
# as one that cannot stream tool calls (llama-cpp-python's).
_TOLD: dict[Kind, dict[Phase, str]] = {
    "deadline": {"request": "silent", "headers": "silent", "chunks": "stalled", "said": "stalled"},
    "kept_alive": {"request": "silent", "headers": "tools_or_silent", "chunks": "tools_or_stalled", "said": "stalled"},
    "read_timeout": {"request": "refused", "headers": "refused", "chunks": "stalled", "said": "stalled"},
    "connection": {"request": "refused", "headers": "empty", "chunks": "empty", "said": "cut"},
    "api": {"request": "refused", "headers": "refused", "chunks": "refused", "said": "described"},
    "unreadable": {"request": "unreadable", "headers": "unreadable", "chunks": "unreadable", "said": "unreadable"},
}


class KeptAlive(TimeoutError):
    """Our deadline passed with only keep-alive comments from the server since the last chunk
    (raised by llm._chunks)."""


def error_kind(exc: BaseException) -> Kind | None:
    """The kind of a call's failure; None for anything else (a bug: raised as it is). Transport
    failures reach here as the SDK's own types (llm._body wraps those of the body)."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "read_timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    if isinstance(exc, openai.APIError):
        return "api"
    if isinstance(exc, TimeoutError):  # before OSError, whose subclass it is
        return "kept_alive" if isinstance(exc, KeptAlive) else "deadline"
    if isinstance(exc, (ValueError, KeyError, TypeError, AttributeError, OSError)):
        return "unreadable"  # a malformed event, or a dropped socket the SDK did not wrap
    return None


def stream_error(exc: BaseException, phase: Phase, request: dict[str, Any], endpoint: Endpoint) -> BaseException:
    """The error to raise for `exc`, which ended a call at `phase`: `exc` itself when it is not
    a call's failure."""
    kind = error_kind(exc)
    if kind is None:
        return exc
    told: ModelError = getattr(_Told(exc, request, endpoint), _TOLD[kind][phase])()
    return told


class _Told:
    def __init__(self, exc: BaseException, request: dict[str, Any], endpoint: Endpoint) -> None:
        self.exc, self.request, self.endpoint = exc, request, endpoint
        self.provider, self.timeout = endpoint.provider, endpoint.timeout

    def silent(self) -> ModelError:
        return ModelError(f"{self.provider} at {without_credentials(self.endpoint.base_url)} sent nothing within "
                          f"{self.timeout:g} s (the timeout setting)")

    def stalled(self) -> ModelError:
        return ModelError(f"the stream from {self.provider} stalled: nothing for {self.timeout:g} s (the timeout "
                          "setting), so the answer is incomplete")

    def tools_or_silent(self) -> ModelError:
        return self._tools_unstreamed() or self.silent()

    def tools_or_stalled(self) -> ModelError:
        return self._tools_unstreamed() or self.stalled()

    def _tools_unstreamed(self) -> ModelError | None:
        # llama-cpp-python's server may keep a stream it cannot fill open (its SSE pings go on):
        # `timeout` seconds of nothing after the headers of a call offering tools is a refusal.
        if "tools" not in self.request:
            return None
        return ToolStreamingUnsupported(f"{self.provider} sent headers, then nothing for {self.timeout:g} s "
                                        "(the timeout setting)", certain=False)

    def empty(self) -> ModelError:  # the connection broke before any chunk: maybe a passing fault
        return empty_stream(self.provider, self.request, certain=False)

    def cut(self) -> ModelError:
        return ModelError(f"the stream from {self.provider} was cut off mid-answer")

    def described(self) -> ModelError:  # asking again, another way, would repeat what the user has seen
        return ModelError(describe_api_error(self.exc, self.endpoint))

    def unreadable(self) -> ModelError:
        return ModelError(f"{self.provider} sent a stream triage cannot read: {self.exc}")

    def refused(self) -> ModelError:
        """A refusal the agent can step around, or a plain failure."""
        line = describe_api_error(self.exc, self.endpoint)
        says = provider_says(getattr(self.exc, "status_code", None), server_message(self.exc), _code(self.exc))
        if says == "response_format" and "response_format" in self.request:
            return StructuredOutputRejected(line)
        if says == "tool_streaming" and self.request.get("stream") and "tools" in self.request:
            return ToolStreamingUnsupported(line)
        if says == "context_too_long":
            return ContextTooLong(line)
        return ModelError(line)


def empty_stream(provider: str, request: dict[str, Any], *, certain: bool = True) -> ModelError:
    """A 200 stream that ended (or, not `certain`, broke) before any chunk: llama-cpp-python's
    server does this when it cannot stream tool calls (it fails after sending its headers)."""
    line = f"{provider} ended the stream without an answer"
    return ToolStreamingUnsupported(line, certain=certain) if "tools" in request else EmptyStream(line)


_FORMAT_WORDS = ("response_format", "response format", "json_schema", "json_object", "structured")
_TOOL_STREAM_WORDS = ("streaming tool", "stream tool", "tool choice is not supported",
                      "tools are not supported with stream", "tool calls with stream")
_CONTEXT_WORDS = ("context length", "context_length", "context window", "maximum context", "too many tokens",
                  "prompt is too long", "reduce the length", "input is too long")
Says = Literal["tool_streaming", "response_format", "context_too_long"]


def provider_says(status: int | None, message: str, code: str | None = None) -> Says | None:
    """What a provider's error says triage asked for and it cannot do: stream a call offering
    tools, take a response format, or hold the conversation (a 400 only). Only a 400, 422 or
    5xx counts: a 429 or an auth error is about something else."""
    if status is not None and status not in (400, 422) and status < 500:
        return None
    text = message.lower()
    if any(words in text for words in _TOOL_STREAM_WORDS):
        return "tool_streaming"
    if any(words in text for words in _FORMAT_WORDS):
        return "response_format"
    if status == 400 and (code == "context_length_exceeded" or any(words in text for words in _CONTEXT_WORDS)):
        return "context_too_long"
    return None


def describe_api_error(exc: BaseException, endpoint: Endpoint) -> str:
    """One line for the user, saying what to do where there is something to do. Never includes
    the key, even when the server's message quotes it."""
    message = _describe(exc, endpoint)
    return message.replace(endpoint.api_key, "[redacted]") if len(endpoint.api_key) >= 8 else message


def _describe(exc: BaseException, endpoint: Endpoint) -> str:
    import openai

    provider, url, model = endpoint.provider, without_credentials(endpoint.base_url), endpoint.model
    status = getattr(exc, "status_code", None)
    detail = server_message(exc)
    says = provider_says(status, detail, _code(exc))
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
    if isinstance(exc, openai.BadRequestError) and says == "context_too_long":
        return (f"the conversation is too long for model '{model}' (HTTP 400): start a new one "
                f"(/new in chat) or shorten the message: {detail}")
    if isinstance(exc, openai.BadRequestError):
        return f"{provider} rejected the request (HTTP 400): {detail}"
    if status is not None:
        retried = f", after {tries}" if status >= 500 or status in (408, 409) else ""
        if says or "validation error" in detail.lower():
            retried = ""  # not retried: see llm._no_retry_for_refusals
        return f"{provider} failed with HTTP {status}{retried}: {detail}"
    return f"{provider} stream failed: {detail}"


def _code(exc: BaseException) -> str | None:
    body = getattr(exc, "body", None)
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def server_message(exc: BaseException) -> str:
    """The message of a provider's error body (or the exception's own), on one line."""
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, dict):
        inner = body.get("error")
        message = inner.get("message") if isinstance(inner, dict) else body.get("message")
    if not message:
        message = getattr(exc, "message", None) or str(exc)
    return " ".join(str(message).split())[:300]
