"""The cost saved by stream aggregation, measured (the root README's "Stream aggregation" table).

The scenario of integration/test_aggregation.py (500 counter series, 20 histograms) sent every
second for 40 s, aggregated with `interval: 10s`, raw and aggregated written to one real
Prometheus; prints the series and samples Prometheus stored for each.

    WEIR_BIN=target/debug/weir .venv/bin/python examples/aggregation_cost.py
"""
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "integration"))
import test_aggregation as t
from harness import Prometheus, Weir, free_port

prom = Prometheus().start()
port = free_port()
cfg = t.aggregation_config(port, prom).replace(f"interval: {t.INTERVAL}s", "interval: 10s")
w = Weir(cfg, name="measure").start()
try:
    first = (int(time.time()) // 10 + 1) * 10
    src = t.Sources(first * t.NS - t.NS)
    for k in range(40):
        at = first + k + 0.5
        src.advance(int(at * t.NS), set())
        t.sleep_until(at)
        t.post(port, src.request(int(at * t.NS)))
    end = first + 40
    t.sleep_until(end + 3)
    def stored(names):
        series = samples = 0
        for n in names:
            r = t.query(prom, f'count({{__name__="{n}"}})', end)
            series += int(float(r[0]["value"][1])) if r else 0
            r = t.query(prom, f'sum(count_over_time({{__name__="{n}"}}[45s]))', end)
            samples += int(float(r[0]["value"][1])) if r else 0
        return series, samples
    raw = stored(["http_requests_total", "latency_bucket", "latency_sum", "latency_count"])
    b = "latency:10s_by_service_name_histogram"
    agg = stored(["http_requests:10s_by_route_service_name_total", b + "_bucket", b + "_sum", b + "_count"])
    points_in = w.metric("weir_items_dropped_total", component="aggregation", reason="aggregated")
    points_out = w.metric("weir_items_created_total", component="aggregation")
    print(f"raw series={raw[0]} samples={raw[1]}; aggregated series={agg[0]} samples={agg[1]}; "
          f"points consumed={points_in} created={points_out}")
finally:
    w.cleanup(); prom.cleanup()
