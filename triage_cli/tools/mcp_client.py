"""Tools from MCP servers: one connection per configured server, its tools offered to the model as
`SERVER__tool` in a ToolRegistry, and every way a server can fail turned into one notice.

An MCP client's cancel scopes must be exited by the task that entered them, so each connection is
owned by one long-lived task: it connects, lists the tools, runs the calls other tasks queue to it,
and closes. The mcp package (slow to import) is imported here only, and only when a server is
configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage_cli.envfile import MissingVariable, expand
from triage_cli.private_dirs import make_private_dirs
from triage_cli.tools.mcp_config import McpServer
from triage_cli.tools.registry import Tool, ToolRegistry

if TYPE_CHECKING:
    import anyio
    from mcp import Client
    from mcp_types import CallToolResult

NAME_LIMIT = 64  # OpenAI tool names: ^[a-zA-Z0-9_-]{1,64}$
LOG_DIR = "mcp-logs"


class McpCallError(Exception):
    """A tool call that did not give a result: the text is for the model."""


def prefixed_name(server: str, tool: str, taken: set[str]) -> str:
    """`server__tool` as an OpenAI tool name: other characters become `_`, and a name too long
    (or already taken) is cut and ended with a short hash of the original, so it stays unique."""
    original = f"{server}__{tool}"
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", original)
    if len(name) > NAME_LIMIT or name in taken:
        name = f"{name[:NAME_LIMIT - 9]}_{hashlib.sha256(original.encode()).hexdigest()[:8]}"
    return name


def result_text(result: CallToolResult) -> str:
    """What the model reads of a result: its text, its structured content (when the text does not
    already say it), other content as one line each. An `isError` result is raised."""
    parts: list[str] = []
    for block in result.content:
        if block.type == "text":
            parts.append(block.text)
        elif block.type == "image" or block.type == "audio":
            parts.append(f"[{block.type} {block.mime_type}, about {len(block.data) * 3 // 4} bytes, not shown]")
        elif block.type == "resource_link":
            parts.append(f"[resource link {block.uri}]")
        elif block.type == "resource":
            parts.append(f"[resource {block.resource.uri}, not shown]")
    if result.structured_content is not None:
        structured = json.dumps(result.structured_content, ensure_ascii=False, default=str)
        if not any(_same_json(part, result.structured_content) for part in parts):
            parts.append(structured)
    text = "\n".join(parts) or "(no content)"
    if result.is_error:
        raise McpCallError(text)
    return text


def _same_json(text: str, value: Any) -> bool:
    """Whether `value` only repeats `text` (as its JSON, or as a `{"result": text}` wrapper)."""
    if isinstance(value, dict) and len(value) == 1 and next(iter(value.values())) == text:
        return True
    try:
        return bool(json.loads(text) == value)
    except ValueError:
        return False


@dataclass
class _Call:
    tool: str
    arguments: dict[str, Any]
    future: asyncio.Future[str]
    scope: anyio.CancelScope | None = None  # set while it runs, so a caller that gives up can stop it


@dataclass
class McpConnection:
    """One server's session, owned by the task `start` makes; `call` queues a call to it."""

    server: McpServer
    log_dir: Path
    connect_timeout: float
    notify: Callable[[str], None]  # one notice for the user, once per problem
    state: str = "connecting"  # connecting, ready, failed (never started), stopped (went away), closed
    problem: str = ""
    tools: list[Any] = field(default_factory=list)  # the mcp Tool objects it lists
    _calls: asyncio.Queue[_Call | None] = field(default_factory=asyncio.Queue)
    _settled: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _scope: anyio.CancelScope | None = None  # the owner's, cancelled by a close during start-up
    _junk_seen: bool = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._own(), name=f"mcp:{self.server.name}")

    async def settled(self) -> None:
        """Until it is ready or has failed."""
        await self._settled.wait()

    async def call(self, tool: str, arguments: dict[str, Any]) -> str:
        if self.state != "ready":
            raise McpCallError(f"the MCP server '{self.server.name}' is not available ({self.problem or self.state})")
        call = _Call(tool, arguments, asyncio.get_running_loop().create_future())
        self._calls.put_nowait(call)
        try:
            return await call.future
        except asyncio.CancelledError:  # the tool timeout: stop the call on the owner's side too
            if call.scope is not None:
                call.scope.cancel()
            raise

    async def aclose(self) -> None:
        if self._task is not None:
            if self.state == "connecting" and self._scope is not None:
                self.state = "closed"  # a session that ends does not wait for a slow start
                self._scope.cancel()
            self._calls.put_nowait(None)
            await self._task

    # the owning task -----------------------------------------------------------------------------

    async def _own(self) -> None:
        import anyio

        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                timer = asyncio.get_running_loop().call_later(self.connect_timeout, scope.cancel)
                try:
                    async with contextlib.AsyncExitStack() as stack:
                        client = await self._connect(stack)
                        self.tools = await self._list_tools(client)
                        timer.cancel()
                        self.state = "ready"
                        self._settled.set()
                        await self._serve(client)
                finally:
                    timer.cancel()
            if scope.cancelled_caught and self.state == "connecting":
                self._fail("failed", f"did not answer within {self.connect_timeout:g} s (mcp_connect_timeout)")
        except MissingVariable as exc:
            self._fail("failed", f"cannot start: {exc}")
        except Exception as exc:  # noqa: BLE001 - any fault of the server or its transport: a notice, not a crash
            self._fail("stopped" if self.state == "ready" else "failed", _reason(exc))
        finally:
            self._settled.set()
            self._refuse_waiting()

    async def _connect(self, stack: contextlib.AsyncExitStack) -> Client:
        from mcp import Client
        from mcp_types import Implementation

        server = self.server
        if server.command:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            params = StdioServerParameters(
                command=expand(server.command), args=[expand(a) for a in server.args],
                env={k: expand(v) for k, v in server.env.items()},
                cwd=expand(server.cwd) if server.cwd else None, encoding_error_handler="replace",
            )
            transport: Any = stdio_client(params, errlog=stack.enter_context(self._log_file()))
        else:
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            http = await stack.enter_async_context(
                create_mcp_http_client(headers={k: expand(v) for k, v in server.headers.items()}))
            transport = streamable_http_client(expand(server.url or ""), http_client=http)
        client = Client(transport, message_handler=self._message, cache=None,
                        client_info=Implementation(name="triage", version="0.1.0"))
        return await stack.enter_async_context(client)

    async def _list_tools(self, client: Client) -> list[Any]:
        listed: list[Any] = []
        cursor: str | None = None
        for _ in range(100):  # a paginator that never ends cannot hang the start
            page = await client.list_tools(cursor=cursor)
            listed.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        wanted = self.server.tools
        return [t for t in listed if wanted is None or t.name in wanted]

    async def _serve(self, client: Client) -> None:
        import anyio

        async with anyio.create_task_group() as group:
            while (call := await self._calls.get()) is not None:
                group.start_soon(self._run, client, call)
            group.cancel_scope.cancel()

    async def _run(self, client: Client, call: _Call) -> None:
        import anyio
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED

        if call.future.done():  # its caller gave up before it started
            return
        with anyio.CancelScope() as scope:
            call.scope = scope
            try:
                outcome: str | BaseException = result_text(await client.call_tool(call.tool, call.arguments))
            except McpCallError as exc:
                outcome = exc
            except MCPError as exc:
                if exc.code == CONNECTION_CLOSED:
                    self._fail("stopped", "the connection closed")
                outcome = McpCallError(f"the MCP server '{self.server.name}' answered: {exc}")
            except Exception as exc:  # noqa: BLE001 - the transport failed: the server is gone
                self._fail("stopped", _reason(exc))
                outcome = McpCallError(f"the MCP server '{self.server.name}' stopped: {_reason(exc)}")
        if call.future.done():
            return
        if isinstance(outcome, BaseException):
            call.future.set_exception(outcome)
        else:
            call.future.set_result(outcome)

    async def _message(self, message: Any) -> None:
        if isinstance(message, Exception) and not self._junk_seen:
            self._junk_seen = True
            self.notify(f"MCP server '{self.server.name}' wrote something that is not MCP on its output "
                        f"(ignored; see {self.log_dir})")

    def _fail(self, state: str, problem: str) -> None:
        if self.state in ("failed", "stopped", "closed"):
            return
        self.state, self.problem = state, problem
        verb = "could not start" if state == "failed" else "stopped"
        self.notify(f"MCP server '{self.server.name}' {verb}: {problem}; going on without its tools")

    def _refuse_waiting(self) -> None:
        while not self._calls.empty():
            call = self._calls.get_nowait()
            if call is not None and not call.future.done():
                call.future.set_exception(McpCallError(f"the MCP server '{self.server.name}' is not available"))

    def _log_path(self) -> Path:
        return self.log_dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', self.server.name)}.log"

    @contextlib.contextmanager
    def _log_file(self) -> Any:
        """The server's stderr, appended to its log file under the data directory (0600)."""
        make_private_dirs(self.log_dir)
        path = self._log_path()
        path.touch(mode=0o600)
        with path.open("a", encoding="utf-8") as log:
            yield log


