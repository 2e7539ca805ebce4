"""How fast triage reads a model's stream, from the socket to the screen. Run by hand:

    python benchmarks/stream_bench.py                           # this checkout, 3 runs
    python benchmarks/stream_bench.py --compare /tmp/base       # and another checkout, same run

A raw-socket server sends a pre-built body of N chunks (one token of CHARS_PER_TOKEN characters
each) in one write, so the server costs nothing: a Markdown answer, and the same answer as the
json_schema object triage asks for. Measured, for 1,000 and 10,000 tokens:

  sdk       the openai SDK's streaming loop alone (`async for chunk in stream: pass`)
  adapter   triage's model adapter alone (OpenAIChatModel.stream, engine/llm.py)
  plain     `triage ask --plain` end to end, output to a pipe
  pty       `triage ask` with Markdown in a 24x100 pty end to end

Rates are tokens a second from the difference between the two sizes, so start-up does not count;
each time is the best of the runs (the least disturbed on a shared machine): wall-clock time for
the in-process readers, the CLI's CPU time for the end-to-end rows (see cli_figures).
`--compare` runs the adapter, plain and pty rows of another checkout (e.g. `git worktree add
/tmp/base 7ac6848`) against the same server in the same run: on a shared machine only ratios
measured in one run mean anything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from markdown_samples import CHARS_PER_TOKEN, realistic_markdown  # noqa: E402
from pty_capture import run_in_pty  # noqa: E402

SIZES = (1000, 10000)
KINDS = ("markdown", "json")
ROWS, COLUMNS = 24, 100
TARGETS = {"adapter": 30000.0, "pty": 10000.0}
QUESTION = "Where is A1002?"


def answer_text(kind: str, tokens: int) -> str:
    text = realistic_markdown(tokens)
    if kind == "markdown":
        return text
    return json.dumps({"reply": text, "order_id": "A1002", "issue": "late delivery", "status": "delayed",
                       "next_step": "answer", "summary": "A1002 is a day late."})


def sse_body(text: str) -> bytes:
    """The whole streamed response: a role chunk, a chunk per token, finish, usage, [DONE]."""
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "bench",
            "system_fingerprint": None}

    def event(choices: list[dict], **extra: object) -> bytes:
        return b"data: " + json.dumps({**base, "choices": choices, **extra}).encode() + b"\n\n"

    def delta(d: dict, finish: str | None = None) -> bytes:
        return event([{"index": 0, "delta": d, "finish_reason": finish, "logprobs": None}])

    parts = [delta({"role": "assistant", "content": ""})]
    parts += [delta({"content": text[i:i + CHARS_PER_TOKEN]}) for i in range(0, len(text), CHARS_PER_TOKEN)]
    parts.append(delta({}, "stop"))
    usage = {"prompt_tokens": 500, "completion_tokens": len(parts) - 2, "total_tokens": 500 + len(parts) - 2}
    parts.append(event([], usage=usage))
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


class BodyServer:
    """Answers `POST /<name>/v1/chat/completions` with the pre-built body `name`, in one write;
    keep-alive, Content-Length framed. Standard library only."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        self.responses = {name: (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                 b"Content-Length: %d\r\n\r\n" % len(body)) + body for name, body in bodies.items()}
        self.sock = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/{name}/v1"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                head, _, data = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(data) < length:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                data = data[length:]
                name = head.split(b" ")[1].decode().strip("/").split("/")[0]
                conn.sendall(self.responses[name])


# In-process readers: run here, or in a child for another checkout (see `--child`).

async def sdk_seconds(url: str) -> float:
    from openai import AsyncOpenAI

    async with AsyncOpenAI(api_key="sk-bench", base_url=url, max_retries=0) as client:
        started = time.perf_counter()
        stream = await client.chat.completions.create(model="bench", messages=[{"role": "user", "content": QUESTION}],
                                                      stream=True, stream_options={"include_usage": True})
        async for _ in stream:
            pass
        return time.perf_counter() - started


async def adapter_seconds(url: str) -> float:
    from triage_cli.engine.llm import Endpoint, OpenAIChatModel

    chat = OpenAIChatModel(Endpoint(provider="bench", base_url=url, api_key="sk-bench", model="bench",
                                    timeout=60.0, retries=0))
    chat.warm_up()
    try:
        started = time.perf_counter()
        async for _ in chat.stream([{"role": "user", "content": QUESTION}], []):
            pass
        return time.perf_counter() - started
    finally:
        await chat.aclose()


