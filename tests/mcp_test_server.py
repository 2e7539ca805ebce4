"""A real MCP server for the tests, written with the mcp package: a CRM with tools that read, one
that acts, and ones that misbehave. Run as a script:

    python mcp_test_server.py [--mode normal|hang|junk|fail] [--http PORT]

--mode hang never answers the handshake; junk writes a line that is not JSON-RPC before serving;
fail writes to stderr and exits. Over stdio unless --http PORT (streamable HTTP on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

LONG_NAME = "look_up_the_complete_purchase_history_of_a_customer_by_email_address"


def build() -> MCPServer:
    server = MCPServer("crm")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def lookup_customer(email: str) -> str:
        """Find a customer by email."""
        return f"customer {email}: Ada Lovelace, VIP since 2021"

    @server.tool()
    def refund(order_id: str, amount: float = 0.0) -> str:
        """Refund an order."""
        return f"refunded {order_id}"

    @server.tool()
    def notes(order_id: str) -> str:
        """The CRM's notes on an order (reads only, but not annotated so)."""
        return f"notes for {order_id}: called twice"

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def crash() -> str:
        """Crash the server process."""
        os._exit(1)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def huge() -> str:
        """A very long result."""
        return "x" * 200_000

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def slow() -> str:
        """Never finishes in time."""
        time.sleep(60)
        return "late"

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def broken() -> str:
        """Always fails."""
        raise RuntimeError("the CRM database is down")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def environment() -> str:
        """The names of the variables this process got."""
        print("a line on stderr from the CRM", file=sys.stderr, flush=True)
        return " ".join(sorted(os.environ))

    server.add_tool(lambda email: f"history of {email}", name=LONG_NAME, description="Purchase history.",
                    annotations=ToolAnnotations(read_only_hint=True))
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="normal", choices=("normal", "hang", "junk", "fail"))
    parser.add_argument("--http", type=int)
    options = parser.parse_args()
    if options.mode == "fail":
        print("crm: cannot read its licence file", file=sys.stderr, flush=True)
        sys.exit(3)
    if options.mode == "hang":
        time.sleep(3600)
    if options.mode == "junk":
        sys.stdout.write("Starting CRM server v1.2 (debug output on stdout)\n")
        sys.stdout.flush()
    server = build()
    if options.http:
        server.run("streamable-http", host="127.0.0.1", port=options.http)
    else:
        server.run()


if __name__ == "__main__":
    main()
