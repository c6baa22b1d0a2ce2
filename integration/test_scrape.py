"""Issue 3 acceptance for the `prometheus` receiver, against real peers:

A real node_exporter (Debian package `prometheus-node-exporter`) and a real Prometheus
(Debian package `prometheus`, 2.42) run on 127.0.0.1. Prometheus scrapes node_exporter
and itself directly (jobs `node_direct`, `prom_direct`); Weir scrapes the same two
targets (jobs `node_weir`, `prom_weir`) and remote-writes into that Prometheus. Through
Prometheus' HTTP API the test checks:

- `up` is 1 for Weir's jobs;
- the set of metric names of each Weir job equals the set of the direct job, except the
  documented differences (see `is_expected_difference`), and the series of a stable
  counter carry the same labels (apart from the exporter's `otel_scope_*` labels);
- a counter's rate is positive in both;
- histogram buckets are monotonic and `_count` equals the `+Inf` bucket, in both.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness import Prometheus, free_port, http_get, wait_until

NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"

pytestmark = pytest.mark.skipif(
    not (shutil.which("prometheus") or Path("/usr/bin/prometheus").exists()) or not Path(NODE_EXPORTER).exists(),
    reason="the Debian packages `prometheus` and `prometheus-node-exporter` are not installed",
)


def is_expected_difference(name: str, weir_names: set[str], direct_names: set[str]) -> bool:
    """The documented differences between a Weir job and Prometheus' direct scrape.

    - `<family>_created`: Prometheus 2.42 stores an OpenMetrics `_created` sample as a
      series of its own; Weir reads it as the start time of the OTLP point (that is what
      it means) and does not write it back as a series.
    - `target_info`: the remote-write exporter writes the OTLP resource (server.address,
      server.port, url.scheme, ...) as a `target_info` series, as the OpenTelemetry
      specification says; a direct scrape has none unless the target exposes one.
    """
    if name == "target_info":
        return True
    if name.endswith("_created"):
        base = name[: -len("_created")]
        return any(n in weir_names for n in (base, base + "_total", base + "_count", base + "_bucket"))
    return False


class NodeExporter:
    """node_exporter on 127.0.0.1:<free port>, stopped by its PID."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="node-exporter-"))
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "NodeExporter":
        self._log = open(self.dir / "node_exporter.log", "wb")
        self.proc = subprocess.Popen(
            [NODE_EXPORTER, f"--web.listen-address={self.address}"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: http_get(f"http://{self.address}/metrics", timeout=2)[0] == 200, timeout=20,
                   what="node_exporter serving /metrics")
        return self

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)


def static_job(name: str, address: str) -> str:
    return f"  - job_name: {name}\n    static_configs:\n      - targets: ['{address}']\n"


@pytest.fixture
def peers():
    """node_exporter, and a Prometheus that scrapes it and itself directly."""
    node = NodeExporter()
    prom = Prometheus()
    try:
        node.start()
        # The harness picks the port in the constructor, so the self-scrape job can name it.
        prom.config_path.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
            + static_job("node_direct", node.address)
            + static_job("prom_direct", f"127.0.0.1:{prom.port}")
        )
        prom.start()
        yield node, prom
    finally:
        prom.cleanup()
        node.cleanup()


def weir_config(node_address: str, prom: Prometheus) -> str:
    return f"""
receivers:
  prometheus:
    config:
      global:
        scrape_interval: 1s
        scrape_timeout: 1s
      scrape_configs:
        - job_name: node_weir
          static_configs:
            - targets: ['{node_address}']
        - job_name: prom_weir
          static_configs:
            - targets: ['127.0.0.1:{prom.port}']
exporters:
  prometheusremotewrite:
    endpoint: {prom.remote_write_url}
    tls:
      insecure: true
service:
  pipelines:
    metrics:
      receivers: [prometheus]
      exporters: [prometheusremotewrite]
"""


# Labels the remote-write exporter adds to name the OTLP instrumentation scope (here the
# receiver's scope, `weir/receiver/prometheus`); a direct scrape has none.
SCOPE_LABELS = {"otel_scope_name", "otel_scope_version"}


def series_labels(prom: Prometheus, metric: str, job: str) -> set[frozenset]:
    """The label sets of `metric`'s series in `job`, without `job` and the scope labels."""
    return {
        frozenset((k, v) for k, v in series.items() if k != "job" and k not in SCOPE_LABELS)
        for series in prom.series(f'{metric}{{job="{job}"}}')
    }


def names_of(prom: Prometheus, job: str) -> set[str]:
    return {series["__name__"] for series in prom.series(f'{{job="{job}"}}')}


def scalar(prom: Prometheus, expr: str) -> float | None:
    result = prom.query(expr)
    return float(result[0]["value"][1]) if result else None


def name_difference(prom: Prometheus, weir_job: str, direct_job: str) -> tuple[set[str], set[str]]:
    weir_names, direct_names = names_of(prom, weir_job), names_of(prom, direct_job)
    only_weir = {n for n in weir_names - direct_names if not is_expected_difference(n, weir_names, direct_names)}
    only_direct = {n for n in direct_names - weir_names if not is_expected_difference(n, weir_names, direct_names)}
    return only_weir, only_direct


