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
# seconds: a lead's database steps, from a lone transaction (a millisecond) to one queued behind others
STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class _Instruments:
    intake: Counter
    routing: Counter
    attempts: Counter
    delivery_seconds: Histogram
    pings: Counter
    ping_seconds: Histogram
    step_seconds: Histogram


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
        step_seconds=Histogram(
            "leadrelay_step_seconds",
            "A lead's database steps (store, route, award, record, answer): the wait for the shared "
            "transaction and the transaction",
            ["step"],
            buckets=STEP_BUCKETS,
        ),
    )


class PrometheusMetrics:
    """``services.ports.Metrics`` on prometheus-client counters and histograms. Each label set's child
    is looked up once and kept: intake's count is a dict look-up by its status and an increment (no
    allocation); the worker's keys are (partner, outcome) pairs."""

    def __init__(self) -> None:
        self._m = _instruments()
        self._intake: dict[str, Any] = {}
        self._routing: dict[str, Any] = {}
        self._attempts: dict[tuple[str, str], Any] = {}
        self._pings: dict[tuple[str, str], Any] = {}
        self._delivery_seconds: dict[str, Any] = {}
        self._ping_seconds: dict[str, Any] = {}
        self._step_seconds: dict[str, Any] = {}

    @property
    def children(self) -> int:
        """How many label sets were looked up (each once)."""
        return (
            len(self._intake)
            + len(self._routing)
            + len(self._attempts)
            + len(self._pings)
            + len(self._delivery_seconds)
            + len(self._ping_seconds)
            + len(self._step_seconds)
        )

    def lead_received(self, status: str) -> None:
        child = self._intake.get(status)
        if child is None:
            child = self._intake[status] = self._m.intake.labels(status)
        child.inc()

    def job_routed(self, outcome: str) -> None:
        child = self._routing.get(outcome)
        if child is None:
            child = self._routing[outcome] = self._m.routing.labels(outcome)
        child.inc()

    def attempt_finished(self, partner: str, outcome: str, seconds: float) -> None:
        key = (partner, outcome)
        # the time first: a scrape that sees the attempt counted sees its time too
        timer = self._delivery_seconds.get(partner)
        if timer is None:
            timer = self._delivery_seconds[partner] = self._m.delivery_seconds.labels(partner)
        timer.observe(seconds)
        child = self._attempts.get(key)
        if child is None:
            child = self._attempts[key] = self._m.attempts.labels(partner, outcome)
        child.inc()

    def ping_answered(self, partner: str, result: str, seconds: float) -> None:
        key = (partner, result)
        timer = self._ping_seconds.get(partner)
        if timer is None:
            timer = self._ping_seconds[partner] = self._m.ping_seconds.labels(partner)
        timer.observe(seconds)
        child = self._pings.get(key)
        if child is None:
            child = self._pings[key] = self._m.pings.labels(partner, result)
        child.inc()

    def step_finished(self, step: str, seconds: float) -> None:
        timer = self._step_seconds.get(step)
        if timer is None:
            timer = self._step_seconds[step] = self._m.step_seconds.labels(step)
        timer.observe(seconds)


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
