"""pytest fixtures shared by the end-to-end tests: processes are started per test and
always stopped (by PID) and cleaned up, pass or fail."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Prometheus, Weir  # noqa: E402


@pytest.fixture
def start_weir():
    """Call with a config text; returns a started Weir. Every one is stopped at teardown."""
    started: list[Weir] = []

    def start(config: str, name: str = "weir", wait: bool = True, extra_args=None) -> Weir:
        weir = Weir(config, name=name, extra_args=extra_args)
        started.append(weir)
        return weir.start(wait=wait)

    yield start
    for weir in started:
        try:
            weir.stop(timeout=15)
        except Exception:  # noqa: BLE001 - teardown must stop the rest
            pass
        weir.cleanup()


@pytest.fixture
def prometheus_factory():
    started: list[Prometheus] = []

    def start(scrape_configs_yaml: str = "", scrape_interval: str = "1s") -> Prometheus:
        prom = Prometheus(scrape_configs_yaml, scrape_interval)
        started.append(prom)
        return prom.start()

    yield start
    for prom in started:
        prom.cleanup()
