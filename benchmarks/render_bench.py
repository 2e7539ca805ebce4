"""How fast triage draws a streamed answer, and how fast it starts. Run by hand:

    python benchmarks/render_bench.py            # all figures, as a table
    python benchmarks/render_bench.py --runs 3   # fewer repetitions
    python benchmarks/render_bench.py --compare /tmp/base   # and another checkout, same run

Answers of 1,000, 4,000 and 10,000 tokens of Markdown (headings, paragraphs, lists, code blocks,
tables) come from the tests' scripted OpenAI-compatible server at an unlimited token rate, and
`triage ask` draws them in a 24x100 pseudo-terminal. The CLI writes its own render timings when
TRIAGE_RENDER_STATS names a file (triage_cli/ui/render_stats.py). Every figure is a median over
the runs, and every comparison is a ratio measured in this same run, so the figures hold on a
shared, noisy machine. `--compare CHECKOUT` (e.g. `git worktree add /tmp/base 7ac6848`) draws
the same answers with that checkout too, alternating run by run, and prints this checkout's
figures as ratios of that one's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from markdown_samples import CHARS_PER_TOKEN, realistic_markdown  # noqa: E402
from pty_capture import run_in_pty  # noqa: E402
from scripted_server import ScriptedServer, answer  # noqa: E402

ROWS, COLUMNS = 24, 100
TARGETS = {
    "latency_ms": 20.0,
    "cpu_us_per_token": 100.0,
    "frame_ratio": 1.5,
    "markdown_vs_raw": 1.5,
    "version_ms": 150.0,
    "help_ms": 250.0,
    "repl_ms": 350.0,
    "peak_mib": 100.0,
}

def answer_figures(tokens: int, runs: int, envs: dict[str, dict[str, str]],
                   rate: float | None = None) -> dict[str, dict[str, float]]:
    """The figures of one answer size for each checkout (by name), their runs interleaved."""
    text = realistic_markdown(tokens)
    reply = answer(text, order_id="A1002", issue="late delivery", status="delayed", next_step="answer",
                   summary="A1002 is a day late.")
    keys = ("latency_ms", "latency_p95_ms", "cpu_us", "frame_ms", "frames", "span_md", "span_raw", "peak_mib")
    figures = {name: {k: [] for k in keys} for name in envs}
    events: dict[str, float] = {}
    with ScriptedServer(lambda body, i: reply, chunk_chars=CHARS_PER_TOKEN, tokens_per_second=rate) as server, \
            tempfile.TemporaryDirectory() as tmp:
        stats_path = Path(tmp) / "stats.json"
        for _ in range(runs):
            for name, base_env in envs.items():
                env = {**base_env, "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": server.base_url,
                       "TRIAGE_RENDER_STATS": str(stats_path), "TRIAGE_HOME": str(Path(tmp) / "home")}
                mine = figures[name]
                for mode in ("markdown", "raw"):
                    args = ["ask", "Where is A1002?"] + (["--plain"] if mode == "raw" else [])
                    _, peak, _ = run_in_pty(args, env, ROWS, COLUMNS)
                    stats = json.loads(stats_path.read_text())
                    if mode == "raw":
                        mine["span_raw"].append(stats["answer_span_s"])
                        continue
                    latencies = sorted(stats["latencies_ms"])
                    mine["latency_ms"].append(statistics.median(latencies))
                    mine["latency_p95_ms"].append(latencies[int(len(latencies) * 0.95)])
                    mine["cpu_us"].append(stats["renderer_cpu_s"] / stats["content_events"] * 1e6)
                    mine["frame_ms"].append(statistics.mean(stats["frame_ms"]))
                    mine["frames"].append(len(stats["frame_ms"]))
                    mine["span_md"].append(stats["answer_span_s"])
                    mine["peak_mib"].append(peak)
                    events[name] = stats["content_events"]
    results = {}
    for name, values in figures.items():
        result = {k: statistics.median(v) for k, v in values.items()}
        result["tokens"] = tokens
        result["content_events"] = events[name]
        results[name] = result
    return results


def startup_figures(runs: int, env: dict[str, str]) -> dict[str, float]:
    def timed(args: list[str]) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "triage_cli", *args], env=env, capture_output=True, check=True)
        return (time.perf_counter() - started) * 1000

    return {
        "version_ms": statistics.median(timed(["--version"]) for _ in range(runs)),
        "help_ms": statistics.median(timed(["--help"]) for _ in range(runs)),
        "repl_ms": statistics.median(repl_to_prompt(env) for _ in range(runs)),
    }


def repl_to_prompt(env: dict[str, str]) -> float:
    """Milliseconds from starting `triage chat` to its prompt on the screen."""
    import pexpect

    started = time.perf_counter()
    child = pexpect.spawn(sys.executable, ["-m", "triage_cli", "chat"], env=env, dimensions=(ROWS, COLUMNS),
                          timeout=20)
    child.expect("›".encode())
    elapsed = (time.perf_counter() - started) * 1000
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    return elapsed


def verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="repetitions per figure (default 5)")
    parser.add_argument("--compare", type=Path, help="another checkout of triage to draw the same answers with")
    parser.add_argument("--rate", type=float, help="tokens a second the model sends (default: as fast as read); "
                        "a rate both checkouts keep up with compares the drawing alone")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.chdir(home)  # `python -m` puts the working directory first on sys.path: keep checkouts out
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "OPENAI_"))}
        env.update({"TRIAGE_HOME": home, "TRIAGE_CONFIG": os.devnull, "TERM": "xterm-256color",
                    "PROMPT_TOOLKIT_NO_CPR": "1", "PYTHONPATH": str(ROOT)})
        env.pop("NO_COLOR", None)
        rate = f"{options.rate:g} tokens/s" if options.rate else "as fast as read"
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {ROWS}x{COLUMNS} pty, "
              f"median of {options.runs} runs, model sends {rate}\n")
        envs = {"this": env}
        if options.compare:
            envs = {"compare": {**env, "PYTHONPATH": str(options.compare.resolve())}, "this": env}
        all_rows = [answer_figures(tokens, options.runs, envs, options.rate) for tokens in (1000, 4000, 10000)]
        rows = [r["this"] for r in all_rows]
        header = (f"{'tokens':>7} {'chunk→screen':>13} {'p95':>7} {'CPU/token':>10} {'frames':>7} "
                  f"{'ms/frame':>9} {'markdown':>9} {'raw':>7} {'md/raw':>7} {'peak RSS':>9}")
        print(header)
        print("-" * len(header))
        for r in rows:
            print(f"{r['tokens']:>7} {r['latency_ms']:>10.1f} ms {r['latency_p95_ms']:>4.1f} ms "
                  f"{r['cpu_us']:>7.1f} µs {r['frames']:>7.0f} {r['frame_ms']:>9.2f} {r['span_md']:>8.2f}s "
                  f"{r['span_raw']:>6.2f}s {r['span_md'] / r['span_raw']:>7.2f} {r['peak_mib']:>5.1f} MiB")
        if options.compare:
            print(f"\nthis checkout / {options.compare} (same run, interleaved; below 1 is faster):")
            for r in all_rows:
                new, old = r["this"], r["compare"]
                print(f"{new['tokens']:>7} " + "  ".join(
                    f"{label} {new[k] / old[k]:.2f}×" for label, k in
                    (("chunk→screen", "latency_ms"), ("p95", "latency_p95_ms"), ("CPU/token", "cpu_us"),
                     ("ms/frame", "frame_ms"), ("markdown", "span_md"), ("raw", "span_raw"),
                     ("peak RSS", "peak_mib"))))
        big, small = rows[-1], rows[0]
        frame_ratio = big["frame_ms"] / small["frame_ms"]
        start = startup_figures(max(options.runs, 5), env)
        print()
        checks = [
            ("chunk → screen latency, 10k tokens", big["latency_ms"], "ms", "latency_ms"),
            ("renderer CPU per token, 10k tokens", big["cpu_us"], "µs", "cpu_us_per_token"),
            ("frame cost 10k / 1k tokens", frame_ratio, "×", "frame_ratio"),
            ("markdown / raw time, 10k tokens", big["span_md"] / big["span_raw"], "×", "markdown_vs_raw"),
            ("triage --version", start["version_ms"], "ms", "version_ms"),
            ("triage --help", start["help_ms"], "ms", "help_ms"),
            ("triage chat to its prompt", start["repl_ms"], "ms", "repl_ms"),
            ("peak memory, 10k tokens", big["peak_mib"], "MiB", "peak_mib"),
        ]
        for name, value, unit, key in checks:
            print(f"{name:<38} {value:>8.2f} {unit:<3}  target ≤ {TARGETS[key]:g} {unit:<3} "
                  f"{verdict(value, TARGETS[key])}")


if __name__ == "__main__":
    main()
