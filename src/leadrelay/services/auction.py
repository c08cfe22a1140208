"""Ping-post auctions (``strategy: auction``; PRODUCT.md §1 "Ping / post", issue 10 point 2).

Three steps, two transactions and the pings between them:

1. :func:`open_or_resume` (the routing transaction): of the rule's eligible partners, those the lead may
   still go to — not a duplicate for them, below their caps — are pinged; a post-only partner bids its list
   price without a ping. Nothing is written: a worker that dies while pinging leaves the job to be claimed
   and auctioned again.
2. The worker pings them all at once, each within its own timeout and all within the rule's deadline
   (``entrypoints.worker``); a late answer is a timeout and is not waited for.
3. :func:`award` (a transaction): every answer is stored (``bids``) and traced, the bids that count are
   ranked (``domain.auction``), and the post goes to the best one whose cap slot can still be taken — at
   its bid, which is the sale's price. When the post is refused or fails, settlement routes the job again
   and :func:`open_or_resume` finds the stored bids: the next best gets the post, up to ``max_posts``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from leadrelay.domain.attempts import AttemptResult
from leadrelay.domain.auction import Offer, bid_line, floor_of, rank
from leadrelay.domain.ping import Bid, BidStatus, bid_of, ping_view
from leadrelay.domain.routing import Evaluation
from leadrelay.domain.states import JobStatus
from leadrelay.services import partner_exclusion
from leadrelay.services.config_in_force import LiveConfig
from leadrelay.services.ports import Channel, IdSource, Record, Tx
from leadrelay.services.reservations import cap_room, reserve
from leadrelay.services.steps import Auction, Chosen, Ping, StepResult, close, deliver
from leadrelay.services.writes import Writes

__all__ = ["award", "open_or_resume", "run_pings"]

log = logging.getLogger("leadrelay.auction")


def open_or_resume(
    tx: Tx,
    job: Record,
    live: LiveConfig,
    now: datetime,
    w: Writes,
    ev: Evaluation,
    candidates: Sequence[str],
    trace: list[str],
    ids: IdSource,
) -> StepResult:
    """The auction of a routed job: the pings to send (a new auction), or the next post of the bids
    stored (the post before was refused), or a sale at once when only post-only partners are eligible."""
    assert ev.target is not None
    stored = tx.deliveries.bids_of(job.id)
    if stored:
        return _next_post(tx, job, live, now, w, stored, trace, ids, ev.rule, ev.target.max_posts)
    cfg = live.compiled
    profile = cfg.profiles[job.profile].spec
    source = live.specs.sources.get(job.source)
    source_min = source.min_price if source is not None else None
    entity = live.specs.entities.get(job.entity)
    open_names: list[str] = []
    for name in candidates:
        partner = cfg.partners[name]
        if partner.dedup is not None and (
            seen := partner_exclusion.duplicate_for(tx, job, partner, now, live.dedup_keys)
        ):
            trace.append(f"{seen} (not pinged)")
            continue
        open_names.append(name)
    full = cap_room(
        tx, [(cfg.partners[n], profile.partner_caps.get(n, {})) for n in open_names], job.profile, now
    )
    pings: list[Ping] = []
    fixed: list[Offer] = []
    for name in open_names:
        if name in full:
            trace.append(f"{name}: {full[name]} (not pinged)")
            continue
        partner = cfg.partners[name]
        floor = floor_of(ev.target.floor, partner.min_price, source_min)
        if partner.ping is None:
            fixed.append(Offer(name, Bid(BidStatus.ACCEPTED, partner.price), floor))
            continue
        view = ping_view(
            partner, entity, job.lead_id, job.lead_values, key=f"{job.id}:{name}:ping", test=bool(job.is_test)
        )
        pings.append(Ping(name, partner.ping, view, floor, partner.price))
    if not pings and not fixed:
        why = "every eligible partner is at its cap"
        return close(w, job, JobStatus.UNSOLD, now, trace, error=why, rule=ev.rule)
    pinged = ", ".join(p.partner for p in pings) or "nobody (post-only partners)"
    deadline_ms = ev.target.deadline_s * 1000
    trace.append(f"auction: pinging {pinged} (deadline {deadline_ms:.0f} ms)")
    auction = Auction(
        tuple(pings),
        tuple(fixed),
        tuple(candidates),
        ev.target.deadline_s,
        ev.target.max_posts,
        ev.rule,
        tuple(trace),
    )
    if not pings:  # nothing to wait for
        return award(tx, job, live, now, w, auction, list(fixed), ids)
    return StepResult(lead_id=job.lead_id, auction=auction)


async def run_pings(channel: Channel, auction: Auction) -> list[Offer]:
    """Ping every partner of the auction at once (each within its ping's timeout); what has not answered
    by the deadline is a timeout and is not waited for (its request is cancelled). The offers, the
    post-only partners' included, come in the target's order."""
    tasks = [asyncio.create_task(channel.send(p.lead, p.spec)) for p in auction.pings]
    done: set[asyncio.Task[AttemptResult]] = set()
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=auction.deadline_s)
        for task in pending:
            task.cancel()
    deadline_ms = auction.deadline_s * 1000
    offers = list(auction.fixed)
    for ping, task in zip(auction.pings, tasks, strict=True):
        if task not in done:
            late = Bid(BidStatus.TIMEOUT, reason=f"no answer within the deadline ({deadline_ms:.0f} ms)")
            offers.append(Offer(ping.partner, late, ping.floor, deadline_ms))
        elif (exc := task.exception()) is not None:  # a channel bug: this bid is an error, not the job
            log.error("ping to %s raised", ping.partner, exc_info=exc)
            broken = Bid(BidStatus.ERROR, reason=f"internal error: {type(exc).__name__}")
            offers.append(Offer(ping.partner, broken, ping.floor, 0.0))
        else:
            result = task.result().redacted(ping.lead.redactor)
            bid = bid_of(result, ping.list_price)
            bid = Bid(bid.status, bid.price, _storable(bid.reference, 200), _storable(bid.reason, 2000))
            offers.append(Offer(ping.partner, bid, ping.floor, result.duration_ms))
    place = {name: i for i, name in enumerate(auction.priority)}
    offers.sort(key=lambda o: place.get(o.partner, len(place)))
    return offers


def _storable(text: str | None, limit: int) -> str | None:
    """A buyer's text as every database stores it (PostgreSQL refuses NUL), bounded by its column."""
    return text.replace("\x00", "\ufffd")[:limit] if text else text


def award(
    tx: Tx,
    job: Record,
    live: LiveConfig,
    now: datetime,
    w: Writes,
    auction: Auction,
    offers: Sequence[Offer],
    ids: IdSource,
) -> StepResult:
    """Store and trace every answer, rank the bids, and post to the best bidder that can still take it."""
    ranking = rank(offers, auction.priority)
    places = {id(o): i for i, o in enumerate(ranking.order, 1)}
    trace = list(auction.trace)
    deadline_ms = auction.deadline_s * 1000
    rows = []
    for offer in offers:
        trace.append(bid_line(offer, deadline_ms))
        place = places.get(id(offer))
        rows.append(
            {
                "id": ids("bid"),
                "job_id": job.id,
                "lead_id": job.lead_id,
                "partner": offer.partner,
                "profile": job.profile,
                "rule": auction.rule,
                "status": offer.bid.status,
                "price": offer.bid.price,
                "floor": offer.floor,
                "reference": offer.bid.reference,
                "reason": offer.bid.reason,
                "duration_ms": offer.duration_ms,
                "rank": place,
                "margin": ranking.margin if place == 1 else None,
                "delivery_id": None,
                "is_test": bool(job.is_test),
                "created_at": now,
            }
        )
    winner = ranking.winner
    if winner is not None:
        assert winner.bid.price is not None
        margin = f" (margin {ranking.margin:.2f})" if ranking.margin is not None else ""
        trace.append(f"auction: {winner.partner} wins at {winner.bid.price:.2f}{margin}")
    tx.deliveries.insert_bids(rows)
    bids = [_Row(r) for r in rows]
    return _next_post(tx, job, live, now, w, bids, trace, ids, auction.rule, auction.max_posts)


class _Row:
    """A bid row just written, read like a stored one."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, object]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> object:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None


def _next_post(
    tx: Tx,
    job: Record,
    live: LiveConfig,
    now: datetime,
    w: Writes,
    bids: Sequence[Record],
    trace: list[str],
    ids: IdSource,
    rule: str | None,
    max_posts: int,
) -> StepResult:
    """The post to the best bid not yet offered the lead, if the auction has posts left; else unsold."""
    cfg = live.compiled
    profile = cfg.profiles[job.profile].spec
    posted = sum(1 for b in bids if b.delivery_id is not None)
    ranked = sorted((b for b in bids if b.rank is not None), key=lambda b: b.rank)
    tried = set(job.excluded)
    for bid in ranked:
        if bid.delivery_id is not None or bid.partner in tried:
            continue
        if posted >= max_posts:
            why = f"no sale after {posted} post(s) (max_posts {max_posts})"
            return close(w, job, JobStatus.UNSOLD, now, [*trace, f"auction: {why}"], error=why, rule=rule)
        partner = cfg.partners.get(bid.partner)
        if partner is None or partner.channel is None:
            trace.append(f"{bid.partner}: removed from configuration since its bid")
            continue
        if partner.dedup is not None and (
            seen := partner_exclusion.duplicate_for(tx, job, partner, now, live.dedup_keys)
        ):
            trace.append(seen)
            continue
        windows, capped = reserve(tx, partner, profile.partner_caps.get(bid.partner, {}), job.profile, now)
        if capped is not None:
            trace.append(f"{bid.partner}: {capped} (since its bid)")
            continue
        windows.extend(partner_exclusion.mark_sent(tx, job, partner, now, live.dedup_keys))
        trace.append(
            f"{bid.partner}: chosen (auction, bid {bid.price:.2f}, post {posted + 1} of {max_posts})"
        )
        delivery_id = ids("dlv")
        tx.deliveries.update_bid(bid.id, delivery_id=delivery_id)
        return deliver(
            tx,
            job,
            cfg.partners,
            [Chosen(bid.partner, windows, bid.price, bid.reference, delivery_id)],
            now,
            w,
            ids,
            trace,
            rule=rule,
            email_to=profile.email_to,
        )
    why = "no bid at or above the floor" if not ranked else "every bid was tried"
    if ranked and posted == 0:
        why = "no bidder could take the lead (caps or dedup since their bids)"
    return close(w, job, JobStatus.UNSOLD, now, [*trace, f"auction: {why}"], error=why, rule=rule)
