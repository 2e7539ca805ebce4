"""`triage serve` under concurrent streams, against a minimal relay in the same run. By hand:

    python benchmarks/serve_bench.py                     # 10, 50 and 200 streams
    python benchmarks/serve_bench.py --streams 10 50     # fewer levels
    python benchmarks/serve_bench.py --streams 200 500 --workers 1 2 --balancer
                                                         # serve --workers N, and each through HAProxy
    python benchmarks/serve_bench.py --streams 200 --metrics-off
                                                         # also a server without /metrics: what they cost

A model server (its own process, asyncio) answers every chat completion with 500 tokens at 50
tokens a second, each token the time it was sent (`1234.567890 `, CLOCK_MONOTONIC, which every
process on the machine shares). The clients (this process, raw asyncio sockets, so reading costs
little) find those times in the events they receive: the delay from the model sending a token to
the client receiving its event needs no bookkeeping between processes.

Two servers answer the same load, one after the other at each level:

  triage   `triage serve` (sessions, sanitizing, redaction, the journal in SQLite, SSE framing)
  relay    a minimal FastAPI StreamingResponse over the openai stream (the seeds' pattern, below)

Reported per level: whether every stream completed (all 500 tokens and the final event), p50 and
p95 delay, the server's CPU per streamed token (its utime+stime over the level) and its peak RSS
(VmHWM). On a shared machine only the ratios of one run mean much.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKENS = 500
RATE = 50.0  # tokens a second
LEVELS = (10, 50, 200)
STAMP = re.compile(rb"(\d{3,}\.\d{6}) ")
TARGETS = {"cpu_ratio": 0.6, "p95_ms_at_200": 50.0, "rss_mib_at_200": 250.0}

# --------------------------------------------------------------------------- the model


def model_server(port_file: str) -> None:
    """Answer every POST with a streamed chat completion: the JSON answer triage asks for, its
    reply made of TOKENS timestamps sent at RATE a second."""

    def chunk(delta: dict, finish: str | None = None) -> bytes:
        body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "bench",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
        data = b"data: " + json.dumps(body).encode() + b"\n\n"
        return b"%X\r\n%s\r\n" % (len(data), data)

    tail = '", "order_id": null, "issue": "question", "status": "", "next_step": "answer", "summary": "bench"}'

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
                writer.write(chunk({"role": "assistant", "content": ""}) + chunk({"content": '{"reply": "'}))
                start = time.monotonic()
                for i in range(TOKENS):
                    await asyncio.sleep(max(0.0, start + (i + 1) / RATE - time.monotonic()))
                    writer.write(chunk({"content": f"{time.monotonic():.6f} "}))
                writer.write(chunk({"content": tail}) + chunk({}, "stop") + b"%X\r\n%s\r\n" % (14, b"data: [DONE]\n\n")
                             + b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        Path(port_file).write_text(str(server.sockets[0].getsockname()[1]))
        await server.serve_forever()

    asyncio.run(main())


# --------------------------------------------------------------------------- the relay


def relay_server(model_url: str, port_file: str) -> None:
    """The seeds' pattern: a FastAPI StreamingResponse relaying the openai stream's content as SSE."""
    import uvicorn
    from fastapi import Body, FastAPI
    from fastapi.responses import StreamingResponse
    from openai import AsyncOpenAI

    app = FastAPI()
    client = AsyncOpenAI(base_url=model_url, api_key="sk-bench-not-a-key")

    @app.post("/v1/chat/stream")
    async def chat(body: dict = Body(...)) -> StreamingResponse:  # type: ignore[type-arg]

        async def events():  # type: ignore[no-untyped-def]
            stream = await client.chat.completions.create(
                model="bench", messages=[{"role": "user", "content": body["message"]}], stream=True)
            reply = []
            async for part in stream:
                if part.choices and part.choices[0].delta.content:
                    reply.append(part.choices[0].delta.content)
                    yield f"event: content\ndata: {json.dumps({'content': part.choices[0].delta.content})}\n\n"
            yield f"event: done\ndata: {json.dumps({'content': ''.join(reply)})}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    sock = socket.create_server(("127.0.0.1", 0), backlog=1024)
    Path(port_file).write_text(str(sock.getsockname()[1]))
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])


# --------------------------------------------------------------------------- the clients


async def one_stream(port: int, number: int, delays: list[float]) -> bool:
    """POST one turn and read it to its end; True when all TOKENS arrived and it ended with `done`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"message": f"Where is my order? (stream {number})"}).encode()
    writer.write(b"POST /v1/chat/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    seen, rest, done = 0, b"", False
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            now = time.monotonic()
            buffer = rest + data
            if done:
                continue
            final = buffer.find(b"event: done")  # `done` repeats the whole reply: not new tokens
            done = final >= 0
            end = 0
            for match in STAMP.finditer(buffer[:final] if done else buffer):
                delays.append(now - float(match.group(1)))
                seen += 1
                end = match.end()
            rest = buffer[max(end, len(buffer) - 64):]
    finally:
        writer.close()
    return seen == TOKENS and done


async def level(port: int, streams: int) -> tuple[bool, list[float]]:
    delays: list[float] = []
    results = await asyncio.gather(*(one_stream(port, n, delays) for n in range(streams)))
    return all(results), delays


# --------------------------------------------------------------------------- measuring a server


def tree(pid: int) -> list[int]:
    """`pid` and its children (a `serve --workers N` supervisor's workers)."""
    children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                for c in (task / "children").read_text().split()]
    return [pid, *children]


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for one in tree(pid):
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def peak_rss_mib(pid: int) -> float:
    """The peak RSS of the process and its workers together."""
    total = 0.0
    for one in tree(pid):
        line = next(x for x in Path(f"/proc/{one}/status").read_text().splitlines() if x.startswith("VmHWM:"))
        total += int(line.split()[1]) / 1024
    return total


