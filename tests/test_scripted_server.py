"""Pin the scripted server down against the real openai SDK (no mocks)."""

import sys
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import asyncio
import json
import time

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from scripted_server import Reply, ScriptedServer, ToolCall, error, text, tools
from serve_helpers import eventually

MESSAGES = [{"role": "user", "content": "Where is my order A1002?"}]


def client_for(srv: ScriptedServer) -> OpenAI:
    return OpenAI(api_key="test-key", base_url=srv.base_url, max_retries=0, timeout=5)


def stream_chunks(srv: ScriptedServer, **kw) -> list:
    client = client_for(srv)
    stream = client.chat.completions.create(
        model=kw.pop("model", "gpt-test"), messages=kw.pop("messages", MESSAGES), stream=True, **kw
    )
    with stream:
        return list(stream)


def test_streamed_text_usage_and_recorded_request():
    content = "Your order A1002 shipped yesterday and arrives Friday."
    with ScriptedServer([text(content, usage=(11, 7))]) as srv:
        chunks = stream_chunks(srv, stream_options={"include_usage": True})

    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 5
    assert "".join(pieces) == content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1
    assert all(c.model == "gpt-test" and c.object == "chat.completion.chunk" for c in chunks)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == []
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (11, 7, 18)
    assert len(srv.requests) == 1
    assert srv.requests[0]["model"] == "gpt-test"
    assert srv.requests[0]["messages"] == MESSAGES
    assert srv.requests[0]["stream"] is True


