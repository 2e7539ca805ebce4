"""The exceptions triage raises on purpose. Each carries a one-line message for the user.

The fault catalogue: what can go wrong, what triage does, and where (tests/test_faults.py drives
each case through the real CLI). No fault prints a traceback; only a bug in triage would.

  the model service (engine/llm.py: ModelError, exit 1; the REPL stays)
    429, 5xx, refused connection,      retried by the SDK with backoff (Retry-After honoured), `retries`
      timeout before the stream          times; then one line naming the provider and the tries
    401 / 403                          "check the key for provider X (ENV_VAR)", never the key
    400, context too long              not retried; "start a new one (/new in chat)"
    404                                names the model and the provider
    DNS failure, nothing listening     "cannot connect to X at URL: cause"
    stream cut, SSE error, stall       partial reply kept and stored interrupted; a stall ends after
                                         `timeout` seconds without a chunk, keep-alive comments or not
    malformed chunks, bad base URL     one line ("cannot read"); a base URL is checked with the config
    no finish_reason, close-delimited  a cut stream: partial reply kept, stored interrupted, exit 1; so
      body cut, unterminated JSON        is a JSON answer that never closes its object
    200 stream with no chunk at all    "the server ended the stream without an answer"; with tools
      (or only pings until timeout)      offered and tool_rounds = auto, the call is made again with
                                         stream: false and plain is kept for the session
    response_format refused (400, 422, not retried; structured_output = auto steps down: json_schema,
      a 5xx naming it)                   json_object, the text trailer; the step kept is a notice
    finish_reason length, empty        a truncation note; "the model returned an empty answer"
  the tools (tools/registry.py: a tool result text the model can act on, the loop goes on)
    bad JSON, wrong type, unknown      "error: …" as the tool's result
    tool raises, tool hangs            the exception as text; `tool_timeout` per call
    huge result                        cut to MAX_RESULT_CHARS before the model and the screen
    a model that loops                 stopped after `max_rounds`; the rules answer from the lookups
    instructions inside order data     passed as JSON data; the prompt says it has no authority;
                                         triage's own tools only read and file tickets
  MCP servers (tools/mcp_client.py: one notice each, the other tools go on; tests/test_mcp_tools.py)
    cannot start, ${VAR} not set,      "MCP server 'X' could not start: …"; its tools are left out
      hangs past mcp_connect_timeout
    junk on stdout                     ignored, one notice; logged under mcp-logs/
    crashes mid-session                the call is an error for the model; "… stopped", its tools leave
    a tool that acts                   chat asks [y/N] (no by default); ask and serve refuse it unless
                                         `allow` lists it; a refusal is text for the model
  the order API (store/order_api.py: a StoreError, the lookup's error for the model)
    404                                no such order
    429, 5xx                           retried with backoff (Retry-After up to 5 s), then an error
    timeout, not JSON, no status       an error the model reads; the offline engine escalates
  the user and the machine (cli.py, config.py: UsageError / ConfigError, exit 2)
    empty, oversized or binary input   one line; invalid UTF-8 becomes U+FFFD, NUL bytes are dropped
    order ids                          checked (`--order`), and only ever bound as SQL parameters
    malformed config, wrong types      the file, the line and the key
    unwritable data directory          the answer prints, with one note that nothing was saved
    output closed (`| head -1`)        exit 0, nothing on stderr; the answer finishes unseen and is
                                         stored whole (its ticket filed)
    Ctrl-C, SIGTERM, SIGHUP            the answer stored as interrupted; exit 130 / 128+N
    TERM=dumb, narrow windows,         plain text at the real width; rich and prompt-toolkit honour
      NO_COLOR                           NO_COLOR
"""

from __future__ import annotations


class TriageError(Exception):
    """Base class: something the user can act on, reported as one line."""

    exit_code = 1


class ConfigError(TriageError):
    """Bad configuration or usage: unknown provider, missing key, malformed config file."""

    exit_code = 2


class UsageError(TriageError):
    """The command line or the input cannot be used (no question, empty stdin)."""

    exit_code = 2


class StoreError(TriageError):
    """The order store or the data directory cannot be used (exit 1, like a failed service)."""


class NotFound(StoreError, UsageError):
    """A conversation or ticket that is not stored. `kind` says which, so a front end can add
    its own hint ("see: triage history"); the message itself has none. Exit 2: the user named it."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class InvalidValue(StoreError, UsageError):
    """A value a store refuses: a malformed id, an unknown ticket status, a change that does not
    apply now (closing a closed ticket). The message names the value, not a command-line flag."""


class QueueEmpty(StoreError):
    """No open ticket is free to claim: how the queue stands, not a mistake (exit 1, as a `grep`
    that finds nothing)."""


class ConversationBusy(StoreError):
    """Another process or replica is answering a turn in this conversation (its lease is live)."""


class ModelError(TriageError):
    """The model endpoint failed: unreachable, refused the key, returned an error."""


class StructuredOutputRejected(ModelError):
    """The endpoint refused a request because of its response_format (no structured output)."""


class ToolStreamingUnsupported(ModelError):
    """The endpoint cannot stream a call that offers tools (an error saying so, or a 200 stream
    with nothing in it): the call can be made again with `stream: false`. `certain`: the endpoint
    said so, or ended a 200 stream cleanly with nothing in it; not a connection that broke or
    went quiet after its headers, which a passing fault does too (so it is not remembered)."""

    def __init__(self, message: str, *, certain: bool = True) -> None:
        super().__init__(message)
        self.certain = certain


class ContextTooLong(ModelError):
    """The endpoint refused the conversation as longer than the model's context window."""


class EmptyStream(ModelError):
    """A 200 stream that ended without a single chunk: the server gave up, not the model."""


class ServerError(TriageError):
    """A triage server (`--server URL`) could not answer: unreachable, refused the token, busy,
    or the stream dropped. Exit 1, one line naming the server."""


class ServerRefused(ServerError):
    """The server refused what the user asked (a 400, 404, 409 or 413: an unknown ticket, a
    message too long): the user's mistake, exit 2, as it is without a server."""

    exit_code = 2
