"""The routing simulator and backtest (issue 12, point 6): route a lead, or replay past leads, through the
configuration in force or a draft one, with routing's own code and nothing moving.

A lead is routed by ``domain.routing.evaluate`` and ``services.distribution.screen``/``place`` (and
``services.auction.award`` for an auction), exactly as the worker routes it, but in a ``DryRunTx``
(``services.dry_run``): a read-only transaction in which cap slots, rotations, money holds, dedup marks,
bids and offers are taken in memory, and whose ``Writes`` are never flushed. Nothing is delivered and no
buyer is pinged: an auction is decided on the lead's recorded bids when it had an auction (the ``bids``
table), else on the partners' list prices.

A draft (``services.drafts``) is a YAML document as the apply command takes it, checked by the same code,
laid over the stored configuration and compiled, never stored. The JSON the API and ``--json`` show is
``services.simulation_views``'.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from secrets import token_bytes
from types import SimpleNamespace
from typing import Any, TypeVar

from leadrelay.domain.dedup import MarkHasher
from leadrelay.domain.fields.lead import validate_lead
from leadrelay.domain.instants import utc_instant
from leadrelay.domain.ledger import money
from leadrelay.domain.simulation import PartnerShare, Tally, compare
from leadrelay.domain.states import DeliveryStatus, LeadStatus
from leadrelay.errors import FieldProblem, NotFound, ValidationFailed
from leadrelay.services.config_in_force import ConfigCache, LiveConfig
from leadrelay.services.drafts import FixedKeys, draft_config, parse_draft, underneath
from leadrelay.services.dry_run import DryRunTx, Taken
from leadrelay.services.health import BreakerGate, HealthTracker
from leadrelay.services.opened_leads import open_jobs
from leadrelay.services.ports import Clock, IdSource, Record, Sealer, Storage, Tx, system_clock
from leadrelay.services.simulated_route import RECORDED_BIDS, ProfileRoute, route_one, simulated_job

T = TypeVar("T")
_AGO = re.compile(r"^[0-9]{1,6}[dhm]$")
DEFAULT_LIMIT = 10_000
MAX_LIMIT = 100_000
PAGE = 500  # leads read per transaction of a backtest
NOT_REPLAYED = (
    "No buyer is contacted and no counter moves; every partner chosen is assumed to accept the post.",
    "Caps, pacing, budgets and partner dedup start empty and fill with the replayed leads; availability "
    "and circuit breakers are not replayed (their past states are not kept).",
    "Intake's screening is not replayed: leads rejected, duplicates or suppressed at intake stay so.",
)

# ---------------------------------------------------------------- the results


@dataclass(frozen=True, slots=True)
class Simulation:
    config: str  # "in force" | "draft"
    version: int
    lead_id: str | None
    entity: str
    source: str
    at: datetime
    profiles: tuple[ProfileRoute, ...]
    notes: tuple[str, ...] = ()


@dataclass
class Backtest:
    since: datetime
    until: datetime
    limit: int
    leads: int = 0
    truncated: bool = False  # more leads than ``limit`` in the range: the newest were left out
    actual: Tally = field(default_factory=Tally)
    draft: Tally = field(default_factory=Tally)
    auctions_on_bids: int = 0  # simulated auctions decided on recorded bids
    auctions_on_list_prices: int = 0  # and on list prices (the lead had no auction)
    notes: tuple[str, ...] = NOT_REPLAYED

    def partners(self) -> list[PartnerShare]:
        return compare(self.actual, self.draft)


# ---------------------------------------------------------------- the service


def _ids() -> IdSource:
    counter = itertools.count(1)
    return lambda prefix: f"sim_{prefix}_{next(counter)}"


def parse_since(text: str, now: datetime) -> datetime:
    """``7d``, ``12h``, ``30m`` before ``now``, or an ISO date or time (UTC unless it says)."""
    text = text.strip()
    units = {"d": "days", "h": "hours", "m": "minutes"}
    try:
        if _AGO.match(text):
            return now - timedelta(**{units[text[-1]]: int(text[:-1])})
        at = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise _invalid("since", "expected 7d, 12h, 30m or an ISO date or time (within reach)") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=now.tzinfo)
    try:
        at = utc_instant(at)
    except ValueError as exc:
        raise _invalid("since", str(exc)) from None
    if at > now:
        raise _invalid("since", "is in the future")
    return at


class Simulator:
    def __init__(
        self, storage: Storage, configs: ConfigCache, sealer: Sealer, *, clock: Clock = system_clock
    ) -> None:
        self._storage = storage
        self._configs = configs
        self._sealer = sealer
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    async def _live(self, draft: str | None) -> LiveConfig:
        """The configuration (or the draft over it) with the dedup hasher its partners' dedup needs, read
        before the dry run's read-only transaction. A draft is parsed before that read and checked and
        compiled after it (``services.drafts``), off the event loop: no transaction waits on it. When no
        dedup key is recorded yet, no mark exists: a key of the dry run's own serves (recording the
        installation's key would be a write)."""
        parsed = None if draft is None else await asyncio.to_thread(parse_draft, draft)  # no transaction
        live, under, recorded = await self._storage.run_read(
            lambda tx: (
                self._configs.current(tx),
                None if parsed is None else underneath(tx),
                tx.simulation.dedup_key_recorded(),
            )
        )
        if parsed is not None and under is not None:  # checked and compiled after the transaction
            live = await asyncio.to_thread(draft_config, parsed, under, live, self._configs.dedup_keys)
        keys = self._configs.dedup_keys
        if keys is None or not any(p.dedup is not None for p in live.specs.partners.values()):
            return live
        if keys.cached is not None:
            hasher = keys.cached
        elif recorded:
            hasher = await keys.hasher()
        else:
            hasher = MarkHasher(token_bytes(32))
        return replace(live, dedup_keys=FixedKeys(hasher))

    async def simulate(
        self,
        *,
        lead_id: str | None = None,
        entity: str | None = None,
        source: str | None = None,
        lead: Mapping[str, Any] | None = None,
        draft: str | None = None,
    ) -> Simulation:
        """Route a stored lead (``lead_id``), or a pasted one (``entity``, ``source``, ``lead``), through
        every enabled profile of its entity, as if now; ``draft``: a YAML document over the configuration."""
        if lead_id is None and (entity is None or source is None or lead is None):
            raise _invalid("lead_id", "give a stored lead's id, or entity, source and lead")
        live = await self._live(draft)
        now = self._clock()

        def run(tx: Tx) -> Simulation:
            notes: list[str] = []
            if lead_id is not None:
                row = tx.leads.get_lead(lead_id)
                if row is None:
                    raise NotFound(f"no lead {lead_id!r}")
                if row.status == LeadStatus.REJECTED:
                    notes.append("the lead was rejected at intake (invalid): it would not be routed")
                if row.erased_at is not None:
                    notes.append("the lead's personal data was erased: it is routed on what is left")
                values: Mapping[str, Any] = row.data
                record: Any = row
                bids = tx.simulation.bids([lead_id])
            else:
                assert entity is not None and source is not None and lead is not None
                spec = live.specs.entities.get(entity)
                if spec is None:
                    raise _invalid("entity", f"unknown entity {entity!r}")
                if source not in live.specs.sources:
                    raise _invalid("source", f"unknown source {source!r}")
                checked = validate_lead(spec, lead)
                if checked.problems:
                    raise ValidationFailed(checked.problems, "the lead is invalid")
                values = checked.values
                record = SimpleNamespace(id="sim_lead", entity=entity, source=source, sealed=None)
                bids = []
            profiles = live.profiles_by_entity.get(record.entity, ())
            if not profiles:
                notes.append(f"no enabled profile takes {record.entity} leads")
            dry = DryRunTx(tx, Taken(), stored=True)
            tracker = HealthTracker()
            tracker.sync(dry.caps.breakers())
            gate = BreakerGate(dry, live, now, tracker)
            ids = _ids()
            routes = []
            for n, name in enumerate(profiles):
                job = simulated_job(record, name, values, n)
                if lead_id is not None:
                    (job,) = open_jobs(tx, [job], self._sealer)
                mine = {b.partner: b for b in bids if b.profile == name}
                routes.append(route_one(dry, live, job, now, mine, ids, gate))
            if any(r.auction_prices == RECORDED_BIDS for r in routes):
                notes.append("auctions decided on the lead's recorded bids (no buyer pinged)")
            elif any(r.auction_prices for r in routes):
                notes.append(
                    "auctions decided on the partners' list prices (no recorded bids; no buyer pinged)"
                )
            return Simulation(
                "draft" if draft is not None else "in force",
                live.version,
                lead_id,
                record.entity,
                record.source,
                now,
                tuple(routes),
                tuple(notes),
            )

        return await self._storage.run_read(_guarded(run))

    async def backtest(self, draft: str, *, since: datetime, limit: int = DEFAULT_LIMIT) -> Backtest:
        """Replay the leads created since ``since`` (oldest first, at most ``limit``) through the draft, as
        routed at the time each came in; against what happened to them."""
        if not 1 <= limit <= MAX_LIMIT:
            raise _invalid("limit", f"must be between 1 and {MAX_LIMIT}")
        live = await self._live(draft)
        until = self._clock()
        result = Backtest(since, until, limit)
        taken = Taken()
        ids = _ids()
        after: tuple[datetime, str] | None = None
        left = limit
        while True:
            n = min(PAGE, left)
            page = functools.partial(
                self._page, live=live, taken=taken, ids=ids, after=after, n=n, result=result
            )
            got, after = await self._storage.run_read(_guarded(page))
            left -= got
            if got < n:
                break
            if left == 0:
                result.truncated = await self._storage.run_read(functools.partial(_more, since, until, after))
                break
        return result

    def _page(
        self,
        tx: Tx,
        *,
        live: LiveConfig,
        taken: Taken,
        ids: IdSource,
        after: tuple[datetime, str] | None,
        n: int,
        result: Backtest,
    ) -> tuple[int, tuple[datetime, str] | None]:
        rows = tx.simulation.leads_between(result.since, result.until, after, n)
        if not rows:
            return 0, after
        lead_ids = [r.id for r in rows]
        sales: dict[str, list[tuple[str, Decimal | None]]] = {}
        offered: set[str] = set()
        for d in tx.simulation.deliveries(lead_ids):
            offered.add(d.lead_id)
            if d.status == DeliveryStatus.DELIVERED:
                price = money(d.price) if d.price is not None else None
                sales.setdefault(d.lead_id, []).append((d.partner, price))
        bids: dict[tuple[str, str], dict[str, Record]] = {}
        for b in tx.simulation.bids(lead_ids):
            offered.add(b.lead_id)
            bids.setdefault((b.lead_id, b.profile), {})[b.partner] = b
        dry = DryRunTx(tx, taken, stored=False)
        for row in rows:
            result.leads += 1
            actual = sales.get(row.id, [])
            result.actual.add(actual, routed=row.id in offered)
            if row.status in _AT_INTAKE:  # refused at intake: not replayed
                result.draft.add([], routed=False)
                continue
            draft: list[tuple[str, Decimal | None]] = []
            routed = False
            for k, name in enumerate(live.profiles_by_entity.get(row.entity, ())):
                job = simulated_job(row, name, row.data, k)
                (job,) = open_jobs(tx, [job], self._sealer)
                route = route_one(dry, live, job, row.created_at, bids.get((row.id, name), {}), ids, None)
                routed = routed or route.routed
                draft.extend(route.sales())
                if route.auction_prices == RECORDED_BIDS:
                    result.auctions_on_bids += 1
                elif route.auction_prices is not None:
                    result.auctions_on_list_prices += 1
            result.draft.add(draft, routed=routed)
        last = rows[-1]
        return len(rows), (last.created_at, last.id)


def _guarded(fn: Callable[[Tx], T]) -> Callable[[Tx], T]:
    """``fn`` in a transaction whose writes the database itself refuses: a write the dry run would miss
    fails loudly instead of landing."""

    def run(tx: Tx) -> T:
        with tx.simulation.read_only():
            return fn(tx)

    return run


def _more(since: datetime, until: datetime, after: tuple[datetime, str] | None, tx: Tx) -> bool:
    return bool(tx.simulation.leads_between(since, until, after, 1))


_AT_INTAKE = (LeadStatus.REJECTED, LeadStatus.DUPLICATE, LeadStatus.SUPPRESSED)


def _invalid(name: str, error: str) -> ValidationFailed:
    return ValidationFailed([FieldProblem(name, error)], f"{name}: {error}")
