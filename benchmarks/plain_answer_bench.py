"""What a non-streamed final answer costs (tool_rounds = plain): two ways to show it. Run by hand:

    python benchmarks/plain_answer_bench.py                       # the scripted server, paced
    python benchmarks/plain_answer_bench.py --base-url http://127.0.0.1:8766/v1 --model smollm2

On a server that cannot stream calls offering tools, the call that answers is made with
`stream: false`. Then either
  replay:   the answer that call returned is shown at once (what triage does), or
  restream: that answer is thrown away and a second, streamed call without tools asks again.
Both are measured on the final call of one question (after its lookup), with the real SDK:
model calls, prompt and completion tokens, time to the first token and to the end. Medians.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from scripted_server import ScriptedServer, answer  # noqa: E402
from triage_cli.engine.answer_format import RESPONSE_FORMATS  # noqa: E402
from triage_cli.engine.llm import Endpoint, OpenAIChatModel, TextPiece, UsagePiece  # noqa: E402
from triage_cli.engine.prompts import system_prompt  # noqa: E402
from triage_cli.store.orders import OrderStore  # noqa: E402
from triage_cli.tools.orders import order_registry  # noqa: E402

REPLY = ("Order **A1002** is delayed by one day: severe weather at the DHL hub in Manchester. It should "
         "arrive tomorrow; the customer can be told the new date.\n\n**Next step:** answer")


async def messages(tools_home: Path) -> tuple[list, list]:
    registry = order_registry(OrderStore.demo(tools_home))
    result = (await registry.call("get_order_status", '{"order_id": "A1002"}')).content
    return [
        {"role": "system", "content": system_prompt(structured="json_object")},
        {"role": "user", "content": "Where is A1002? It has not arrived."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_order_status",
                                                              "arguments": '{"order_id": "A1002"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": result},
    ], registry.schemas()


async def one(model: OpenAIChatModel, how: str, msgs: list, schemas: list) -> tuple[int, int, int, float, float]:
    started = time.perf_counter()
    fmt = RESPONSE_FORMATS["json_object"]
    pieces = await model.complete(msgs, schemas, response_format=fmt)
    calls, first = 1, None
    if how == "replay":
        first = time.perf_counter()
    else:
        calls += 1
        async for piece in model.stream(msgs, [], response_format=fmt):
            pieces.append(piece)
            if first is None and isinstance(piece, TextPiece):
                first = time.perf_counter()
    usage = [p for p in pieces if isinstance(p, UsagePiece)]
    ended = time.perf_counter()
    return (calls, sum(u.prompt_tokens for u in usage), sum(u.completion_tokens for u in usage),
            ((first or ended) - started) * 1000, (ended - started) * 1000)


async def measure(base_url: str, model_name: str, runs: int, home: Path) -> None:
    msgs, schemas = await messages(home)
    model = OpenAIChatModel(Endpoint("bench", base_url, "sk-bench-not-a-key", model_name, 120.0, retries=0))
    print(f"{'':9} {'calls':>5} {'prompt tok':>10} {'compl. tok':>10} {'ttft ms':>8} {'total ms':>8}")
    try:
        for how in ("replay", "restream"):
            rows = [await one(model, how, msgs, schemas) for _ in range(runs)]
            calls, prompt, completion, ttft, total = (statistics.median(c) for c in zip(*rows))
            print(f"{how:9} {calls:5.0f} {prompt:10.0f} {completion:10.0f} {ttft:8.0f} {total:8.0f}")
    finally:
        await model.aclose()


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description="replay vs restream of a non-streamed answer")
    parser.add_argument("--base-url")
    parser.add_argument("--model", default="scripted-model")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens-per-second", type=float, default=60.0, help="the scripted server's pace")
    options = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="plain-bench-"))
    if options.base_url:
        asyncio.run(measure(options.base_url, options.model, options.runs, home))
        return
    final = answer(REPLY, order_id="A1002", issue="late delivery", status="delayed", summary="One day late.")
    with ScriptedServer(lambda body, index: final, tokens_per_second=options.tokens_per_second) as srv:
        print(f"scripted server, {options.tokens_per_second:g} tokens/s", flush=True)
        asyncio.run(measure(srv.base_url, options.model, options.runs, home))


if __name__ == "__main__":
    main()
