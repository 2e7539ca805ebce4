"""The model adapter's stream reader (engine/llm.py, engine/sse.py): the pieces it makes of a
streamed chat completion, through the real openai client against the scripted server, and the
SSE framing on its own. The faults a user sees (stalls, cuts, error payloads) are in test_faults.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from scripted_server import Reply, ScriptedServer, text, tools
from triage_cli.engine.llm import (
    Endpoint, FinishPiece, OpenAIChatModel, Piece, ReasoningPiece, TextPiece, ToolCallPiece, UsagePiece,
)
from triage_cli.engine.sse import sse_data
from triage_cli.errors import ModelError

QUESTION = [{"role": "user", "content": "Where is A1002?"}]
LOOKUP = [{"type": "function", "function": {"name": "get_order_status", "parameters": {"type": "object"}}}]


def model(srv: ScriptedServer) -> OpenAIChatModel:
    return OpenAIChatModel(Endpoint(provider="custom", base_url=srv.base_url, api_key="sk-test-not-a-real-key",
                                    model="scripted-model", timeout=10.0, retries=0))


def streams(srv: ScriptedServer, count: int = 1, tools_offered: bool = False) -> list[list[Piece] | ModelError]:
    """`count` streamed calls in turn on one client: each one's pieces, or the error it ended with."""
    chat = model(srv)

    async def go() -> list[list[Piece] | ModelError]:
        results: list[list[Piece] | ModelError] = []
        try:
            for _ in range(count):
                pieces: list[Piece] = []
                try:
                    async for piece in chat.stream(QUESTION, LOOKUP if tools_offered else []):
                        pieces.append(piece)
                except ModelError as exc:
                    results.append(exc)
                    continue
                results.append(pieces)
        finally:
            await chat.aclose()
        return results

    return asyncio.run(go())


def pieces_of(reply: Reply, **kw: object) -> list[Piece]:
    with ScriptedServer([reply]) as srv:
        result = streams(srv, **kw)[0]  # type: ignore[arg-type]
    assert isinstance(result, list), result
    return result


def chunk(delta: dict, finish: str | None = None) -> bytes:
    return json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).encode()


def test_text_reasoning_finish_and_usage_come_in_the_streams_order():
    pieces = pieces_of(Reply(content="Order A1002 left the depot.", reasoning="The customer asks.", usage=(11, 7)))
    kinds = [type(p).__name__ for p in pieces]
    assert kinds == sorted(kinds, key=["ReasoningPiece", "TextPiece", "FinishPiece", "UsagePiece"].index)
    assert "".join(p.text for p in pieces if isinstance(p, ReasoningPiece)) == "The customer asks."
    assert "".join(p.text for p in pieces if isinstance(p, TextPiece)) == "Order A1002 left the depot."
    assert pieces[-2:] == [FinishPiece("stop"), UsagePiece(11, 7)]


def test_both_names_of_the_reasoning_field_are_read():
    pieces = pieces_of(Reply(raw_deltas=({"reasoning": "one "}, {"reasoning_content": "two"}, {"content": "Hi"})))
    # Pieces a read brings together are one (the stream's pieces, coalesced): the text is what counts.
    reasoning = [p for p in pieces if isinstance(p, ReasoningPiece)]
    assert "".join(p.text for p in reasoning) == "one two"
    assert pieces[len(reasoning):] == [TextPiece("Hi"), FinishPiece("stop")]


def test_tool_call_fragments_keep_their_index_id_and_name():
    pieces = pieces_of(tools(("get_order_status", {"order_id": "A1002"}), ("get_order_status", {"order_id": "B7"})),
                       tools_offered=True)
    calls = [p for p in pieces if isinstance(p, ToolCallPiece)]
    assert {p.index for p in calls} == {0, 1}
    for index, order in ((0, "A1002"), (1, "B7")):
        mine = [p for p in calls if p.index == index]
        assert [p.name for p in mine if p.name] == ["get_order_status"]
        assert len([p for p in mine if p.id]) == 1
        assert json.loads("".join(p.arguments for p in mine)) == {"order_id": order}
        assert len(mine) > 2  # the arguments came in several fragments
    assert pieces[-2] == FinishPiece("tool_calls")


def test_calls_sharing_an_index_keep_their_own_ids():
    deltas = ({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "get_order_status", "arguments": "{}"}}]},
              {"tool_calls": [{"index": 0, "id": "b", "function": {"name": "get_order_status", "arguments": "{}"}}]},
              {"tool_calls": [{"function": {"arguments": ""}}]})
    calls = [p for p in pieces_of(Reply(raw_deltas=deltas), tools_offered=True) if isinstance(p, ToolCallPiece)]
    assert calls == [ToolCallPiece(0, "a", "get_order_status", "{}"), ToolCallPiece(0, "b", "get_order_status", "{}"),
                     ToolCallPiece(None, None, None, "")]


