"""What ``/metrics`` reads from the database at scrape time, beside the counters each process keeps: the
cap windows in force (``services.reservations.cap_usage``) and, through :func:`ledger_totals`, the
ledger's totals.

The queue's depth and the batch backlog are plain counts of the adapters' tables
(``adapters.db.operations_queries``); the scrape collector (``adapters.observability.scrape``) reads all of
it in one read transaction and turns it into Prometheus gauges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from leadrelay.services.config_in_force import LiveConfig
from leadrelay.services.ports import Tx


@dataclass(frozen=True, slots=True)
class Gauge:
    """One gauge sample read at scrape time: ``name`` is the full metric name (``leadrelay_…``), and
    samples of one name share its ``help`` and label names."""

    name: str
    help: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


def ledger_totals(tx: Tx, live: LiveConfig, now: datetime) -> list[Gauge]:
    """THE HOOK for the ledger's totals on ``/metrics`` (the ledger is built separately).

    Called at every scrape inside the scrape's read transaction (``tx``), after the queue, caps and
    batches were read. Return one :class:`Gauge` per total, e.g.
    ``Gauge("leadrelay_ledger_balance", "…", 1234.5, {"account": "partner:sunco", "currency": "USD"})``
    (Decimal amounts as float: a gauge is a float). Keep the labels bounded (accounts, currencies: no
    lead ids) and the read cheap (a sum over an index, or a kept balance). Nothing until the ledger lands.
    """
    return []
