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

from leadrelay.domain.ledger import DEFAULT_CURRENCY
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
    """The ledger's partner balances on ``/metrics``, read from the balances the ledger keeps with every
    entry (one row per partner: no sum over the ledger at each scrape): what each partner owes
    (``leadrelay_partner_balance``, negative: prepaid funds left) and what its routed leads hold of its
    wallet (``leadrelay_partner_held``)."""
    out: list[Gauge] = []
    for partner, funds in tx.wallets.balances().items():
        labels = {"partner": partner, "currency": DEFAULT_CURRENCY}
        out.append(Gauge("leadrelay_partner_balance", _BALANCE, float(funds.owed), labels))
        out.append(Gauge("leadrelay_partner_held", _HELD, float(funds.held), labels))
    return out


_BALANCE = "What the partner owes (the sum of its ledger entries); negative: prepaid funds left"
_HELD = "What the partner's routed, not yet sold leads hold of its wallet"