def wait_for_port(port_file: Path, process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 120
    while not port_file.exists() or not port_file.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"a server did not start: {port_file}")
        time.sleep(0.05)
    return int(port_file.read_text())


def start_triage(model_url: str, work: Path, workers: int = 1, metrics: str = "on") -> tuple[subprocess.Popen[bytes], int]:
    work = work / f"triage-{workers}-metrics-{metrics}"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_") and not k.endswith("_API_KEY")}
    (work / "config.toml").write_text("")
    env.update({"TRIAGE_HOME": str(work / "home"), "TRIAGE_CONFIG": str(work / "config.toml"),
                "OPENAI_API_KEY": "sk-bench-not-a-key", "OPENAI_BASE_URL": model_url, "TRIAGE_MODEL": "bench",
                "TRIAGE_MAX_CONCURRENT_TURNS": "1000", "TRIAGE_METRICS": metrics})
    log = (work / "triage.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "triage_cli", "serve", "--port", "0", "--workers", str(workers)],
                               env=env, stdout=subprocess.DEVNULL, stderr=log, cwd=work)
    deadline = time.monotonic() + 120
    while "listening on" not in (work / "triage.log").read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("triage serve did not start:\n" + (work / "triage.log").read_text())
        time.sleep(0.05)
    port = int((work / "triage.log").read_text().split("listening on http://127.0.0.1:")[1].split(" ")[0])
    return process, port


HAPROXY = """defaults
    mode http
    option http-no-delay
    timeout connect 2s
    timeout client 300s
    timeout server 300s
frontend bench
    bind 127.0.0.1:{port}
    default_backend triage
backend triage
    server triage 127.0.0.1:{backend}
"""


