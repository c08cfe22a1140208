"""The routing simulator and backtest (issue 12, point 6): route a lead, or replay past leads, through the
configuration in force or a draft one, with routing's own code and nothing moving.

A lead is routed by ``domain.routing.evaluate`` and ``services.distribution.screen``/``place`` (and
``services.auction.award`` for an auction), exactly as the worker routes it, but in a ``DryRunTx``
(``services.dry_run``): a read-only transaction in which cap slots, rotations, money holds, dedup marks,
bids and offers are taken in memory, and whose ``Writes`` are never flushed. Nothing is delivered and no
buyer is pinged: an auction is decided on the lead's recorded bids when it had an auction (the ``bids``
table), else on the partners' list prices.

A draft is a YAML document as the apply command takes it, checked by the same code (``validate_document``
over the stored objects, the suppression lists named), merged over the stored configuration and compiled,
never stored.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from secrets import token_bytes
from types import SimpleNamespace
from typing import Any

from leadrelay.configuration import secrets
from leadrelay.configuration.load import Objects, build_specs, load_yaml_text, validate_document
from leadrelay.domain.auction import Offer
from leadrelay.domain.dedup import MarkHasher
from leadrelay.domain.fields.lead import validate_lead
from leadrelay.domain.ledger import ZERO, PriceBasis, money
from leadrelay.domain.model import Strategy
from leadrelay.domain.ping import Bid, BidStatus
from leadrelay.domain.routing import ELIGIBLE, evaluate
from leadrelay.domain.simulation import PartnerShare, PartnerVerdict, Tally, compare, verdicts
from leadrelay.domain.states import DeliveryStatus, JobStatus, LeadStatus, QueueState
from leadrelay.errors import FieldProblem, NotFound, ValidationFailed
from leadrelay.services import auction, distribution
from leadrelay.services.config_in_force import ConfigCache, LiveConfig, compile_live
from leadrelay.services.configure import check_suppression_lists
from leadrelay.services.dry_run import DryRunTx, Taken
from leadrelay.services.health import BreakerGate, HealthTracker
from leadrelay.services.opened_leads import open_jobs, redact_lines
from leadrelay.services.ports import Clock, IdSource, Record, Sealer, Storage, Tx, system_clock
from leadrelay.services.steps import StepResult
from leadrelay.services.writes import Writes

_AGO = re.compile(r"^[0-9]{1,6}[dhm]$")
DEFAULT_LIMIT = 10_000
MAX_LIMIT = 100_000
PAGE = 500  # leads read per transaction of a backtest
_MAX_TIERS = 32  # a waterfall's tiers awarded in one simulated route, at most

RECORDED_BIDS = "recorded bids"
LIST_PRICES = "list prices (no recorded bids)"
NOT_REPLAYED = (
    "No buyer is contacted and no counter moves; every partner chosen is assumed to accept the post.",
    "Caps, pacing, budgets and partner dedup start empty and fill with the replayed leads; availability "
    "and circuit breakers are not replayed (their past states are not kept).",
    "Intake's screening is not replayed: leads rejected, duplicates or suppressed at intake stay so.",
)


# ---------------------------------------------------------------- the draft configuration


@dataclass(frozen=True, slots=True)
class _FixedKeys:
    """The installation's dedup hasher, read before the read-only transaction (``DedupKeys``)."""

    hasher_: MarkHasher

    @property
    def cached(self) -> MarkHasher:
        return self.hasher_

    async def hasher(self) -> MarkHasher:
        return self.hasher_

    def hasher_sync(self, *, tx: Tx | None = None) -> MarkHasher:
        return self.hasher_


def draft_objects(tx: Tx, text: str) -> Objects:
    """The stored configuration with a draft document applied over it, checked as ``apply`` checks it
    (``ConfigError`` with each problem's path); nothing is written."""
    data = load_yaml_text(text)
    existing = tx.config.load_objects()
    incoming = validate_document(data, existing)
    check_suppression_lists(tx, incoming)
    merged: Objects = {kind: dict(docs) for kind, docs in existing.items()}
    for kind, docs in incoming.items():
        for name, doc in docs.items():
            secrets.merge_kept(kind, name, doc, existing.get(kind, {}).get(name))  # "***": the stored one
            merged.setdefault(kind, {})[name] = doc
    return merged


def config_for(tx: Tx, configs: ConfigCache, draft: str | None) -> LiveConfig:
    """The configuration in force, or the draft over it (compiled, never stored)."""
    live = configs.current(tx)
    if draft is None:
        return live
    return compile_live(live.version, build_specs(draft_objects(tx, draft)), configs.dedup_keys)


# ---------------------------------------------------------------- one lead through one profile


