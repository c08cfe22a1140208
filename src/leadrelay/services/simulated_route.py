"""One lead through one profile, in a dry run (``services.dry_run``): routing's own code, as the worker
runs it (``domain.routing.evaluate``, ``services.distribution.screen`` and ``place``,
``services.auction.award``), and what it decided, partner by partner (``domain.simulation``). No buyer is
pinged: an auction is decided on the lead's recorded bids, else on the partners' list prices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from leadrelay.domain.auction import Offer
from leadrelay.domain.ledger import ZERO, PriceBasis, money
from leadrelay.domain.model import Strategy
from leadrelay.domain.ping import Bid, BidStatus
from leadrelay.domain.routing import ELIGIBLE, evaluate
from leadrelay.domain.simulation import PartnerVerdict, verdicts
from leadrelay.domain.states import JobKind, JobStatus, QueueState
from leadrelay.services import auction, distribution
from leadrelay.services.config_in_force import LiveConfig, profile_off
from leadrelay.services.dry_run import DryRunTx
from leadrelay.services.health import BreakerGate
from leadrelay.services.opened_leads import redact_lines, sensitive_of
from leadrelay.services.ports import IdSource, Record
from leadrelay.services.steps import StepResult
from leadrelay.services.writes import Writes

_MAX_TIERS = 32  # a waterfall's tiers awarded in one simulated route, at most

RECORDED_BIDS = "recorded bids"
LIST_PRICES = "list prices (no recorded bids)"


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

    reached: bool = (
        False  # a partner was sent the lead, offered it, or pinged for it (a delivery, an offer, a bid)
    )

    @property
    def routed(self) -> bool:
        """As the actual column counts a lead routed (a delivery or a bid of it): a lead whose screened
        candidates were all at their caps (or closed, out of funds) reached nobody and is not."""
        return self.reached

    def sales(self) -> list[tuple[str, Decimal | None]]:
        return [(p.partner, p.price) for p in self.partners if p.verdict == "chosen"]


def simulated_job(lead: Record, profile: str, values: Mapping[str, Any], n: int) -> Any:
    return SimpleNamespace(
        id=f"sim_job_{n}",
        lead_id=lead.id,
        profile=profile,
        kind=JobKind.ROUTE,
        status=JobStatus.RECEIVED,
        queue_state=QueueState.CLAIMED,  # as a worker holds a job it routes
        trace=[],
        excluded=[],
        entity=lead.entity,
        source=lead.source,
        lead_values=dict(values),
        lead_sealed=lead.sealed,
        lead_erased_at=None,  # the simulator routes what the lead holds
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
    compiled = live.profile_in_force(job.profile)
    names = sorted(cfg.partners)
    if compiled is None:
        why = profile_off(job.profile)
        return ProfileRoute(job.profile, None, None, JobStatus.UNSOLD, why, (), (), ZERO, (why,))
    ev = evaluate(job.lead_values, compiled, cfg, now)
    trace = redact_lines(job, ev.trace(cfg, sensitive_of(job)))
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
        reached=bool(w.new_deliveries or offered or prices is not None),
    )


_AUCTIONS = (Strategy.AUCTION, Strategy.WATERFALL)