def start_haproxy(backend: int, work: Path) -> tuple[subprocess.Popen[bytes], int]:
    """HAProxy in front of one triage server: what a balancer adds to each token's way."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = work / f"haproxy-{backend}.cfg"
    config.write_text(HAPROXY.format(port=port, backend=backend))
    process = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("haproxy did not start") from None
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--streams", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="serve --workers N, each")
    parser.add_argument("--balancer", action="store_true", help="each triage server also through HAProxy")
    parser.add_argument("--metrics-off", action="store_true", help="also one worker without /metrics, to compare")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    me = str(Path(__file__).resolve())
    model = subprocess.Popen([sys.executable, me, "--model-server", str(work / "model.port")])
    processes = [model]
    try:
        model_url = f"http://127.0.0.1:{wait_for_port(work / 'model.port', model)}/v1"
        relay = subprocess.Popen([sys.executable, me, "--relay-server", model_url, str(work / "relay.port")])
        processes.append(relay)
        servers = {"relay": (relay, wait_for_port(work / "relay.port", relay))}
        if args.metrics_off:
            quiet, quiet_port = start_triage(model_url, work, 1, "off")
            processes.append(quiet)
            servers["triage×1 no metrics"] = (quiet, quiet_port)
        for workers in args.workers:
            triage, triage_port = start_triage(model_url, work, workers)
            processes.append(triage)
            servers[f"triage×{workers}"] = (triage, triage_port)
            if args.balancer:
                proxy, proxy_port = start_haproxy(triage_port, work)
                processes.append(proxy)
                servers[f"haproxy→triage×{workers}"] = (triage, proxy_port)  # the CPU counted: triage's
        for process, port in servers.values():  # warm up: imports, the first client, the database
            asyncio.run(level(port, 2 * max(args.workers)))
        rows: dict[tuple[str, int], dict[str, float]] = {}
        for streams in args.streams:
            for name in servers:
                process, port = servers[name]
                others = [p.pid for p, _ in servers.values() if p is not process]
                before, other_before = cpu_seconds(process.pid), sum(cpu_seconds(o) for o in others)
                complete, delays = asyncio.run(level(port, streams))
                cpu = cpu_seconds(process.pid) - before
                idle_cpu = sum(cpu_seconds(o) for o in others) - other_before  # the others idle meanwhile
                delays_ms = sorted(d * 1000 for d in delays) or [float("nan")]
                rows[name, streams] = {
                    "complete": float(complete), "p50": statistics.median(delays_ms),
                    "p95": delays_ms[min(len(delays_ms) - 1, int(len(delays_ms) * 0.95))],
                    "cpu_us": cpu / (streams * TOKENS) * 1e6, "rss": peak_rss_mib(process.pid)}
                row = rows[name, streams]
                print(f"{streams:>4} streams  {name:<18}  complete: {'yes' if complete else 'NO'}  "
                      f"delay p50 {row['p50']:.1f} ms, p95 {row['p95']:.1f} ms  "
                      f"CPU/token {row['cpu_us']:.0f} µs  peak RSS {row['rss']:.0f} MiB  (other server: {idle_cpu:.2f} s CPU)",
                      flush=True)
        for streams in args.streams:
            if args.metrics_off:
                on, off = rows["triage×1", streams], rows["triage×1 no metrics", streams]
                print(f"{streams:>4} streams  metrics on/off: CPU per token {on['cpu_us'] / off['cpu_us']:.3f}x, "
                      f"p95 delay {on['p95']:.1f} ms vs {off['p95']:.1f} ms")
            r = rows["relay", streams]
            for name in (n for n in servers if n != "relay"):
                t = rows[name, streams]
                print(f"{streams:>4} streams  {name}/relay: CPU per token {t['cpu_us'] / r['cpu_us']:.2f}x, "
                      f"p95 added delay {t['p95']:.1f} ms vs {r['p95']:.1f} ms")
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--model-server":
        model_server(sys.argv[2])
    elif len(sys.argv) > 3 and sys.argv[1] == "--relay-server":
        relay_server(sys.argv[2], sys.argv[3])
    else:
        main()
