"""A scripted, OpenAI-compatible chat-completion server for tests and benchmarks.

Start it in-process; it answers each ``POST /v1/chat/completions`` with the next
scripted :class:`Reply`, streaming Server-Sent Events like real providers do::

    with ScriptedServer([text("Hello!"), tools(("get_order_status", {"order_id": "A1002"}))]) as srv:
        client = AsyncOpenAI(api_key="test", base_url=srv.base_url)
        ...
        assert srv.requests[0]["model"] == "gpt-test"

It can also act like servers people run themselves (llama-cpp-python's): ``stream_tools="empty"``,
``"sse_error"`` or ``"hang"`` (SSE pings, no data) fails every streamed request that offers tools
after its 200 headers, and
``response_formats=("json_object",)`` refuses any other ``response_format`` with a 500 saying
``Input should be 'text' or 'json_object'``. Refused requests are recorded in ``requests`` but do
not use up a scripted reply. Requests with ``"stream": false`` get a ``chat.completion`` object.

Standard library only; no pytest dependency.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ToolCall", "Reply", "text", "answer", "tools", "error", "ScriptedServer"]

ARGUMENT_PIECE_CHARS = 7  # tool-call arguments are streamed in pieces of this size

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", None),
    409: ("conflict", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


@dataclass(frozen=True)
class ToolCall:
    """One scripted tool call; a dict ``arguments`` is JSON-encoded, a str is sent verbatim."""

    name: str
    arguments: dict | str
    id: str | None = None  # default: "call_<n>", unique per server

    def arguments_json(self) -> str:
        """The arguments string exactly as it goes on the wire."""
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True)
class Reply:
    """What the server answers to ONE chat-completion request."""

    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str = ""
    finish_reason: str | None = None  # default: "tool_calls" if tool_calls else "stop"
    usage: tuple[int, int] | None = None  # (prompt_tokens, completion_tokens)
    status: int = 200
    error_message: str = "scripted error"
    headers: dict[str, str] = field(default_factory=dict)
    # Fault mode: after this many content chunks the server hangs up abruptly (no finish chunk,
    # no [DONE], no terminating HTTP chunk), like a provider whose connection drops mid-answer.
    drop_after: int | None = None
    # Fault mode: after this many content chunks the server sends an SSE error payload
    # (`data: {"error": {...}}`, as providers do when generation fails mid-stream) and ends.
    error_after: int | None = None
    # Fault mode: after this many content chunks the server goes quiet for `stall_seconds`
    # (then carries on), like a provider that stalls mid-answer.
    stall_after: int | None = None
    stall_seconds: float = 0.0
    stall_keepalive: bool = False  # during the stall, send SSE comments (": keep-alive") as some providers do
    # With an event, the stall ends when the test sets it (or after `stall_seconds` at the most):
    # a test that must act while the answer is quiet does not race a clock.
    stall_until: threading.Event | None = field(default=None, compare=False)
    # Fault mode: the server waits this long before sending the response headers.
    delay_headers: float = 0.0
    # Fault mode: stream these `delta` objects verbatim (one chunk each, then a stop chunk)
    # instead of the scripted content: a provider sending what the API does not allow.
    raw_deltas: tuple[dict, ...] = ()
    # Fault mode: no chunk carries a finish_reason (the stream just ends), with or without [DONE].
    no_finish: bool = False
    done: bool = True
    # Fault mode: no Transfer-Encoding: the body ends when the connection closes (HTTP/1.0 style,
    # as some proxies send), so a cut (drop_after) looks like a normal end to the client.
    close_delimited: bool = False
    # Fault mode: these bytes are the whole body (the SSE framing itself: CRLF or CR line ends,
    # comments, an event cut before its blank line), each one HTTP chunk, flushed on its own.
    raw_body: tuple[bytes, ...] = ()


def text(content: str, **kw: Any) -> Reply:
    """A plain assistant text reply."""
    return Reply(content=content, **kw)


def answer(reply: str, *, order_id: str | None = None, issue: str = "", status: str = "",
           next_step: str = "answer", summary: str = "", **kw: Any) -> Reply:
    """A structured-output answer: the JSON object triage asks for, reply first."""
    record = {"reply": reply, "order_id": order_id, "issue": issue, "status": status,
              "next_step": next_step, "summary": summary}
    return Reply(content=json.dumps(record), **kw)


def tools(*calls: ToolCall | tuple[str, dict | str], **kw: Any) -> Reply:
    """A reply made of tool calls: ``tools(("get_order_status", {"order_id": "A1002"}))``."""
    made = tuple(c if isinstance(c, ToolCall) else ToolCall(c[0], c[1]) for c in calls)
    return Reply(tool_calls=made, **kw)


def error(status: int, message: str = "scripted error", **kw: Any) -> Reply:
    """An HTTP error reply with an OpenAI-style JSON error body."""
    return Reply(status=status, error_message=message, **kw)


def _pieces(s: str, size: int) -> Iterator[str]:
    """Split ``s`` into consecutive pieces of ``size`` characters (the last may be shorter)."""
    for i in range(0, len(s), max(1, size)):
        yield s[i : i + size]


def _error_body(status: int, message: str) -> dict:
    kind, code = _ERROR_TYPES.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _Disconnected(Exception):
    """The client went away while we were writing."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive + chunked streaming like real providers
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.server.owner._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base-class name
        pass  # keep test output quiet

    # -- routing -------------------------------------------------------------

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self.server.owner.headers.append({k.lower(): v for k, v in self.headers.items()})
            data = [{"id": name, "object": "model", "created": 0, "owned_by": "tests"} for name in self.server.owner.models]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, _error_body(404, f"scripted server: no route GET {self.path}"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.startswith(("http://", "https://")):  # through a proxy: the absolute form
            self.path = "/" + self.path.split("://", 1)[1].partition("/")[2]
        self.server.owner.headers.append({k.lower(): v for k, v in self.headers.items()})
        if self.path.split("?")[0].rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, _error_body(404, f"scripted server: no route POST {self.path}"))
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            self._send_json(400, _error_body(400, f"scripted server: invalid JSON body: {exc}"))
            return
        owner = self.server.owner
        refusal = owner._refusal(body)
        if refusal is not None:
            self._refuse(body, refusal)
            return
        try:
            reply, index, ids = owner._next(body)
        except Exception as exc:  # a buggy script callable: say so instead of hanging up
            self._send_json(500, _error_body(500, f"scripted server: script raised {exc!r}"))
            return
        rid = f"chatcmpl-scripted-{index}"
        try:
            if reply is None:
                msg = f"scripted server: script exhausted after {index} requests"
                self._send_json(500, _error_body(500, msg))
            elif reply.status != 200:
                self._send_json(reply.status, _error_body(reply.status, reply.error_message), reply.headers)
            elif body.get("stream"):
                self._stream(body, reply, ids, rid)
            else:
                if owner.tokens_per_second:  # a server generates the whole answer before it sends it
                    time.sleep(sum(t for _, t in owner._chunks(body, reply, ids, rid)) / owner.tokens_per_second)
                self._send_json(200, owner._completion(body, reply, ids, rid), reply.headers)
        except (BrokenPipeError, ConnectionResetError, _Disconnected):
            owner._note_disconnect()
            self.close_connection = True

    # -- writing -------------------------------------------------------------

    def _send_json(self, status: int, obj: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        """Write one HTTP/1.1 chunk (or, close-delimited, the bytes as they are) and flush it."""
        try:
            if self._close_delimited:
                if data:
                    self.wfile.write(data)
            else:
                self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except OSError as exc:  # EPIPE / ECONNRESET / socket shut down by stop()
            raise _Disconnected from exc

    _close_delimited = False

    def _refuse(self, body: dict, refusal: str) -> None:
        """Fail a request the way llama-cpp-python's server does (see ScriptedServer)."""
        owner = self.server.owner
        try:
            if refusal != "stream_tools":
                allowed = " or ".join(f"'{t}'" for t in ("text", *owner.response_formats))
                message = (f"1 validation error: response_format.type: Input should be {allowed} "
                           f"[type=literal_error, input_value='{refusal}']")
                self._send_json(owner.format_status, _error_body(owner.format_status, message))
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if owner.stream_tools == "hang":  # the failed stream kept open by SSE pings, until the client leaves
                until = time.monotonic() + 30
                while time.monotonic() < until and not owner._stopping:
                    self._chunk(b": ping\n\n")
                    time.sleep(0.2)
                self._hang_up()
            elif owner.stream_tools == "sse_error":
                error = _error_body(500, "Automatic streaming tool choice is not supported")
                self._chunk(b"data: " + json.dumps(error).encode() + b"\n\n")
                self._chunk(b"")
            else:  # "empty": the generator raised before its first chunk; the server hangs up
                self._hang_up()
        except (BrokenPipeError, ConnectionResetError, _Disconnected):
            owner._note_disconnect()
            self.close_connection = True

    def _stream(self, body: dict, reply: Reply, ids: list[str], rid: str) -> None:
        owner = self.server.owner
        if reply.delay_headers:
            time.sleep(reply.delay_headers)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        if reply.close_delimited:
            self._close_delimited = True
            self.close_connection = True
            self.send_header("Connection", "close")
        else:
            self.send_header("Transfer-Encoding", "chunked")
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if reply.raw_body:
            for piece in reply.raw_body:
                self._chunk(piece)
            self._chunk(b"")
            return
        delay = 1.0 / owner.tokens_per_second if owner.tokens_per_second else 0.0
        sent_content, stalled = 0, False
        for event, is_token in owner._chunks(body, reply, ids, rid):
            if reply.drop_after is not None and sent_content >= reply.drop_after:
                self._hang_up()
                return
            if reply.error_after is not None and sent_content >= reply.error_after:
                self._chunk(b"data: " + json.dumps(_error_body(500, reply.error_message)).encode() + b"\n\n")
                self._chunk(b"")
                return
            if reply.stall_after is not None and not stalled and sent_content >= reply.stall_after:
                until = time.monotonic() + reply.stall_seconds
                while time.monotonic() < until:
                    pause = min(0.25, max(0.0, until - time.monotonic()))
                    if reply.stall_until is not None:
                        if reply.stall_until.wait(pause):
                            break
                    else:
                        time.sleep(pause)
                    if reply.stall_keepalive:
                        self._chunk(b": keep-alive\n\n")
                stalled = True
            if is_token and delay:
                time.sleep(delay)
            self._chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
            if any((c.get("delta") or {}).get("content") for c in event.get("choices") or ()):
                sent_content += 1
        if reply.done:
            self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")  # zero-length terminating chunk (nothing, close-delimited: the close ends it)

    def _hang_up(self) -> None:
        """Close the connection mid-response, the way a dropped network or a crashed server does."""
        self.close_connection = True
        self.server.owner._note_drop()  # before the client can see the hang-up and read the count
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for a slow stream; stop() hangs up on clients instead
    allow_reuse_address = True
    # A server answering a hundred turns at once is connected to a hundred times at once; with
    # socketserver's backlog of 5 the rest wait on SYN retransmits (seconds, doubling each time).
    request_queue_size = 256
    owner: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (the SDK giving up on a retry, a cancelled answer) is normal
        here. Anything else goes to the process's real stderr: socketserver's default writes to
        `sys.stderr`, which a test running the CLI in-process has replaced with its capture."""
        import sys
        import traceback

        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            return
        traceback.print_exc(file=sys.__stderr__)


class ScriptedServer:
    """OpenAI-compatible server answering chat completions from a script of :class:`Reply`.

    ``script`` is a sequence of replies (consumed in order; extend with :meth:`add`) or a
    callable ``(body, index) -> Reply`` (return ``None`` to behave as exhausted).
    """

    def __init__(
        self,
        script: Sequence[Reply] | Callable[[dict, int], Reply] = (),
        *,
        tokens_per_second: float | None = None,
        chunk_chars: int = 4,
        stream_tools: str = "ok",
        response_formats: tuple[str, ...] | None = None,
        format_status: int = 500,
    ) -> None:
        if stream_tools not in ("ok", "empty", "sse_error", "hang"):
            raise ValueError(f"stream_tools must be ok, empty, sse_error or hang, not {stream_tools!r}")
        self.stream_tools = stream_tools
        self.response_formats = response_formats  # None: every response_format is taken
        self.format_status = format_status
        self.refusals = 0
        self._served = 0  # scripted replies used up (refused requests use none)
        self._func = script if callable(script) else None
        self._script: list[Reply] = [] if callable(script) else list(script)
        self.tokens_per_second = tokens_per_second
        self.chunk_chars = max(1, chunk_chars)
        self.requests: list[dict] = []
        self.models = ["scripted-model"]  # what GET /v1/models lists
        self.headers: list[dict[str, str]] = []  # each request's headers, names lower-cased
        self.disconnects = 0
        self.connections = 0  # accepted so far: a client that reuses its connection opens one
        self.drops = 0  # streams cut short on purpose (Reply.drop_after)
        self._lock = threading.Lock()
        self._ids = 0
        self._conns: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> ScriptedServer:
        """Bind 127.0.0.1 on an ephemeral port and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        self._stopping = False
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, name="scripted-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open client connections and close the listening socket."""
        if self._httpd is None:
            return
        self._stopping = True
        self._httpd.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (server must be started)."""
        if self._httpd is None:
            raise RuntimeError("ScriptedServer is not started")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """Base URL to hand to the OpenAI client, e.g. ``http://127.0.0.1:54321/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def add(self, *replies: Reply) -> None:
        """Append replies to the script."""
        with self._lock:
            self._script.extend(replies)

    # -- internals used by the handler ---------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            self.connections += add
            (self._conns.add if add else self._conns.discard)(conn)

    def _note_disconnect(self) -> None:
        with self._lock:
            if not self._stopping:
                self.disconnects += 1

    def _note_drop(self) -> None:
        with self._lock:
            self.drops += 1

    def _refusal(self, body: dict) -> str | None:
        """Record ``body`` if the server's mode refuses it; say how: the refused response_format
        type, or "stream_tools"."""
        kind = (body.get("response_format") or {}).get("type")
        if kind and self.response_formats is not None and kind not in self.response_formats:
            refusal: str | None = kind
        elif body.get("stream") and body.get("tools") and self.stream_tools != "ok":
            refusal = "stream_tools"
        else:
            return None
        with self._lock:
            self.requests.append(body)
            self.refusals += 1
        return refusal

    def _next(self, body: dict) -> tuple[Reply | None, int, list[str]]:
        """Record ``body``; return (reply or None if exhausted, request index, tool-call ids)."""
        with self._lock:
            index = len(self.requests)
            self.requests.append(body)
            served, self._served = self._served, self._served + 1
            if self._func is None:
                reply = self._script[served] if served < len(self._script) else None
        if self._func is not None:
            reply = self._func(body, index)  # exceptions become HTTP 500 in the handler
        ids: list[str] = []
        if reply is not None:
            with self._lock:
                for call in reply.tool_calls:
                    self._ids += 1
                    ids.append(call.id or f"call_{self._ids}")
        return reply, index, ids

    @staticmethod
    def _usage(body: dict, reply: Reply) -> dict:
        if reply.usage is not None:
            prompt, completion = reply.usage
        else:
            prompt = max(1, len(json.dumps(body.get("messages", []))) // 4)
            produced = reply.content + reply.reasoning + "".join(c.name + c.arguments_json() for c in reply.tool_calls)
            completion = max(1, len(produced) // 4)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    @staticmethod
    def _finish(reply: Reply) -> str:
        return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")

    def _chunks(self, body: dict, reply: Reply, ids: list[str], rid: str) -> Iterator[tuple[dict, bool]]:
        """Yield (chat.completion.chunk object, counts-as-a-token) pairs for one streamed reply."""
        base = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "scripted-model"),
            "system_fingerprint": None,
        }

        def chunk(delta: dict, finish: str | None = None) -> dict:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return {**base, "choices": [choice]}

        yield chunk({"role": "assistant", "content": ""}), False
        if reply.raw_deltas:
            for delta in reply.raw_deltas:
                yield chunk(delta), True
            yield chunk({}, "stop"), False
            return
        for piece in _pieces(reply.reasoning, self.chunk_chars):
            yield chunk({"reasoning_content": piece}), True
        for piece in _pieces(reply.content, self.chunk_chars):
            yield chunk({"content": piece}), True
        for i, (call, call_id) in enumerate(zip(reply.tool_calls, ids)):
            head = {"index": i, "id": call_id, "type": "function", "function": {"name": call.name, "arguments": ""}}
            yield chunk({"tool_calls": [head]}), False
            for piece in _pieces(call.arguments_json(), ARGUMENT_PIECE_CHARS):
                yield chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}), False
        if not reply.no_finish:
            yield chunk({}, self._finish(reply)), False
        if (body.get("stream_options") or {}).get("include_usage"):
            yield {**base, "choices": [], "usage": self._usage(body, reply)}, False

    def _completion(self, body: dict, reply: Reply, ids: list[str], rid: str) -> dict:
        """A non-streamed ``chat.completion`` object for ``reply``."""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.content if (reply.content or not reply.tool_calls) else None,
            "refusal": None,
        }
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": cid, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json()}}
                for c, cid in zip(reply.tool_calls, ids)
            ]
        return {
            "id": rid,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "scripted-model"),
            "choices": [{"index": 0, "message": message, "finish_reason": self._finish(reply), "logprobs": None}],
            "usage": self._usage(body, reply),
        }
