"""Issue 15 acceptance for the live pipeline page, in a real headless browser.

Debian's chromium, driven by Playwright (no browser is downloaded: the launch names
/usr/bin/chromium), opens the page of a running Weir while the OpenTelemetry Python SDK
sends spans to it:

- the graph shows every component of the config (receivers, processors, connectors,
  exporters, extensions);
- the rates it shows rise while the load runs and fall to zero after it stops;
- an exporter whose endpoint is down shows its queue filling and its failures;
- the same graph is served by the `zpages` extension at /debug/pipelinez;
- a screenshot is saved under target/test-artifacts/ (the path is printed).

Everything is read from the rendered page (the SVG's text and the node's data
attributes), not from the JSON: it is what an operator sees.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from harness import REPO, free_port, http_get, wait_until

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "target" / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Spans at a steady pace through the SDK's OTLP/HTTP exporter until killed.

def config(http_port: int, dead_port: int, zpages_port: int, health_port: int) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
processors:
  batch:
    timeout: 100ms
exporters:
  debug:
  otlp/down:
    endpoint: 127.0.0.1:{dead_port}
    tls:
      insecure: true
    timeout: 1s
    sending_queue:
      num_consumers: 1
      queue_size: 30
    retry_on_failure:
      initial_interval: 2s
      max_interval: 2s
      max_elapsed_time: 60s
connectors:
  forward:
extensions:
  zpages:
    endpoint: 127.0.0.1:{zpages_port}
  health_check:
    endpoint: 127.0.0.1:{health_port}
service:
  extensions: [zpages, health_check]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [forward, otlp/down]
    traces/copy:
      receivers: [forward]
      exporters: [debug]
"""


EXPECTED_NODES = {
    "receiver:otlp",
    "processor:traces:batch",
    "connector:forward",
    "exporter:otlp/down",
    "exporter:debug",
    "extension:zpages",
    "extension:health_check",
}


def shown(page) -> dict[str, dict]:
    """What the page shows per node: its input rate and its lines of text."""
    nodes = page.evaluate("""() => [...document.querySelectorAll('g.node')].map(g => ({
        id: g.dataset.id,
        inRate: g.dataset.inRate,
        lines: [...g.querySelectorAll('text')].map(t => ({text: t.textContent,
                                                        bad: t.classList.contains('bad')})),
    }))""")
    return {n["id"]: n for n in nodes}


def in_rate(page, node: str) -> float | None:
    value = shown(page).get(node, {}).get("inRate")
    return float(value) if value not in (None, "") else None


def line(node: dict, prefix: str) -> dict | None:
    return next((l for l in node["lines"] if l["text"].startswith(prefix)), None)


def number(text: str) -> float:
    """`1.2k` -> 1200."""
    scale = {"k": 1e3, "M": 1e6}.get(text[-1:], 1)
    return float(text.rstrip("kM")) * scale


def exporter_state(page) -> tuple[float, float] | None:
    """(queue size, failures shown) of the down exporter, if drawn."""
    node = shown(page).get("exporter:otlp/down")
    if not node:
        return None
    queue = line(node, "queue ")
    failed = line(node, "failed ")
    if not queue or not failed:
        return None
    size = number(queue["text"].split()[1].split("/")[0])
    # "failed 0.0/s (12), queue full 340"
    failed_total = number(failed["text"].split("(")[1].split(")")[0])
    queue_full = number(failed["text"].rsplit(" ", 1)[1])
    failures = failed_total + queue_full
    if failures > 0:
        assert failed["bad"], f"failures are not marked: {failed}"
    return size, failures


@pytest.fixture
def browser_page():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: integration/test-all.sh installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="weir-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            yield context.new_page()
        finally:
            context.close()




