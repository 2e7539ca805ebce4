"""The one map from a failed model call to what the agent is told (engine/model_errors.py): every
kind of failure at every point of a stream has one entry, a provider's error text is read by one
classifier, and anything that is not a call's failure (a bug in triage) is raised as itself.
The end-to-end behaviour of each entry is in tests/test_faults.py, over the real openai SDK."""

from __future__ import annotations

import httpx2 as httpx
import openai
import pytest

from triage_cli.engine.llm import Endpoint
from triage_cli.engine.model_errors import _TOLD, KeptAlive, Phase, error_kind, provider_says, stream_error
from triage_cli.errors import (
    ContextTooLong, EmptyStream, ModelError, StructuredOutputRejected, ToolStreamingUnsupported,
)

ENDPOINT = Endpoint(provider="local", base_url="http://127.0.0.1:9/v1", model="m", api_key="sk-secret-key-123",
                    timeout=5.0, retries=0, key_env="LOCAL_API_KEY")
REQUEST = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
STREAM = {"stream": True, "tools": [{}], "response_format": {}}


def bad_request(message: str) -> openai.BadRequestError:
    response = httpx.Response(400, request=REQUEST, json={"error": {"message": message}})
    return openai.BadRequestError(message, response=response, body={"message": message})


def test_every_kind_of_failure_at_every_phase_has_one_entry() -> None:
    phases = {"request", "headers", "chunks", "said"}
    assert set(_TOLD) == {"deadline", "kept_alive", "read_timeout", "connection", "api", "unreadable"}
    assert all(set(row) == phases for row in _TOLD.values())


@pytest.mark.parametrize(("exc", "phase", "sent", "told", "words"), [
    (TimeoutError(), "request", STREAM, ModelError, "sent nothing within 5 s"),
    (TimeoutError(), "headers", STREAM, ModelError, "sent nothing within 5 s"),  # a stall is a timeout
    (KeptAlive(), "headers", STREAM, ToolStreamingUnsupported, "sent headers, then nothing"),  # pings, no answer
    (KeptAlive(), "headers", {"stream": True}, ModelError, "sent nothing within 5 s"),
    (TimeoutError(), "headers", {"stream": True}, ModelError, "sent nothing within 5 s"),
    (TimeoutError(), "said", STREAM, ModelError, "stalled"),
    (openai.APITimeoutError(request=REQUEST), "chunks", STREAM, ModelError, "stalled"),
    (openai.APIConnectionError(request=REQUEST), "headers", {"stream": True}, EmptyStream, "without an answer"),
    (openai.APIConnectionError(request=REQUEST), "said", STREAM, ModelError, "cut off mid-answer"),
    (openai.APIConnectionError(request=REQUEST), "request", STREAM, ModelError, "cannot connect to local"),
    (bad_request("response_format json_schema is not supported"), "request", STREAM, StructuredOutputRejected, "HTTP 400"),
    (bad_request("streaming tool calls are not supported"), "headers", STREAM, ToolStreamingUnsupported, "HTTP 400"),
    (bad_request("maximum context length is 4096 tokens"), "request", STREAM, ContextTooLong, "too long"),
    (bad_request("response_format json_schema is not supported"), "said", STREAM, ModelError, "rejected"),
    (ValueError("bad json"), "said", STREAM, ModelError, "cannot read: bad json"),
])
def test_a_failure_is_told_by_its_kind_and_how_far_the_stream_got(exc: BaseException, phase: Phase, sent: dict,
                                                                  told: type, words: str) -> None:
    error = stream_error(exc, phase, sent, ENDPOINT)
    assert type(error) is told and words in str(error)
    assert "sk-secret-key-123" not in str(error)


def test_a_bug_in_triage_is_not_reported_as_the_model_failing() -> None:
    bug = RuntimeError("a bug")
    assert error_kind(bug) is None and stream_error(bug, "said", STREAM, ENDPOINT) is bug


def test_one_classifier_reads_a_providers_error_text() -> None:
    assert provider_says(400, "Streaming tool calls are not supported") == "tool_streaming"
    assert provider_says(500, "json_schema not supported") == "response_format"
    assert provider_says(400, "This model's maximum context length is 8192") == "context_too_long"
    assert provider_says(400, "x", "context_length_exceeded") == "context_too_long"
    assert provider_says(500, "maximum context length") is None  # a full context is a 400
    assert provider_says(429, "response_format") is None  # a rate limit is about something else