@dataclass(frozen=True, slots=True)
class ProfileRoute:
    """What routing one lead through one profile decided."""

    profile: str
    rule: str | None
    strategy: str | None
    outcome: (
        str  # the job's status it would end the step in: delivering, held, unsold … (offered: user choice)
    )
    reason: str | None
    order: tuple[str, ...]  # the screened candidates, in the order the strategy offers them
    partners: tuple[PartnerVerdict, ...]
    expected_revenue: Decimal
    trace: tuple[str, ...]
    auction_prices: str | None = None  # where an auction's bids came from (None: no auction)

    @property
    def routed(self) -> bool:
        return bool(self.order)

    def sales(self) -> list[tuple[str, Decimal | None]]:
        return [(p.partner, p.price) for p in self.partners if p.verdict == "chosen"]


def _job(lead: Record, profile: str, values: Mapping[str, Any], n: int) -> Any:
    return SimpleNamespace(
        id=f"sim_job_{n}",
        lead_id=lead.id,
        profile=profile,
        kind="route",
        status=JobStatus.RECEIVED,
        queue_state=QueueState.CLAIMED,  # as a worker holds a job it routes
        trace=[],
        excluded=[],
        entity=lead.entity,
        source=lead.source,
        lead_values=dict(values),
        lead_sealed=lead.sealed,
        is_test=False,
        answer_by=None,
        parent_id=None,
        target_partner=None,
        claims=0,
    )


def _offers(pending: Any, bids: Mapping[str, Record]) -> tuple[list[Offer], bool]:
    """The answers an auction's pings would get: the lead's recorded bid of each partner, else an accepted
    bid at its list price; and whether any recorded bid was used."""
    offers = list(pending.fixed)
    recorded = False
    for ping in pending.pings:
        bid = bids.get(ping.partner)
        if bid is not None:
            recorded = True
            status = BidStatus(bid.status)
            offers.append(
                Offer(
                    ping.partner,
                    Bid(status, bid.price, bid.reference, None, bid.shared_price),
                    ping.floor,
                    0.0,
                )
            )
        else:
            offers.append(Offer(ping.partner, Bid(BidStatus.ACCEPTED, ping.list_price), ping.floor, 0.0))
    return offers, recorded


def route_one(
    dry: DryRunTx,
    live: LiveConfig,
    job: Any,
    now: datetime,
    bids: Mapping[str, Record],
    ids: IdSource,
    gate: BreakerGate | None,
) -> ProfileRoute:
    """Route ``job`` as the worker does (``distribution.screen`` then ``place``), in the dry run."""
    cfg = live.compiled
    compiled = cfg.profiles.get(job.profile)
    names = sorted(cfg.partners)
    if compiled is None or not compiled.spec.enabled:
        why = f"profile {job.profile} is missing or disabled"
        return ProfileRoute(job.profile, None, None, JobStatus.UNSOLD, why, (), (), ZERO, (why,))
    ev = evaluate(job.lead_values, compiled, cfg, now)
    trace = redact_lines(job, ev.trace(cfg))
    ineligible = {
        name: line[len(name) + 2 :]
        for i, name in enumerate(ev.partners)
        if ev.code(i) != ELIGIBLE
        for line in trace  # the rules' lines only, so far (redacted: a stored lead's sensitive values)
        if line.startswith(f"{name}: ")
    }
    order = distribution.screen(dry, job, live, now, ev, trace, breakers=gate)
    w = Writes()
    prices: str | None = None
    if order:
        step: StepResult = distribution.place(
            dry, job, live, now, w, ev, list(order), trace, ids=ids, breakers=gate
        )
        for _ in range(_MAX_TIERS):
            if step.auction is None:
                break
            offers, recorded = _offers(step.auction, bids)
            prices = RECORDED_BIDS if recorded or prices == RECORDED_BIDS else LIST_PRICES  # per tier
            step = auction.award(dry, job, live, now, w, step.auction, offers, ids)
        status = w.jobs.get(job.id, {}).get("status", JobStatus.DELIVERING)
        reason = w.jobs.get(job.id, {}).get("error")
    else:
        status, reason = JobStatus.UNSOLD, ev.reason or "no eligible partner"
        prices = None
    final = list(w.jobs.get(job.id, {}).get("trace", trace))
    chosen: dict[str, tuple[Decimal | None, str | None]] = {}
    revenue = ZERO
    for row in w.new_deliveries:
        partner = cfg.partners[row["partner"]]
        price, basis = row["price"], row["price_basis"]
        if price is None and partner.price is not None:
            price, basis = partner.price, PriceBasis.LIST
        amount = money(price) if price is not None else None
        chosen[row["partner"]] = (amount, str(basis) if basis is not None else None)
        revenue += amount or ZERO
    offered = [o.partner for o in dry.taken.offers.get(job.id, [])]
    outcome = "offered" if offered and not chosen else str(status)
    target = ev.target
    return ProfileRoute(
        profile=job.profile,
        rule=ev.rule,
        strategy=target.strategy.value if target is not None else None,
        outcome=outcome,
        reason=None if chosen or offered else reason,
        order=tuple(order),
        partners=tuple(verdicts(names, ev.partners, ineligible, order, final, chosen, offered)),
        expected_revenue=revenue,
        trace=tuple(final),
        auction_prices=prices if target is not None and target.strategy in _AUCTIONS else None,
    )