def in_process(reader: str, urls: dict[str, str], runs: int) -> dict[str, float]:
    """Median seconds per body name."""
    measure = sdk_seconds if reader == "sdk" else adapter_seconds
    return {name: min(asyncio.run(measure(url)) for _ in range(runs)) for name, url in urls.items()}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_figures(checkout: Path, urls: dict[str, str], runs: int) -> dict[str, dict[str, float]]:
    """CPU seconds (and peak RSS) of `triage ask --plain` in a pipe and `triage ask` in a pty.
    The CLI reads a body sent at once, so it never waits: its CPU time is its time, without the
    neighbours' share of the machine, which swamps a wall-clock difference of a few tenths."""
    plain: dict[str, list[float]] = {name: [] for name in urls}
    pty: dict[str, list[float]] = {name: [] for name in urls}
    peak: dict[str, list[float]] = {name: [] for name in urls}
    with tempfile.TemporaryDirectory() as home:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "OPENAI_"))}
        base.update({"TRIAGE_HOME": home, "TRIAGE_CONFIG": os.devnull, "TERM": "xterm-256color",
                     "PYTHONPATH": str(checkout), "OPENAI_API_KEY": "sk-bench"})
        base.pop("NO_COLOR", None)
        for _ in range(runs):
            for name, url in urls.items():
                env = {**base, "OPENAI_BASE_URL": url}
                before = children_cpu()
                subprocess.run([sys.executable, "-m", "triage_cli", "ask", QUESTION, "--plain"], env=env,
                               capture_output=True, check=True, cwd=checkout)
                plain[name].append(children_cpu() - before)
                before = children_cpu()
                with contextlib.chdir(checkout):  # `python -m` puts the working directory first on sys.path
                    _, rss, _ = run_in_pty(["ask", QUESTION], env, ROWS, COLUMNS)
                pty[name].append(children_cpu() - before)
                peak[name].append(rss)
    return {"plain": {n: min(v) for n, v in plain.items()},
            "pty": {n: min(v) for n, v in pty.items()},
            "peak": {n: statistics.median(v) for n, v in peak.items()}}


def measure(checkout: Path, urls: dict[str, str], runs: int, *, sdk: bool) -> dict[str, dict[str, float]]:
    """Every reader's seconds per body, for `checkout` (in a child process when it is not this one)."""
    if checkout != ROOT:
        child = subprocess.run([sys.executable, __file__, "--child", json.dumps(urls), "--runs", str(runs)],
                               env={**os.environ, "PYTHONPATH": str(checkout)}, capture_output=True, text=True,
                               check=True, cwd=checkout)
        figures: dict[str, dict[str, float]] = json.loads(child.stdout)
    else:
        figures = {"adapter": in_process("adapter", urls, runs)}
        if sdk:
            figures["sdk"] = in_process("sdk", urls, runs)
    figures.update(cli_figures(checkout, urls, runs))
    return figures


def rate(seconds: dict[str, float], kind: str) -> float:
    small, big = seconds[f"{kind}{SIZES[0]}"], seconds[f"{kind}{SIZES[1]}"]
    return (SIZES[1] - SIZES[0]) / (big - small) if big > small else float("nan")  # nan: lost in the noise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions per figure (default 3)")
    parser.add_argument("--compare", type=Path, help="another checkout of triage to measure in the same run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:  # the adapter of the checkout on PYTHONPATH, for a parent's --compare
        print(json.dumps({"adapter": in_process("adapter", json.loads(options.child), options.runs)}))
        return
    bodies = {f"{kind}{size}": sse_body(answer_text(kind, size)) for kind in KINDS for size in SIZES}
    server = BodyServer(bodies)
    urls = {name: server.url(name) for name in bodies}
    checkouts = {"this checkout": ROOT}
    if options.compare:
        checkouts = {f"{options.compare}": options.compare.resolve(), **checkouts}
    results = {label: measure(path, urls, options.runs, sdk=path == ROOT) for label, path in checkouts.items()}
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, best of {options.runs} runs "
          f"(peak RSS: median); tokens a second from {SIZES[1]:,} - {SIZES[0]:,} tokens\n")
    header = f"{'reader':<34} {'markdown':>10} {'json':>10} {'peak RSS 10k':>13}"
    print(header)
    print("-" * len(header))
    for label, figures in results.items():
        for reader in ("sdk", "adapter", "plain", "pty"):
            if reader not in figures:
                continue
            peak = (f"{figures['peak'][f'markdown{SIZES[1]}']:>9.1f} MiB" if reader == "pty" else "")
            print(f"{reader + ' (' + label + ')':<34} {rate(figures[reader], 'markdown'):>10,.0f} "
                  f"{rate(figures[reader], 'json'):>10,.0f} {peak:>13}")
    mine = results["this checkout"]
    print()
    checks = [("adapter, chunks a second (markdown)", rate(mine["adapter"], "markdown"), TARGETS["adapter"]),
              ("ask in a 24x100 pty, tokens a second", rate(mine["pty"], "markdown"), TARGETS["pty"])]
    for name, value, target in checks:
        print(f"{name:<40} {value:>10,.0f}  target ≥ {target:,.0f}  {'ok' if value >= target else 'MISSED'}")
    print(f"{'adapter / SDK loop':<40} {rate(mine['adapter'], 'markdown') / rate(mine['sdk'], 'markdown'):>10.1f}×")
    if options.compare:
        old = results[str(options.compare)]
        before, after = old["peak"][f"markdown{SIZES[1]}"], mine["peak"][f"markdown{SIZES[1]}"]
        print(f"{'peak memory, 10k tokens in a pty':<40} {after:>6.1f} MiB  before {before:.1f} MiB  "
              f"{'ok' if after <= before * 1.02 else 'MISSED'}")
        for reader in ("adapter", "plain", "pty"):
            print(f"{reader + ' now / before (markdown)':<40} "
                  f"{rate(mine[reader], 'markdown') / rate(old[reader], 'markdown'):>10.1f}×")


if __name__ == "__main__":
    main()