def histograms_consistent(prom: Prometheus, job: str, family: str) -> bool:
    """Buckets non-decreasing by `le` and `_count` == the +Inf bucket, per series."""
    buckets: dict[tuple, list[tuple[float, float]]] = {}
    for sample in prom.query(f'{family}_bucket{{job="{job}"}}'):
        labels = dict(sample["metric"])
        le = float(labels.pop("le"))
        labels.pop("__name__", None)
        buckets.setdefault(tuple(sorted(labels.items())), []).append((le, float(sample["value"][1])))
    counts = {}
    for sample in prom.query(f'{family}_count{{job="{job}"}}'):
        labels = dict(sample["metric"])
        labels.pop("__name__", None)
        counts[tuple(sorted(labels.items()))] = float(sample["value"][1])
    if not buckets:
        return False
    for key, series in buckets.items():
        series.sort()
        values = [v for _, v in series]
        assert values == sorted(values), f"{job} {family} {key}: buckets not monotonic: {series}"
        if series[-1][0] != float("inf") or counts.get(key) != series[-1][1]:
            return False  # may be mid-write; the caller retries
    return True


def test_scrape_matches_prometheus(peers, start_weir):
    node, prom = peers
    weir = start_weir(weir_config(node.address, prom))

    for job in ("node_weir", "prom_weir", "node_direct", "prom_direct"):
        wait_until(lambda: scalar(prom, f'up{{job="{job}"}}') == 1.0, timeout=60,
                   what=f"up == 1 for {job}; weir log:\n{weir.log()[-3000:]}")

    # Name sets converge once every job has a few scrapes in; metrics created between two
    # scrapes (a new HTTP handler's histogram, ...) appear in both shortly after.
    for weir_job, direct_job in (("node_weir", "node_direct"), ("prom_weir", "prom_direct")):
        last = {}

        def same_names():
            last["diff"] = name_difference(prom, weir_job, direct_job)
            return last["diff"] == (set(), set())

        try:
            wait_until(same_names, timeout=45, interval=2, what=f"{weir_job} names == {direct_job} names")
        except TimeoutError:
            only_weir, only_direct = last.get("diff", (set(), set()))
            pytest.fail(f"{weir_job} vs {direct_job}: only in weir {sorted(only_weir)}; "
                        f"only in the direct scrape {sorted(only_direct)}")

    # Not a trivial comparison: both exporters expose hundreds of names.
    assert len(names_of(prom, "node_weir")) > 100 and len(names_of(prom, "prom_weir")) > 100

    # Same series, same labels (and the same instance label value).
    for metric, weir_job, direct_job in (("node_cpu_seconds_total", "node_weir", "node_direct"),
                                         ("go_gc_duration_seconds", "prom_weir", "prom_direct")):
        weir_series, direct_series = series_labels(prom, metric, weir_job), series_labels(prom, metric, direct_job)
        assert weir_series and weir_series == direct_series, (metric, weir_series ^ direct_series)

    # A counter's rate is positive in both.
    for job, counter in (("node_weir", "node_cpu_seconds_total"), ("node_direct", "node_cpu_seconds_total"),
                         ("prom_weir", "prometheus_http_requests_total"),
                         ("prom_direct", "prometheus_http_requests_total")):
        wait_until(lambda: (scalar(prom, f'sum(rate({counter}{{job="{job}"}}[20s]))') or 0) > 0, timeout=45,
                   what=f"rate({counter}) > 0 for {job}")

    # Histogram structure survives the round trip.
    for job in ("prom_weir", "prom_direct"):
        wait_until(lambda: histograms_consistent(prom, job, "prometheus_http_request_duration_seconds"),
                   timeout=30, what=f"consistent histogram buckets for {job}")

    # Nothing was dropped or failed on the way.
    assert weir.metric("weir_prometheus_receiver_scrape_failures_total") == 0, weir.metrics_text()
    assert weir.metric("weir_items_dropped_total") == 0, weir.metrics_text()


def test_bad_target_is_down_and_counted(peers, start_weir):
    """A target that is not listening: up 0 for it, the failure counted, the good one up."""
    node, prom = peers
    dead = f"127.0.0.1:{free_port()}"
    config = weir_config(node.address, prom).replace(
        "        - job_name: prom_weir\n          static_configs:\n            - targets: ['127.0.0.1:%d']" % prom.port,
        f"        - job_name: dead_weir\n          static_configs:\n            - targets: ['{dead}']",
    )
    weir = start_weir(config)
    wait_until(lambda: scalar(prom, 'up{job="node_weir"}') == 1.0, timeout=60, what="node_weir up")
    wait_until(lambda: scalar(prom, 'up{job="dead_weir"}') == 0.0, timeout=60, what="dead_weir up == 0")
    wait_until(lambda: weir.metric("weir_prometheus_receiver_scrape_failures_total", job="dead_weir",
                                   reason="connect") > 0, timeout=30, what="failure counted")