def _reason(exc: BaseException) -> str:
    """The first real error inside task-group wrappers, in one line."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    return text[:200]


class McpTools:
    """The configured servers' connections and the registry entries of their tools."""

    def __init__(self, servers: list[McpServer], *, home: Path, connect_timeout: float) -> None:
        self.servers = [s for s in servers if s.enabled]
        self.servers_off = [s for s in servers if not s.enabled]  # `enabled = false`: listed, never started
        self.connections: list[McpConnection] = []
        self.notices: list[str] = []  # said once each; the session passes them on with an answer
        self._home = home
        self._connect_timeout = connect_timeout
        self._registered: dict[str, list[str]] = {}  # server -> the names its tools have in the registry
        self._registry: ToolRegistry | None = None
        self._started = False

    async def start(self) -> None:
        """Begin connecting every server in the background (on the running loop), once. The mcp
        package is imported in a thread first: about a second that chat's prompt must not wait."""
        if self._started:
            return
        self._started = True
        await asyncio.to_thread(_load_sdk)
        _quiet_sdk_logging(self._home / LOG_DIR / "mcp.log")
        for server in self.servers:
            connection = McpConnection(server, self._home / LOG_DIR, self._connect_timeout, self._notice)
            connection.start()
            self.connections.append(connection)

    async def register(self, registry: ToolRegistry) -> None:
        """Wait until every server is ready or has failed, then add the ready ones' tools."""
        await asyncio.gather(*(c.settled() for c in self.connections))
        self._registry, self._registered = registry, {}
        taken = {tool.name for tool in registry.tools()}
        for connection in self.connections:
            if connection.state != "ready":
                continue
            names = self._registered.setdefault(connection.server.name, [])
            for remote in connection.tools:
                name = prefixed_name(connection.server.name, remote.name, taken)
                taken.add(name)
                names.append(name)
                registry.add(_registry_tool(connection, remote, name))

    def _notice(self, text: str) -> None:
        self.notices.append(text)
        registry = self._registry
        if registry is not None:  # a server that stopped: its tools leave the model's list
            for connection in self.connections:
                if connection.state == "stopped":
                    for name in self._registered.pop(connection.server.name, []):
                        registry.remove(name)

    def take_notices(self) -> list[str]:
        notices, self.notices = self.notices, []
        return notices

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.connections), return_exceptions=True)


def _registry_tool(connection: McpConnection, remote: Any, name: str) -> Tool:
    server = connection.server
    annotations = remote.annotations
    read_only = bool(annotations and annotations.read_only_hint) or remote.name in server.read_only
    schema = dict(remote.input_schema or {})
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})

    async def call(**arguments: Any) -> str:
        return await connection.call(remote.name, arguments)

    description = " ".join((remote.description or remote.title or remote.name).split())
    return Tool(name, f"{description} (from the MCP server '{server.name}')", schema, call,
                read_only=read_only, server=server.name, approved=remote.name in server.allow)


def _load_sdk() -> None:
    import anyio  # noqa: F401
    import mcp  # noqa: F401
    import mcp.client.stdio  # noqa: F401
    import mcp.client.streamable_http  # noqa: F401


def _quiet_sdk_logging(path: Path) -> None:
    """The SDK logs a server's junk and its own troubles: to a file, never to the terminal."""
    logger = logging.getLogger("mcp")
    if logger.handlers:
        return
    logger.propagate = False
    try:
        make_private_dirs(path.parent)
        path.touch(mode=0o600)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)

