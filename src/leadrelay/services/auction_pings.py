"""Who an auction's tier pings, and the pings (``services.auction``).

:func:`offers_of` and :func:`bidders` choose, of a tier's eligible partners, those the lead may still go to
(not a duplicate for them, below their caps: peeked, nothing taken) and make each one's ping, reduced to
what a ping may carry, or its list-price offer when it has no ping; :func:`prepare` does the same for a
source's ping, without a job. :func:`run_pings` sends them all at once within the deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from leadrelay.domain.attempts import AttemptResult, bounded
from leadrelay.domain.auction import Offer, floor_of, tiers_of
from leadrelay.domain.health import DEFAULT_POLICY, Kind, ping_result
from leadrelay.domain.ping import Bid, BidStatus, bid_of, ping_view
from leadrelay.domain.routing import Evaluation
from leadrelay.services import partner_exclusion
from leadrelay.services.config_in_force import LiveConfig
from leadrelay.services.health import HealthTracker
from leadrelay.services.ports import Channel, Metrics, Record, Tx
from leadrelay.services.reservations import cap_room
from leadrelay.services.steps import Auction, Ping

__all__ = ["bidders", "observe_pings", "observed_pings", "offers_of", "ping_window", "prepare", "run_pings"]

log = logging.getLogger("leadrelay.auction")


def offers_of(
    tx: Tx,
    job: Record,
    live: LiveConfig,
    now: datetime,
    names: Sequence[str],
    tier_floor: float | None,
    trace: list[str],
) -> tuple[list[Ping], list[Offer]]:
    """The pings to send and the post-only partners' list-price offers, of the partners the lead may
    still go to (not a duplicate for them, below their caps); the others get a trace line."""
    partners = [live.compiled.partners[name] for name in names]
    open_names = partner_exclusion.not_duplicates(
        tx, job, partners, now, live.dedup_keys, trace, left_out="not pinged"
    )
    return bidders(
        tx,
        live,
        open_names,
        tier_floor,
        trace,
        profile=job.profile,
        source=job.source,
        entity=job.entity,
        lead_id=job.lead_id,
        values=job.lead_values,
        key=job.id,
        test=bool(job.is_test),
        now=now,
    )


def bidders(
    tx: Tx,
    live: LiveConfig,
    names: Sequence[str],
    tier_floor: float | None,
    trace: list[str],
    *,
    profile: str,
    source: str,
    entity: str,
    lead_id: str,
    values: Mapping[str, Any],
    key: str,
    test: bool,
    now: datetime,
) -> tuple[list[Ping], list[Offer]]:
    """Of ``names``, those below their caps (peeked, nothing taken; the others get a trace line): the
    pings to send, with what a ping may carry, and the post-only partners' list-price offers; each with
    its floor. ``key``: what the pings' keys start with."""
    cfg = live.compiled
    spec = cfg.profiles[profile].spec
    src = live.specs.sources.get(source)
    source_min = src.min_price if src is not None else None
    ent = live.specs.entities.get(entity)
    full = cap_room(tx, [(cfg.partners[n], spec.partner_caps.get(n, {})) for n in names], profile, now)
    pings: list[Ping] = []
    fixed: list[Offer] = []
    for name in names:
        if name in full:
            trace.append(f"{name}: {full[name]} (not pinged)")
            continue
        partner = cfg.partners[name]
        floor = floor_of(tier_floor, partner.min_price, source_min)
        if partner.ping is None:
            fixed.append(Offer(name, Bid(BidStatus.ACCEPTED, partner.price), floor))
            continue
        view = ping_view(partner, ent, lead_id, values, key=f"{key}:{name}:ping", test=test)
        pings.append(Ping(name, partner.ping, view, floor, partner.price))
    return pings, fixed


def prepare(
    tx: Tx,
    live: LiveConfig,
    ev: Evaluation,
    names: Sequence[str],
    trace: list[str],
    *,
    profile: str,
    source: str,
    entity: str,
    lead_id: str,
    values: Mapping[str, Any],
    key: str,
    test: bool,
    priority: Sequence[str],
    now: datetime,
) -> Auction | None:
    """The first tier's auction among ``names`` (eligible partners the lead may go to) without a job: a
    source's ping (``services.supplier_ping``). None when every one is at its cap."""
    target = ev.target
    assert target is not None
    tier = tiers_of(target)[0]
    names = [n for n in names if n in tier.partners]
    pings, fixed = bidders(
        tx,
        live,
        names,
        tier.floor,
        trace,
        profile=profile,
        source=source,
        entity=entity,
        lead_id=lead_id,
        values=values,
        key=key,
        test=test,
        now=now,
    )
    if not pings and not fixed:
        return None
    pinged = ", ".join(p.partner for p in pings) or "nobody (post-only partners)"
    trace.append(f"auction: pinging {pinged} (deadline {target.deadline_s * 1000:.0f} ms)")
    auction = Auction(
        tuple(pings),
        tuple(fixed),
        tuple(priority),
        tuple(priority),
        target,
        ev.rule,
        tuple(trace),
        target.deadline_s,
        now,
    )
    return auction


