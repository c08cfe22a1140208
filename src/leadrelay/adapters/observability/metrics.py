"""The ``Metrics`` port (``services.ports.metrics``) on prometheus-client, and the ``/metrics`` text.

Several processes, one sum: when ``PROMETHEUS_MULTIPROC_DIR`` is set (``leadrelay serve
--worker-processes N`` sets it to a directory of its own for the run, see
``entrypoints.commands.processes``), every process writes its counters and histograms to files there and
the scrape sums them (``MultiProcessCollector``). prometheus-client chooses its storage when it is first
imported, so this module is imported only once the environment is settled (``bootstrap.build_runtime``
imports it in the function).

The counters are process-global (one registry per process), made once; ``PrometheusMetrics`` keeps each
label set's child, so counting on the hot path is one dict look-up and one increment.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

# seconds: a buyer answering in 5 ms up to a slow one near the 30 s channel timeout
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class _Instruments:
    intake: Counter
    routing: Counter
    attempts: Counter
    delivery_seconds: Histogram
    pings: Counter
    ping_seconds: Histogram


@functools.cache
def _instruments() -> _Instruments:
    """The process's metrics, registered once in the default registry (a second runtime in the same
    process, as in the tests, counts into the same ones)."""
    return _Instruments(
        intake=Counter(
            "leadrelay_intake_leads",
            "Intake requests by outcome: the stored lead's status, or why none was stored",
            ["status"],
        ),
        routing=Counter("leadrelay_routing", "Routing steps of distribution jobs by outcome", ["outcome"]),
        attempts=Counter(
            "leadrelay_delivery_attempts", "Delivery attempts by partner and outcome", ["partner", "outcome"]
        ),
        delivery_seconds=Histogram(
            "leadrelay_delivery_seconds",
            "Delivery attempt latency by partner",
            ["partner"],
            buckets=LATENCY_BUCKETS,
        ),
        pings=Counter("leadrelay_pings", "Auction pings by partner and result", ["partner", "result"]),
        ping_seconds=Histogram(
            "leadrelay_ping_seconds", "Auction ping latency by partner", ["partner"], buckets=LATENCY_BUCKETS
        ),
    )


class PrometheusMetrics:
    """``services.ports.Metrics`` on prometheus-client counters and histograms."""

    def __init__(self) -> None:
        self._m = _instruments()
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, key: tuple[str, ...], metric: Counter | Histogram, *labels: str) -> Any:
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def lead_received(self, status: str) -> None:
        self._child(("i", status), self._m.intake, status).inc()

    def job_routed(self, outcome: str) -> None:
        self._child(("r", outcome), self._m.routing, outcome).inc()

    def attempt_finished(self, partner: str, outcome: str, seconds: float) -> None:
        self._child(("a", partner, outcome), self._m.attempts, partner, outcome).inc()
        self._child(("d", partner), self._m.delivery_seconds, partner).observe(seconds)

    def ping_answered(self, partner: str, result: str, seconds: float) -> None:
        self._child(("p", partner, result), self._m.pings, partner, result).inc()
        self._child(("s", partner), self._m.ping_seconds, partner).observe(seconds)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(scraped: Iterable[Collector] = ()) -> bytes:
    """The ``/metrics`` text: this process's metrics (every process's, summed, in multiprocess mode),
    then the ``scraped`` collectors' (read from the database for this scrape)."""
    path = multiprocess_dir()
    if path is not None:
        base = CollectorRegistry()
        MultiProcessCollector(base, path)  # type: ignore[no-untyped-call]
    else:
        base = REGISTRY
    extra = CollectorRegistry(auto_describe=True)
    for collector in scraped:
        extra.register(collector)
    return generate_latest(base) + generate_latest(extra)