def test_sse_framing_crlf_comments_event_fields_and_split_lines():
    head = b"data: " + chunk({"content": "Hel"})
    body = (b": keep-alive\r\n\r\n", b"event: message\r\nid: 1\r\n" + head[:20], head[20:] + b"\r\n\r\n",
            b"data:" + chunk({"content": "lo"}) + b"\r", b"\r",  # CR line ends, the pair split
            b"data: " + chunk({}, "stop") + b"\n\n", b"data: [DONE]\n\n")
    pieces = pieces_of(Reply(raw_body=body))  # "Hel" and "lo", or "Hello" when one read brings both
    assert "".join(p.text for p in pieces[:-1] if isinstance(p, TextPiece)) == "Hello"
    assert all(isinstance(p, TextPiece) for p in pieces[:-1]) and pieces[-1] == FinishPiece("stop")


def test_nothing_after_done_is_read():
    body = (b"data: " + chunk({"content": "a"}, "stop") + b"\n\ndata: [DONE]\n\n",
            b"data: " + chunk({"content": "b"}) + b"\n\n")
    assert pieces_of(Reply(raw_body=body)) == [TextPiece("a"), FinishPiece("stop")]


def test_an_event_cut_before_its_blank_line_is_not_read():
    body = (b"data: " + chunk({"content": "a"}) + b"\n\n", b"data: " + chunk({}, "stop") + b"\n")
    with ScriptedServer([Reply(raw_body=body)]) as srv:
        [result] = streams(srv)
    assert isinstance(result, ModelError) and "no finish_reason" in str(result)


@pytest.mark.parametrize("data", [b"[1, 2]", b"{\"choices\": [{\"delta\": {\"content\": ", b"{\"choices\": 5}"])
def test_a_chunk_that_is_not_a_chunk_object_is_one_line(data):
    body = (b"data: " + chunk({"content": "a"}) + b"\n\n", b"data: " + data + b"\n\n")
    with ScriptedServer([Reply(raw_body=body)]) as srv:
        [result] = streams(srv)
    assert isinstance(result, ModelError) and "sent a stream triage cannot read" in str(result)
    assert "\n" not in str(result)


def test_a_finished_stream_leaves_its_connection_for_the_next_call():
    with ScriptedServer([text("first answer"), text("second answer")]) as srv:
        first, second = streams(srv, count=2)
        assert isinstance(first, list) and isinstance(second, list)
        assert srv.connections == 1


async def _chunks(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def _events(pieces: list[bytes]) -> list[bytes]:
    async def go() -> list[bytes]:
        return [data async for data in sse_data(_chunks(pieces))]

    return asyncio.run(go())


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_every_split_of_a_body_gives_the_same_events(end):
    lines = [b": ping", b"", b"event: x", b"data: {\"a\": 1}", b"", b"data:two", b"data", b"data: lines", b"",
             b"datax: no", b"retry: 5", b"", b"data: [DONE]", b"", b"data: cut"]
    body = end.join(lines)
    expected = [b"{\"a\": 1}", b"two\n\nlines", b"[DONE]"]
    assert _events([body]) == expected
    for cut in range(1, len(body)):
        assert _events([body[:cut], body[cut:]]) == expected, cut
    assert _events([body[i:i + 1] for i in range(len(body))]) == expected


def test_what_queued_up_in_one_read_goes_on_as_one_piece_of_text():
    """A reader that fell behind (a loaded server) finds several chunks in one read: they go on
    through every layer as one event, so it catches up; a reader keeping up gets them one by one."""
    from triage_cli.engine.llm import FinishPiece, TextPiece, UsagePiece, _coalesced, _pieces
    from triage_cli.engine.sse import sse_batches

    def chunk(text: str) -> bytes:
        return b'data: {"choices": [{"delta": {"content": "%s"}}]}\n\n' % text.encode()

    async def batches(reads: list[bytes]) -> list[list[bytes]]:
        return [batch async for batch in sse_batches(_chunks(reads))]

    behind = asyncio.run(batches([chunk("Order ") + chunk("A1002 ") + chunk("is late"), chunk(".")]))
    assert [len(batch) for batch in behind] == [3, 1]
    pieces = [piece for data in behind[0] for piece in _pieces(json.loads(data))]
    assert _coalesced(pieces) == [TextPiece("Order A1002 is late")]
    assert _coalesced([TextPiece("a"), UsagePiece(1, 2), TextPiece("b"), FinishPiece("stop")]) == [
        TextPiece("a"), UsagePiece(1, 2), TextPiece("b"), FinishPiece("stop")]  # order kept across others
    keeping_up = asyncio.run(batches([chunk("Order "), chunk("A1002")]))
    assert [len(batch) for batch in keeping_up] == [1, 1]