# the least an auction's pings are given when they begin after the deadline set for a waiting source
LATE_PINGS_S = 0.05


def ping_window(auction: Auction, now: datetime | None) -> float:
    """How long the pings of an auction beginning at ``now`` may wait: its deadline; but when the deadline
    was shortened for a waiting source (``for_answer``), only until it ends as set at ``opened_at`` (pings
    that begin late, behind a busy event loop or a slow commit, must not take the award's and the post's
    room), never less than LATE_PINGS_S."""
    if now is None or auction.opened_at is None or not auction.for_answer:
        return auction.deadline_s
    left = auction.deadline_s - (now - auction.opened_at).total_seconds()
    return min(auction.deadline_s, max(left, LATE_PINGS_S))


LATE_BY_S = 0.005
"""How late pings must begin for their timeouts to say so: the routing transaction's own few milliseconds
between the deadline's setting and the pings are not lateness."""


async def run_pings(channel: Channel, auction: Auction, now: datetime | None = None) -> list[Offer]:
    """Ping every partner of the auction at once (each within its ping's timeout); what has not answered
    within the window (``ping_window``: the deadline, or what is left of it for a waiting source at
    ``now``) is a timeout and is not waited for (its request is cancelled). The offers, the post-only
    partners' included, come in the tier's order."""
    window = ping_window(auction, now)
    tasks = [asyncio.create_task(channel.send(p.lead, p.spec)) for p in auction.pings]
    done: set[asyncio.Task[AttemptResult]] = set()
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=window)
        for task in pending:
            task.cancel()
    deadline_ms = window * 1000
    why = f"no answer within the deadline ({deadline_ms:.0f} ms)"
    if window < auction.deadline_s - LATE_BY_S:  # a waiting source's pings that began late (not by a hair)
        why = f"no answer within the deadline ({deadline_ms:.0f} ms left: the pings began late)"
    offers = list(auction.fixed)
    for ping, task in zip(auction.pings, tasks, strict=True):
        if task not in done:
            offers.append(
                Offer(ping.partner, Bid(BidStatus.TIMEOUT, reason=why), ping.floor, deadline_ms, cut=True)
            )
        elif (exc := task.exception()) is not None:  # a channel bug: this bid is an error, not the job
            log.error("ping to %s raised", ping.partner, exc_info=exc)
            broken = Bid(BidStatus.ERROR, reason=f"internal error: {type(exc).__name__}")
            offers.append(Offer(ping.partner, broken, ping.floor, 0.0))
        else:
            result = task.result().redacted(ping.lead.redactor)
            bid = bid_of(result, ping.list_price)
            reference, reason = bounded(bid.reference, 200), bounded(bid.reason, 2000)
            bid = Bid(bid.status, bid.price, reference, reason, bid.shared_price)
            offers.append(Offer(ping.partner, bid, ping.floor, result.duration_ms))
    place = {name: i for i, name in enumerate(auction.priority)}
    offers.sort(key=lambda o: place.get(o.partner, len(place)))
    return offers


def observed_pings(
    auction: Auction, offers: Sequence[Offer], p99_ms: Callable[[str], float | None]
) -> list[Offer]:
    """The answers that tell of the buyers' health: the pings (not the post-only partners' list prices),
    less some of those cut by a deadline shortened for a waiting source. Such a cut is charged to a buyer
    with no recent answer (``p99_ms`` of the partner, before these: None), so that one that never answers
    still opens its breaker; it is not charged when the pings began late and got less than the deadline
    set (the worker's delay, not the buyer's), nor when the buyer's recent pings took longer than the time
    it got (the cut says nothing new of it)."""

    def counts(offer: Offer) -> bool:
        if offer.duration_ms is None:
            return False
        if not (offer.cut and auction.for_answer):
            return True
        usual = p99_ms(offer.partner)
        if usual is None:
            return True
        shortened = offer.duration_ms < auction.deadline_s * 1000 - 1  # began late (ping_window)
        return not shortened and usual <= offer.duration_ms

    return [offer for offer in offers if counts(offer)]


def observe_pings(
    tracker: HealthTracker, metrics: Metrics, auction: Auction, offers: Sequence[Offer], now: datetime
) -> list[Offer]:
    """Each ping's answer counted in the metrics, and into the partner's health when ``observed_pings``
    says so (its "usually": the partner's ping p99 over the default breaker window, before these).
    Returns the offers its health counted, for the award's breaker check."""
    window = DEFAULT_POLICY.window_s
    counted = observed_pings(auction, offers, lambda name: tracker.p99_ms(name, Kind.PING, now, window))
    charged = {id(offer) for offer in counted}
    for offer in offers:
        if offer.duration_ms is not None:
            result = ping_result(offer.bid.status)
            if id(offer) in charged:
                tracker.observe(offer.partner, Kind.PING, offer.duration_ms, result, now)
            metrics.ping_answered(offer.partner, result, offer.duration_ms / 1000)
    return counted