def test_no_usage_chunk_without_include_usage_and_default_usage_is_positive():
    with ScriptedServer([text("hi there"), text("again")]) as srv:
        plain = stream_chunks(srv)
        with_usage = stream_chunks(srv, stream_options={"include_usage": True})
    assert all(c.usage is None for c in plain)
    assert all(c.choices for c in plain)
    usage = with_usage[-1].usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def accumulate_tool_calls(chunks) -> dict[int, dict]:
    calls: dict[int, dict] = {}
    for c in chunks:
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": "", "pieces": 0})
            if tc.id:
                slot["id"] = tc.id
            if tc.function and tc.function.name:
                slot["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                slot["arguments"] += tc.function.arguments
                slot["pieces"] += 1
    return calls


def test_tool_call_arguments_reassemble_across_chunks():
    args = {"order_id": "A1002", "include_history": True}
    with ScriptedServer([tools(("get_order_status", args))]) as srv:
        chunks = stream_chunks(srv, tools=[{"type": "function", "function": {"name": "get_order_status"}}])

    calls = accumulate_tool_calls(chunks)
    assert list(calls) == [0]
    assert calls[0]["name"] == "get_order_status"
    assert calls[0]["id"].startswith("call_")
    assert calls[0]["pieces"] > 1
    assert json.loads(calls[0]["arguments"]) == args
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    assert srv.requests[0]["tools"][0]["function"]["name"] == "get_order_status"


def test_two_tool_calls_have_indexes_and_distinct_ids_and_raw_arguments():
    reply = tools(
        ("get_order_status", {"order_id": "A1002"}),
        ToolCall("lookup_customer", '{"email": "broken', id="call_custom"),
    )
    with ScriptedServer([reply]) as srv:
        calls = accumulate_tool_calls(stream_chunks(srv))
    assert sorted(calls) == [0, 1]
    assert calls[0]["id"] != calls[1]["id"]
    assert calls[1]["id"] == "call_custom"
    assert [calls[i]["name"] for i in (0, 1)] == ["get_order_status", "lookup_customer"]
    assert json.loads(calls[0]["arguments"]) == {"order_id": "A1002"}
    assert calls[1]["arguments"] == '{"email": "broken'  # sent verbatim


def test_reasoning_arrives_before_content():
    with ScriptedServer([text("Answer.", reasoning="Let me think about it.")]) as srv:
        chunks = stream_chunks(srv)
    order = []
    reasoning = ""
    for c in chunks:
        delta = c.choices[0].delta
        piece = (delta.model_extra or {}).get("reasoning_content") or getattr(delta, "reasoning_content", None)
        if piece:
            reasoning += piece
            order.append("r")
        if delta.content:
            order.append("c")
    assert reasoning == "Let me think about it."
    assert order.index("c") > max(i for i, kind in enumerate(order) if kind == "r")


def test_async_client_streams_text():
    async def run(srv: ScriptedServer) -> str:
        client = AsyncOpenAI(api_key="test-key", base_url=srv.base_url, max_retries=0, timeout=5)
        stream = await client.chat.completions.create(
            model="gpt-test", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        out = ""
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                out += chunk.choices[0].delta.content
        await client.close()
        return out

    with ScriptedServer([text("async hello")]) as srv:
        assert asyncio.run(run(srv)) == "async hello"


def test_error_reply_raises_not_found_with_headers():
    with ScriptedServer([error(404, "no such model", headers={"X-Scripted": "yes"})]) as srv:
        with pytest.raises(openai.NotFoundError) as info:
            stream_chunks(srv)
    assert "no such model" in str(info.value)
    assert info.value.response.headers["x-scripted"] == "yes"
    assert len(srv.requests) == 1


def test_rate_limit_reply_carries_retry_after():
    with ScriptedServer([error(429, "slow down", headers={"Retry-After": "0"})]) as srv:
        with pytest.raises(openai.RateLimitError) as info:
            stream_chunks(srv)
    assert info.value.response.headers["retry-after"] == "0"


def test_exhausted_script_raises_internal_server_error():
    with ScriptedServer([text("only one")]) as srv:
        stream_chunks(srv)
        with pytest.raises(openai.InternalServerError) as info:
            stream_chunks(srv)
    assert "script exhausted after 1 requests" in str(info.value)
    assert len(srv.requests) == 2


def test_add_extends_script_and_callable_script():
    with ScriptedServer() as srv:
        srv.add(text("added"))
        assert "".join(c.choices[0].delta.content or "" for c in stream_chunks(srv)) == "added"

    def script(body: dict, index: int) -> Reply:
        return text(f"{index}:{body['messages'][-1]['content']}")

    with ScriptedServer(script) as srv:
        client = client_for(srv)
        for i in range(2):
            done = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hey"}])
            assert done.choices[0].message.content == f"{i}:hey"


def test_non_streaming_completion():
    with ScriptedServer([text("Plain answer."), tools(("get_order_status", {"order_id": "A1"}))]) as srv:
        client = client_for(srv)
        first = client.chat.completions.create(model="gpt-test", messages=MESSAGES)
        second = client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert isinstance(first, openai.types.chat.ChatCompletion)
    assert first.model == "gpt-test"
    assert first.choices[0].message.content == "Plain answer."
    assert first.choices[0].finish_reason == "stop"
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens > 0
    call = second.choices[0].message.tool_calls[0]
    assert second.choices[0].message.content is None
    assert second.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_order_status", {"order_id": "A1"})
    assert "stream" not in srv.requests[0]


def test_models_endpoint():
    with ScriptedServer() as srv:
        ids = [m.id for m in client_for(srv).models.list()]
    assert ids == ["scripted-model"]


def test_client_disconnect_mid_stream_is_counted():
    with ScriptedServer([text("x" * 400)], tokens_per_second=200, chunk_chars=1) as srv:
        client = client_for(srv)
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        for i, _ in enumerate(stream):
            if i == 3:
                break
        stream.close()
        eventually(lambda: srv.disconnects >= 1, "the server to see the hang-up")
        assert srv.disconnects == 1


def test_tokens_per_second_paces_the_stream():
    with ScriptedServer([text("abcdefghij")], tokens_per_second=100, chunk_chars=1) as srv:
        start = time.monotonic()
        stream_chunks(srv)
        elapsed = time.monotonic() - start
    assert elapsed >= 0.09  # 10 tokens at 100/s


def test_drop_after_hangs_up_mid_stream_without_done_and_the_server_keeps_serving():
    with ScriptedServer([text("abcdefghijklmnop", drop_after=2), text("next")], chunk_chars=2) as srv:
        client = client_for(srv)
        received = []
        with pytest.raises(openai.APIConnectionError):
            for chunk in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
                received.append(chunk)
        contents = [c.choices[0].delta.content for c in received if c.choices and c.choices[0].delta.content]
        assert contents == ["ab", "cd"]  # exactly two content chunks, then the hang-up
        assert all(c.choices[0].finish_reason is None for c in received)  # no finish chunk either
        assert srv.drops == 1
        again = client.chat.completions.create(model="m", messages=MESSAGES)
        assert again.choices[0].message.content == "next"
        assert srv.disconnects == 0  # a deliberate drop is not counted as the client going away


def test_drop_after_zero_hangs_up_before_any_content():
    with ScriptedServer([text("hello", drop_after=0)]) as srv:
        received = []
        with pytest.raises(openai.APIConnectionError):
            for chunk in client_for(srv).chat.completions.create(model="m", messages=MESSAGES, stream=True):
                received.append(chunk)
        assert not any(c.choices and c.choices[0].delta.content for c in received)
        assert srv.drops == 1


def raw_post(srv: ScriptedServer, body: dict) -> tuple[int, dict, bytes]:
    """(status, headers, body bytes) of one POST, read at the socket level (no SDK)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        try:
            data = response.read()
        except http.client.IncompleteRead as cut:  # a chunked body the server hung up on
            data = cut.partial
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def test_close_delimited_body_has_no_transfer_encoding_and_ends_with_the_connection():
    with ScriptedServer([text("Hello there", close_delimited=True)]) as srv:
        status, headers, body = raw_post(srv, {"model": "m", "messages": MESSAGES, "stream": True})
    assert status == 200 and "transfer-encoding" not in headers and "content-length" not in headers
    assert headers["connection"] == "close"
    assert b'"finish_reason": "stop"' in body and body.endswith(b"data: [DONE]\n\n")


@pytest.mark.parametrize("done", [True, False])
def test_no_finish_sends_no_finish_reason_with_or_without_done(done):
    with ScriptedServer([text("Hello there", no_finish=True, done=done)]) as srv:
        chunks = stream_chunks(srv)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there"
    assert all(c.choices[0].finish_reason is None for c in chunks if c.choices)


def test_stream_tools_modes_fail_streamed_calls_offering_tools_but_serve_plain_ones():
    offer = {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}
    with ScriptedServer([text("plain answer")], stream_tools="sse_error") as srv:
        with pytest.raises(openai.APIError, match="Automatic streaming tool choice is not supported"):
            stream_chunks(srv, **offer)
        completion = client_for(srv).chat.completions.create(model="m", messages=MESSAGES, **offer)
        assert completion.choices[0].message.content == "plain answer" and completion.usage.total_tokens > 0
        assert (len(srv.requests), srv.refusals) == (2, 1)  # the refused request used no scripted reply
    with ScriptedServer([text("unused")], stream_tools="empty") as srv:
        status, headers, body = raw_post(srv, {"model": "m", "messages": MESSAGES, "stream": True, **offer})
    assert status == 200 and body == b""


def test_response_formats_refuses_the_others_with_a_500_naming_the_allowed_types():
    with ScriptedServer([text('{"reply": "hi"}')], response_formats=("json_object",)) as srv:
        with pytest.raises(openai.InternalServerError, match="Input should be 'text' or 'json_object'"):
            client_for(srv).chat.completions.create(
                model="m", messages=MESSAGES,
                response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}})
        completion = client_for(srv).chat.completions.create(
            model="m", messages=MESSAGES, response_format={"type": "json_object"})
    assert completion.choices[0].message.content == '{"reply": "hi"}'