def test_the_page_shows_the_running_pipeline(start_weir, browser_page, load_process):
    http_port, dead_port, zpages_port, health_port = (free_port() for _ in range(4))
    # The down exporter's queue is full at the end: a short drain deadline.
    weir = start_weir(config(http_port, dead_port, zpages_port, health_port), name="page",
                      extra_args=["--shutdown-timeout", "2s"])
    page = browser_page
    page.goto(f"http://127.0.0.1:{weir.metrics_port}/")

    # Every component of the config is drawn, with its name.
    wait_until(lambda: EXPECTED_NODES <= set(shown(page)), timeout=20, what="the graph")
    nodes = shown(page)
    assert set(nodes) == EXPECTED_NODES, sorted(nodes)
    for node_id, node in nodes.items():
        component = node_id.split(":")[-1]
        assert node["lines"][0]["text"] == component, node
    # Rates appear from the second reading on, and are zero while nothing is sent.
    wait_until(lambda: in_rate(page, "receiver:otlp") == 0.0, timeout=20, what="an idle rate of 0")

    # Under load the rates rise, along the path.
    load = load_process(f"http://127.0.0.1:{http_port}/v1/traces")
    wait_until(lambda: (in_rate(page, "receiver:otlp") or 0) > 50, timeout=30,
               what="the receiver's rate rising on the page")
    wait_until(lambda: (in_rate(page, "processor:traces:batch") or 0) > 50, timeout=30,
               what="the batch processor's rate rising on the page")
    accepted = line(shown(page)["receiver:otlp"], "accepted ")
    assert accepted and number(accepted["text"].split()[1].removesuffix("/s")) > 50, accepted

    # The exporter whose endpoint is down: its queue fills and its failures show.
    wait_until(lambda: (exporter_state(page) or (0, 0))[0] > 0, timeout=30,
               what="the down exporter's queue filling on the page")
    wait_until(lambda: (exporter_state(page) or (0, 0))[1] > 0, timeout=60,
               what="the down exporter's failures on the page")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "pipeline-page.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot of the pipeline page under load: {screenshot}")
    assert screenshot.stat().st_size > 10_000

    # The load stops: the rates fall back to zero.
    load.kill()
    load.wait(timeout=10)
    wait_until(lambda: in_rate(page, "receiver:otlp") == 0.0, timeout=30,
               what="the receiver's rate falling to 0 on the page")
    wait_until(lambda: in_rate(page, "processor:traces:batch") == 0.0, timeout=30,
               what="the batch processor's rate falling to 0 on the page")

    # The components this build knows, each with its README.
    rows = page.evaluate("""() => [...document.querySelectorAll('#catalog tbody tr')]
        .map(tr => [...tr.children].map(td => td.textContent))""")
    by_type = {(r[0].split(" ")[0], r[1]): r for r in rows}
    assert by_type[("zpages", "extension")][5] == "components/zpages_extension/README.md"
    assert by_type[("otlp", "exporter")][5] == "components/otlp_exporter/README.md"
    assert (REPO / by_type[("zpages", "extension")][5]).is_file()

    # zpages serves the same graph at /debug/pipelinez.
    page.goto(f"http://127.0.0.1:{zpages_port}/debug/pipelinez")
    wait_until(lambda: EXPECTED_NODES <= set(shown(page)), timeout=20, what="the zpages graph")
    status, body = http_get(f"http://127.0.0.1:{zpages_port}/debug/servicez")
    assert status == 200 and b"/debug/pipelinez" in body
    assert weir.stop() == 0


def test_the_json_endpoint_is_documented_and_served(start_weir):
    """The JSON behind the page, for scripts: the graph, rates and the memory budget."""
    import json

    http_port = free_port()
    weir = start_weir(f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
exporters:
  debug:
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [debug]
""", name="page-json")
    base = f"http://127.0.0.1:{weir.metrics_port}"
    status, body = http_get(base + "/api/v1/pipeline")
    assert status == 200
    doc = json.loads(body)
    assert doc["version"] == 1
    assert [n["id"] for n in doc["nodes"]] == ["receiver:otlp", "exporter:debug"]
    assert doc["edges"] == [{"from": "receiver:otlp", "to": "exporter:debug", "pipeline": "logs",
                             "signal": "logs", "items": doc["edges"][0]["items"]}]
    assert doc["memory_budget"]["soft_limit_bytes"] > 0
    assert "/api/v1/pipeline" in (REPO / "collector" / "engine" / "README.md").read_text()
    status, page = http_get(base + "/")
    assert status == 200 and b"<svg" in page
    status, _ = http_get(base + "/nope")
    assert status == 404
