"""The gauges ``/metrics`` reads from the database at each scrape: the queue's depth and the age of the
oldest job waiting to be claimed, cap use per partner and window, the batch backlog, and whatever the
ledger's hook (``services.operations.ledger_totals``) gives. One read transaction per scrape; nothing is
kept between scrapes (every process of the installation would read the same numbers)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from leadrelay.adapters.db.operations_queries import QueueDepth, batch_backlog, queue_depth
from leadrelay.adapters.db.unit_of_work import connection_of
from leadrelay.services.config_in_force import LiveConfig
from leadrelay.services.operations import Gauge, ledger_totals
from leadrelay.services.ports import Tx
from leadrelay.services.reservations import CapUse, cap_usage


@dataclass(frozen=True, slots=True)
class Snapshot:
    now: datetime
    queue: QueueDepth
    caps: list[CapUse]
    batches: dict[str, int]
    batched_deliveries: int
    extra: list[Gauge] = field(default_factory=list)


def read_snapshot(tx: Tx, live: LiveConfig, now: datetime) -> Snapshot:
    """Everything the scrape shows from the database, in the caller's read transaction."""
    conn = connection_of(tx)
    by_status, waiting = batch_backlog(conn)
    return Snapshot(
        now,
        queue_depth(conn, now),
        cap_usage(tx, live, now),
        by_status,
        waiting,
        ledger_totals(tx, live, now),
    )


class SnapshotCollector(Collector):
    """A prometheus-client collector over one :class:`Snapshot`."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        queue = GaugeMetricFamily(
            "leadrelay_queue_jobs",
            "Distribution jobs not done, by queue state (due: ready and due, waiting for a worker)",
            labels=["state"],
        )
        for state, count in (
            ("due", s.queue.due),
            ("scheduled", s.queue.scheduled),
            ("claimed", s.queue.claimed),
            ("waiting", s.queue.waiting),
        ):
            queue.add_metric([state], count)
        yield queue
        yield GaugeMetricFamily(
            "leadrelay_queue_oldest_due_seconds",
            "How long the job waiting longest to be claimed has waited (0 when none waits)",
            value=s.queue.oldest_age_s(s.now),
        )
        used = GaugeMetricFamily(
            "leadrelay_cap_used",
            "Leads counted in each cap window in force now (scope: the profile, empty for the partner's own)",
            labels=["partner", "scope", "period"],
        )
        limit = GaugeMetricFamily(
            "leadrelay_cap_limit",
            "The cap of each window in force now",
            labels=["partner", "scope", "period"],
        )
        for cap in s.caps:
            labels = [cap.partner, cap.scope, cap.period.value]
            used.add_metric(labels, cap.used)
            limit.add_metric(labels, cap.limit)
        yield used
        yield limit
        backlog = GaugeMetricFamily(
            "leadrelay_batch_backlog", "Batches cut and not yet sent, by status", labels=["status"]
        )
        for status, count in sorted(s.batches.items()):
            backlog.add_metric([status], count)
        yield backlog
        yield GaugeMetricFamily(
            "leadrelay_batch_waiting_deliveries",
            "Deliveries waiting for a batch file or digest",
            value=s.batched_deliveries,
        )
        yield from _gauges(s.extra)


def _gauges(samples: list[Gauge]) -> Iterator[Metric]:
    families: dict[str, GaugeMetricFamily] = {}
    for g in samples:
        family = families.get(g.name)
        if family is None:
            family = families[g.name] = GaugeMetricFamily(g.name, g.help, labels=list(g.labels))
        family.add_metric(list(g.labels.values()), g.value)
    yield from families.values()


class DatabaseUp(Collector):
    """``leadrelay_scrape_database_up``: whether this scrape could read the database's gauges."""

    def __init__(self, up: bool) -> None:
        self.up = up

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "leadrelay_scrape_database_up",
            "1 when this scrape read the queue, caps and batches from the database, else 0",
            value=1.0 if self.up else 0.0,
        )
