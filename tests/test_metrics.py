"""`/metrics` on `triage serve` (issue 28), read with prometheus-client's own parser: behind the
token like the API; the turn counter, tokens, tool calls and open tickets match what was served;
with `--workers 2` a scrape, whichever worker answers it, sums both; and Debian's Prometheus
scrapes it (skipped in one line where it is not installed, failed in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scripted_server import ScriptedServer, answer, tools
from serve_helpers import TEAM_TOKEN, WAIT, environment, eventually, start_serve


def scraped(url: str, token: str | None = TEAM_TOKEN) -> dict[str, dict[tuple, float]]:
    """name -> {labels: value} of a scrape."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=WAIT)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def total(found: dict[str, dict[tuple, float]], name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(value for key, value in found.get(name, {}).items() if wanted <= set(key))


def test_metrics_count_what_was_served_and_need_the_token(team, team_model):
    before = scraped(team.url)
    team_model.add(tools(("get_order_status", {"order_id": "A1002"})),
                   answer("A1002 is late.", order_id="A1002", issue="late", status="delayed", next_step="answer",
                          summary="late"),
                   answer("A refund needs a colleague.", order_id="A1003", issue="refund", status="delivered",
                          next_step="escalate", summary="refund"))
    headers = {"Authorization": f"Bearer {TEAM_TOKEN}"}
    for message, order in (("where is it?", None), ("I want a refund", "A1003")):
        body = {"message": message, **({"order": order} if order else {})}
        assert httpx.post(f"{team.url}/v1/chat", json=body, headers=headers, timeout=WAIT).status_code == 200

    after = scraped(team.url)
    turns = {step: total(after, "triage_turns_total", engine="openai", next_step=step)
             - total(before, "triage_turns_total", engine="openai", next_step=step) for step in ("answer", "escalate")}
    assert turns == {"answer": 1, "escalate": 1}
    assert total(after, "triage_turn_seconds_count") - total(before, "triage_turn_seconds_count") == 2
    assert total(after, "triage_time_to_first_token_seconds_count") >= 2
    assert total(after, "triage_model_tokens_total", kind="in") > total(before, "triage_model_tokens_total", kind="in")
    assert total(after, "triage_tool_calls_total", tool="get_order_status", ok="true") \
        - total(before, "triage_tool_calls_total", tool="get_order_status", ok="true") == 1
    assert total(after, "triage_streams_active") == 0
    open_tickets = httpx.get(f"{team.url}/v1/tickets", headers=headers, timeout=WAIT).json()["tickets"]
    assert total(after, "triage_tickets_open") == len(open_tickets) >= 1
    assert httpx.get(f"{team.url}/metrics", timeout=WAIT).status_code == 401  # behind the token


def test_two_workers_sum_into_one_scrape_and_prometheus_reads_it(tmp_path: Path):
    turns = 12
    reply = answer("A1002 is a day late.", order_id="A1002", issue="late", status="delayed", next_step="answer",
                   summary="late")
    with ScriptedServer(lambda body, index: reply) as model:
        env = environment(tmp_path / "home", tmp_path / "config.toml", model.base_url, TRIAGE_SERVER_TOKEN=TEAM_TOKEN)
        served = start_serve(env, tmp_path / "stderr.log", "--workers", "2")
        try:
            headers = {"Authorization": f"Bearer {TEAM_TOKEN}"}
            limits = httpx.Limits(max_keepalive_connections=0)  # each turn a new connection: both workers answer
            with httpx.Client(base_url=served.url, timeout=WAIT, limits=limits, headers=headers) as client:
                def one(number: int) -> str:
                    response = client.post("/v1/chat", json={"message": f"late? ({number})", "order": "A1002"})
                    assert response.status_code == 200, response.text
                    return response.headers["x-triage-replica"]

                with ThreadPoolExecutor(6) as pool:
                    replicas = set(pool.map(one, range(turns)))
            assert len(replicas) == 2, replicas  # both workers answered some
            for _ in range(4):  # whichever worker answers the scrape, the sum is the same
                assert total(scraped(served.url), "triage_turns_total", engine="openai", next_step="answer") == turns
            scraped_by_prometheus(served.url, tmp_path, turns)
        finally:
            served.stop()


def scraped_by_prometheus(url: str, root: Path, turns: int) -> None:
    program = shutil.which("prometheus")
    if program is None:
        if os.environ.get("CI"):
            pytest.fail("Prometheus is needed in CI (.ci/run installs Debian's prometheus)")
        pytest.skip("no Prometheus here (apt-get install prometheus)")
    (root / "token").write_text(TEAM_TOKEN)
    host = url.split("://", 1)[1]
    (root / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: triage\n    authorization: {{credentials_file: {root / 'token'}}}\n"
        f"    static_configs: [{{targets: ['{host}']}}]\n")
    with (root / "prometheus.log").open("wb") as log:
        process = subprocess.Popen([program, f"--config.file={root / 'prometheus.yml'}",
                                    f"--storage.tsdb.path={root / 'tsdb'}", "--web.listen-address=127.0.0.1:0"],
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        address = eventually(lambda: _listening(root / "prometheus.log"), "Prometheus to listen")
        query = 'sum(triage_turns_total{job="triage"})'

        def read() -> float | None:
            assert process.poll() is None, (root / "prometheus.log").read_text()[-2000:]
            try:
                result = httpx.get(f"http://{address}/api/v1/query", params={"query": query}, timeout=5).json()
            except httpx.HTTPError:
                return None
            found = result.get("data", {}).get("result", [])
            return float(found[0]["value"][1]) if found else None

        assert eventually(read, "Prometheus to scrape the turns") == turns
    finally:
        process.terminate()
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _listening(log: Path) -> str | None:
    for line in log.read_text(errors="replace").splitlines():
        if "Listening on" in line and "address=" in line:
            return line.split("address=", 1)[1].split()[0].strip('"')
    return None


def test_tool_names_a_model_makes_up_cannot_flood_the_labels(tmp_path: Path):
    import asyncio

    from triage_cli.engine.events import ToolFinished
    from triage_cli.server.metrics import MAX_TOOLS, Metrics
    from triage_cli.store.database import SqliteDatabase

    metrics = Metrics(SqliteDatabase(tmp_path), "openai")

    async def a_turn() -> None:
        async def events():
            for n in range(MAX_TOOLS + 8):
                yield ToolFinished(f"c{n}", f"made_up_{n}", False, "unknown tool", 1.0)
            yield ToolFinished("odd", "\\x1b[31m; DROP TABLE", False, "unknown tool", 1.0)
        async for _ in metrics.observed(events()):
            pass

    asyncio.run(a_turn())
    body, _ = metrics.exposition()
    tools = {sample.labels["tool"] for family in text_string_to_metric_families(body.decode())
             for sample in family.samples if sample.name == "triage_tool_calls_total"}
    assert len(tools) == MAX_TOOLS + 1 and "other" in tools and not any("\x1b" in t for t in tools)