_AUCTIONS = (Strategy.AUCTION, Strategy.WATERFALL)


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
        before the dry run's read-only transaction. When no dedup key is recorded yet, no mark exists:
        a key of the dry run's own serves (recording the installation's key would be a write)."""
        live, recorded = await self._storage.run_read(
            lambda tx: (config_for(tx, self._configs, draft), tx.simulation.dedup_key_recorded())
        )
        keys = self._configs.dedup_keys
        if keys is None or not any(p.dedup is not None for p in live.specs.partners.values()):
            return live
        if keys.cached is not None:
            hasher = keys.cached
        elif recorded:
            hasher = await keys.hasher()
        else:
            hasher = MarkHasher(token_bytes(32))
        return replace(live, dedup_keys=_FixedKeys(hasher))

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
                job = _job(record, name, values, n)
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

        return await self._storage.run_read(run)

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
            got, after = await self._storage.run_read(
                functools.partial(
                    self._page, live=live, taken=taken, ids=ids, after=after, n=n, result=result
                )
            )
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
                job = _job(row, name, row.data, k)
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


def _more(since: datetime, until: datetime, after: tuple[datetime, str] | None, tx: Tx) -> bool:
    return bool(tx.simulation.leads_between(since, until, after, 1))


_AT_INTAKE = (LeadStatus.REJECTED, LeadStatus.DUPLICATE, LeadStatus.SUPPRESSED)


def _invalid(name: str, error: str) -> ValidationFailed:
    return ValidationFailed([FieldProblem(name, error)], f"{name}: {error}")


# ---------------------------------------------------------------- as JSON (the API's and `--json`'s)


def _money(value: Decimal | None) -> str | None:
    return f"{value:.2f}" if value is not None else None


def simulation_dict(s: Simulation) -> dict[str, Any]:
    return {
        "config": s.config,
        "version": s.version,
        "lead_id": s.lead_id,
        "entity": s.entity,
        "source": s.source,
        "at": s.at.isoformat(),
        "delivered": False,
        "profiles": [
            {
                "profile": r.profile,
                "rule": r.rule,
                "strategy": r.strategy,
                "outcome": r.outcome,
                "reason": r.reason,
                "order": list(r.order),
                "expected_revenue": _money(r.expected_revenue),
                "auction_prices": r.auction_prices,
                "partners": [
                    {
                        "partner": p.partner,
                        "verdict": p.verdict.value,
                        "reasons": list(p.reasons),
                        "position": p.position,
                        "price": _money(p.price),
                        "price_basis": p.price_basis,
                    }
                    for p in r.partners
                ],
                "trace": list(r.trace),
            }
            for r in s.profiles
        ],
        "notes": list(s.notes),
    }


def _side(t: Tally) -> dict[str, Any]:
    return {
        "leads": t.leads,
        "routed": t.routed,
        "sold": t.sold,
        "unsold": t.unsold,
        "revenue": _money(t.revenue),
    }


def backtest_dict(b: Backtest) -> dict[str, Any]:
    a, d = b.actual, b.draft
    return {
        "since": b.since.isoformat(),
        "until": b.until.isoformat(),
        "limit": b.limit,
        "leads": b.leads,
        "truncated": b.truncated,
        "actual": _side(a),
        "draft": _side(d),
        "difference": {
            "leads": 0,
            "routed": d.routed - a.routed,
            "sold": d.sold - a.sold,
            "unsold": d.unsold - a.unsold,
            "revenue": _money(d.revenue - a.revenue),
        },
        "partners": [
            {
                "partner": p.partner,
                "actual": p.actual,
                "draft": p.draft,
                "difference": p.difference,
                "actual_share": str(p.actual_share),
                "draft_share": str(p.draft_share),
                "share_difference": str(p.share_difference),
                "actual_revenue": _money(p.actual_revenue),
                "draft_revenue": _money(p.draft_revenue),
            }
            for p in b.partners()
        ],
        "auctions": {"on_recorded_bids": b.auctions_on_bids, "on_list_prices": b.auctions_on_list_prices},
        "notes": list(b.notes),
    }
