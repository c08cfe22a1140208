"""A ``Tx`` in which routing runs as it really does and nothing moves: the routing simulator's
(``services.simulation``).

Routing takes cap slots, rotation numbers, budget and wallet holds and dedup marks at once, inside its
transaction (``services.reservations``, ``services.budgets``, ``services.partner_exclusion``), and records an
auction's bids and a consumer's offers. ``DryRunTx`` wraps a read-only transaction and answers those calls
from the stored numbers (``stored=True``: what a lead routed now would meet) or from nothing (a backtest,
whose leads met the numbers of their own time), plus what the dry run itself took, kept in memory
(``Taken``): a backtest's earlier leads fill the caps its later leads meet. Every other repository is the
real one, read only; the route's other writes are collected in a ``Writes`` that is never flushed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from leadrelay.domain.budgets import Funds
from leadrelay.domain.dedup import Mark
from leadrelay.errors import LeadrelayError
from leadrelay.services.budgets import MONEY_SCOPE
from leadrelay.services.ports import (
    Alerts,
    Batches,
    BatchQueries,
    Caps,
    ConfigObjects,
    Credentials,
    DashboardQueries,
    DedupMarks,
    DeferredWrites,
    Deliveries,
    Erasure,
    FormPosts,
    HoldQueries,
    Invoices,
    Jobs,
    LeadImports,
    LeadPageQueries,
    Leads,
    Ledger,
    LogQueries,
    PortalQueries,
    Postbacks,
    Record,
    Relays,
    ReportFacts,
    Returns,
    Savepoint,
    SimulationReads,
    SuppressionListNames,
    SuppressionLists,
    Tx,
    Users,
    Wallets,
)

ZERO = Decimal(0)


class DryRunWrite(LeadrelayError):
    """A dry run reached a write it cannot keep in memory (a bug: it must never reach the database)."""


@dataclass
class Taken:
    """What a dry run took, in memory only."""

    caps: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (partner, scope, window) → slots
    rotations: dict[str, int] = field(default_factory=dict)
    budgets: dict[tuple[str, str, str], Decimal] = field(default_factory=dict)
    funds: dict[str, Decimal] = field(default_factory=dict)  # partner → held
    holds: dict[tuple[str, str], list[tuple[str, Any, Decimal]]] = field(default_factory=dict)
    marks: dict[tuple[str, str], Mark] = field(default_factory=dict)
    bids: dict[str, list[Any]] = field(default_factory=dict)  # job id → bid rows
    offers: dict[str, list[Any]] = field(default_factory=dict)  # job id → offer rows


def _release_holds(taken: Taken, job_id: str, partner: str) -> None:
    for kind, key, amount in taken.holds.pop((job_id, partner), []):
        (taken.budgets if kind == "budget" else taken.funds)[key] -= amount


class _DryCaps:
    def __init__(self, real: Caps, sim: SimulationReads, taken: Taken, stored: bool) -> None:
        self._real, self._sim, self._taken, self._stored = real, sim, taken, stored

    def _used(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
        base = self._real.cap_used(list(keys)) if self._stored and keys else {}
        return {k: base.get(k, 0) + self._taken.caps.get(k, 0) for k in keys}

    def reserve_cap(self, partner: str, scope: str, window: str, limit: int) -> tuple[bool, int]:
        key = (partner, scope, window)
        used = self._used([key])[key]
        if used >= limit:
            return False, used
        self._taken.caps[key] = self._taken.caps.get(key, 0) + 1
        return True, used + 1

    def release_caps(self, partner: str, windows: Sequence[Sequence[str]]) -> None:
        for w in windows:
            if w[0] == MONEY_SCOPE:  # what job ``w[1]``'s delivery holds of the partner's money
                _release_holds(self._taken, w[1], partner)
                continue
            key = (partner, w[0], w[1])
            if self._taken.caps.get(key, 0) > 0:
                self._taken.caps[key] -= 1

    def cap_used(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
        return self._used(keys)

    def seed_window(self, *args: Any, **kwargs: Any) -> None:
        raise DryRunWrite("a dry run applies no configuration")

    def cap_usage(self, partner: str) -> dict[tuple[str, str], int]:
        usage = dict(self._real.cap_usage(partner)) if self._stored else {}
        for (name, scope, window), n in self._taken.caps.items():
            if name == partner:
                usage[(scope, window)] = usage.get((scope, window), 0) + n
        return usage

    def next_rotation(self, key: str, n: int = 1) -> int:
        stored = self._sim.rotation(key) if self._stored else 0
        mine = self._taken.rotations.get(key, 0)
        self._taken.rotations[key] = mine + n
        return stored + mine

    def set_availability(
        self, partner: str, available: bool, note: str | None, actor: str, at: datetime
    ) -> bool:
        raise DryRunWrite("a dry run does not check partners in or out")

    def unavailable_partners(self) -> frozenset[str]:
        return self._real.unavailable_partners() if self._stored else frozenset()

    def availability(self) -> dict[str, dict[str, Any]]:
        return self._real.availability() if self._stored else {}

    def unavailable_and_breakers(self) -> tuple[frozenset[str], dict[str, dict[str, Any]]]:
        return self._real.unavailable_and_breakers() if self._stored else (frozenset(), {})

    def breakers(self) -> dict[str, dict[str, Any]]:
        return self._real.breakers() if self._stored else {}

    def move_breaker(
        self, partner: str, values: dict[str, Any], expect: Collection[str], due: datetime | None = None
    ) -> bool:
        return True  # a trial taken in a dry run is taken nowhere


class _DryWallets:
    def __init__(self, real: Wallets, taken: Taken, stored: bool) -> None:
        self._real, self._taken, self._stored = real, taken, stored

    def reserve_budget(
        self, job_id: str, partner: str, scope: str, window: str, amount: Decimal, limit: Decimal
    ) -> tuple[bool, Decimal]:
        key = (partner, scope, window)
        spent = self._real.budget_spent(partner).get((scope, window), ZERO) if self._stored else ZERO
        spent += self._taken.budgets.get(key, ZERO)
        if spent + amount > limit:
            return False, spent
        self._taken.budgets[key] = self._taken.budgets.get(key, ZERO) + amount
        self._taken.holds.setdefault((job_id, partner), []).append(("budget", key, amount))
        return True, ZERO

    def reserve_funds(
        self, job_id: str, partner: str, amount: Decimal, credit_limit: Decimal
    ) -> Funds | None:
        stored = self._real.funds(partner) if self._stored else None
        owed, held = (stored.owed, stored.held) if stored is not None else (ZERO, ZERO)
        funds = Funds(owed, held + self._taken.funds.get(partner, ZERO), credit_limit)
        if not funds.fits(amount):
            return funds
        self._taken.funds[partner] = self._taken.funds.get(partner, ZERO) + amount
        self._taken.holds.setdefault((job_id, partner), []).append(("wallet", partner, amount))
        return None

    def release_holds(self, job_id: str, partner: str) -> None:
        _release_holds(self._taken, job_id, partner)

    def __getattr__(self, name: str) -> Any:
        if name in ("settle_holds", "configure_wallets"):
            raise DryRunWrite(f"a dry run does not {name.replace('_', ' ')}")
        return getattr(self._real, name)


class _DryDedup:
    def __init__(self, real: DedupMarks, taken: Taken, stored: bool) -> None:
        self._real, self._taken, self._stored = real, taken, stored

    def lock_keys(self, keys: Collection[tuple[str, str]]) -> None:
        return None

    def load_marks(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], Mark]:
        marks = dict(self._real.load_marks(keys)) if self._stored else {}
        marks.update({k: m for k in keys if (m := self._taken.marks.get(k)) is not None})
        return marks

    def put_marks(self, rows: Sequence[dict[str, Any]]) -> None:
        for r in rows:
            self._taken.marks[(r["scope"], r["key_hash"])] = Mark(r["lead_id"], r["seen_at"])

    def __getattr__(self, name: str) -> Any:
        if name in ("release_partner_marks", "forget_leads", "drop_marks", "move_marks"):
            raise DryRunWrite(f"a dry run does not {name.replace('_', ' ')}")
        return getattr(self._real, name)


class _DryDeliveries:
    """A simulated job has no stored deliveries; its bids and offers are kept in memory."""

    def __init__(self, real: Deliveries, taken: Taken) -> None:
        self._real, self._taken = real, taken

    def job_deliveries(self, job_id: str, *, lock: bool = False) -> list[Record]:
        return []

    def bids_of(self, job_id: str, *, history: bool = False) -> list[Record]:
        return list(self._taken.bids.get(job_id, []))

    def insert_bids(self, rows: Sequence[Any]) -> None:
        for r in rows:
            self._taken.bids.setdefault(r["job_id"], []).append(SimpleNamespace(**r))

    def update_bid(self, bid_id: str, **values: Any) -> None:
        for rows in self._taken.bids.values():
            for r in rows:
                if r.id == bid_id:
                    r.__dict__.update(values)

    def offers_of(self, job_id: str, *, history: bool = False) -> list[Record]:
        return list(self._taken.offers.get(job_id, []))

    def insert_offers(self, rows: Sequence[Any]) -> None:
        for r in rows:
            self._taken.offers.setdefault(r["job_id"], []).append(SimpleNamespace(**r))

    def __getattr__(self, name: str) -> Any:
        if name.startswith(("insert_", "update_", "supersede_", "use_")):
            raise DryRunWrite(f"a dry run does not {name.replace('_', ' ')}")
        return getattr(self._real, name)


class _DryJobs:
    def __init__(self, real: Jobs) -> None:
        self._real = real

    def job_had_errors(self, job_id: str) -> bool:
        return False  # a simulated job was never attempted

    def __getattr__(self, name: str) -> Any:
        if name != "load_jobs":
            raise DryRunWrite(f"a dry run does not {name.replace('_', ' ')}")
        return getattr(self._real, name)


class _NoBatches:
    def __getattr__(self, name: str) -> Any:
        raise DryRunWrite("a dry run makes no batch")


class DryRunTx:
    """``Tx`` over a read-only transaction ``tx``: see the module's docstring."""

    def __init__(self, tx: Tx, taken: Taken, *, stored: bool) -> None:
        self.real = tx
        self.taken = taken
        self._caps = _DryCaps(tx.caps, tx.simulation, taken, stored)
        self._wallets = _DryWallets(tx.wallets, taken, stored)
        self._dedup = _DryDedup(tx.dedup, taken, stored)
        self._deliveries = _DryDeliveries(tx.deliveries, taken)
        self._jobs = _DryJobs(tx.jobs)

    @property
    def caps(self) -> Caps:
        return self._caps

    @property
    def wallets(self) -> Wallets:
        return self._wallets

    @property
    def dedup(self) -> DedupMarks:
        return self._dedup

    @property
    def deliveries(self) -> Deliveries:
        return self._deliveries

    @property
    def jobs(self) -> Jobs:
        return self._jobs

    @property
    def batches(self) -> Batches:
        return _NoBatches()

    def savepoint(self) -> Savepoint:
        """Refused: the simulator runs routing without the worker's savepoints, and what a dry run takes
        is kept in memory (``Taken``), where a savepoint could not undo it."""
        raise TypeError("a dry run takes no savepoints")

    # read only: the real ones
    @property
    def leads(self) -> Leads:
        return self.real.leads

    @property
    def config(self) -> ConfigObjects:
        return self.real.config

    @property
    def credentials(self) -> Credentials:
        return self.real.credentials

    @property
    def suppression(self) -> SuppressionLists:
        return self.real.suppression

    @property
    def alerts(self) -> Alerts:
        return self.real.alerts

    @property
    def ledger(self) -> Ledger:
        return self.real.ledger

    @property
    def postbacks(self) -> Postbacks:
        return self.real.postbacks

    @property
    def relays(self) -> Relays:
        return self.real.relays

    @property
    def returns(self) -> Returns:
        return self.real.returns

    @property
    def invoices(self) -> Invoices:
        return self.real.invoices

    @property
    def reports(self) -> ReportFacts:
        return self.real.reports

    @property
    def deferred(self) -> DeferredWrites:
        return _NoBatches()

    @property
    def log(self) -> LogQueries:
        return self.real.log

    @property
    def holds(self) -> HoldQueries:
        return self.real.holds

    @property
    def batch_queries(self) -> BatchQueries:
        return self.real.batch_queries

    @property
    def suppression_names(self) -> SuppressionListNames:
        return self.real.suppression_names

    @property
    def erasure(self) -> Erasure:
        return self.real.erasure

    @property
    def simulation(self) -> SimulationReads:
        return self.real.simulation

    @property
    def users(self) -> Users:
        return self.real.users

    @property
    def dashboard(self) -> DashboardQueries:
        return self.real.dashboard

    @property
    def portal(self) -> PortalQueries:
        return self.real.portal

    @property
    def lead_pages(self) -> LeadPageQueries:
        return self.real.lead_pages

    @property
    def lead_imports(self) -> LeadImports:
        return self.real.lead_imports

    @property
    def form_posts(self) -> FormPosts:  # the hosted form's counts: routing never reaches them
        return self.real.form_posts
