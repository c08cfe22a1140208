"""Ping-post selling: auctions (``strategy: auction``) and ping trees (``strategy: waterfall``), with shared
sales (PRODUCT.md §1 "Ping / post", issue 10 points 2 to 4).

Three steps, two transactions and the pings between them:

1. :func:`open_or_resume` (the routing transaction): of the eligible partners of the (first) tier, those
   the lead may still go to — not a duplicate for them, below their caps — are pinged; a post-only
   partner bids its list price without a ping. Nothing is written: a worker that dies while pinging leaves
   the job to be claimed and auctioned again.
2. The worker pings them all at once (``services.auction_pings.run_pings``), each within its own timeout
   and all within the deadline; a late answer is a timeout and is not waited for.
3. :func:`award` (a transaction): every answer is stored (``bids``) and traced; ``domain.auction.decide``
   chooses the sale (the best bid, or in a priority tier the first that counts; or a shared sale when the
   sum of up to ``shared.max`` shared bids earns more), and the post goes to the chosen bids whose cap
   slots can still be taken — at their bid, which is the sale's price.

When a post is refused or fails, settlement routes the job again and :func:`open_or_resume` finds the
stored bids: the sale is decided again among the bids not yet posted, within the posts left, and the next
bid (or bids, shared) of the tier gets the post, up to ``max_posts`` in all, never below its floor (the
deadline bounds the pings, not these posts: the bids stand). So when every post of a shared sale is refused,
a buyer left alone gets the lead at its exclusive bid. A shared sale of which one post stands is a sale:
the lead is not posted again to fill a refused buyer's place ("up to N" buyers). A waterfall whose tier
has nothing left goes down to the next tier, until the deadline (counted from the first tier's pings). A
rerun auctions the lead afresh (the bids so far stay in the job's history). Pings answered before a worker
died are not stored: the job is auctioned again by whoever claims it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from leadrelay.domain.auction import POST_RESERVE_S, Decision, Offer, Sale, bid_line, decide, tiers_of
from leadrelay.domain.model import Strategy, Target
from leadrelay.domain.routing import Evaluation
from leadrelay.services.auction_pings import offers_of
from leadrelay.services.auction_posts import Trials, next_post, unsold, why_unsold
from leadrelay.services.config_in_force import LiveConfig, profile_off
from leadrelay.services.ports import IdSource, Record, Tx
from leadrelay.services.steps import Auction, StepResult
from leadrelay.services.writes import Writes

__all__ = ["Trials", "award", "open_or_resume"]


# a source waiting for its answer (``jobs.answer_by``) shortens the pings, to keep room for the award and
# the post (``domain.auction.PostReserve``); but the pings always get at least half the time left to the
# answer, and MIN_PINGS_S (a sale recorded after the answer is still a sale; a bid not waited for is lost)
MIN_PINGS_S = 0.1


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
    *,
    reserve_s: float = POST_RESERVE_S,
    trials: Trials | None = None,
) -> StepResult:
    """The auction of a routed job: the pings of its first tier (a new auction); or, when bids are
    stored (the post before was refused), the next post of their tier, else the next tier's pings; or a
    sale at once when a tier has only post-only partners. ``reserve_s``: the room kept after the pings for
    the award and the post when the source waits for its answer; ``trials``: the breakers' say on the
    partners a tier pings (``Trials``)."""
    target = ev.target
    assert target is not None
    stored = tx.deliveries.bids_of(job.id)
    if stored and ev.rule not in {b.rule for b in stored} and all(b.delivery_id is None for b in stored):
        # bids made under another rule (a supplier ping's, when the lead's other fields route it elsewhere):
        # not this rule's floors and buyers, so they do not stand; the lead is auctioned afresh
        trace.append(f"auction: the stored bids were for rule {stored[0].rule}, not {ev.rule}: a new auction")
        tx.deliveries.supersede_bids(job.id)
        stored = []
    tier, started, posted = 0, now, 0  # a new auction
    if stored:
        last = max(b.tier for b in stored)
        posted = sum(1 for b in stored if b.delivery_id is not None)
        current = [b for b in stored if b.tier == last]
        step = next_post(
            tx,
            job,
            live,
            now,
            w,
            current,
            posted,
            trace,
            ids,
            ev.rule,
            target,
            eligible=candidates,
            trials=trials,
        )
        if step is not None:
            return step
        tier, started = last + 1, min(b.started_at for b in stored)
    return _open(
        tx,
        job,
        live,
        now,
        w,
        target,
        ev.rule,
        tuple(candidates),
        trace,
        ids,
        tier=tier,
        started=started,
        posted=posted,
        reserve_s=reserve_s,
        trials=trials,
    )


def _open(
    tx: Tx,
    job: Record,
    live: LiveConfig,
    now: datetime,
    w: Writes,
    target: Target,
    rule: str | None,
    candidates: tuple[str, ...],
    trace: list[str],
    ids: IdSource,
    *,
    started: datetime,
    tier: int = 0,
    posted: int = 0,
    reserve_s: float = POST_RESERVE_S,
    trials: Trials | None = None,
) -> StepResult:
    """Open the first tier from ``tier`` on with someone to offer the lead to; unsold when there is none
    (or the waterfall's deadline has passed, or ``max_posts`` posts were made: no tier is pinged then).
    ``trials``: the breakers' say on each tier's partners, asked only of those the tier really offers the
    lead to (a trial is never spent on a partner at its cap)."""
    tiers = tiers_of(target)
    waterfall = target.strategy is Strategy.WATERFALL
    offered = tier > 0  # a tier before this one had someone to offer the lead to
    held_back = False  # a breaker kept every partner of a tier out
    if tier < len(tiers) and posted >= target.max_posts:  # no post left: no buyer is asked to bid for none
        why = f"no sale after {posted} post(s) (max_posts {target.max_posts})"
        return unsold(w, job, now, trace, why, rule)
    for k in range(tier, len(tiers)):
        left = target.deadline_s - (now - started).total_seconds()
        if left <= 0:
            why = f"the deadline ({target.deadline_s * 1000:.0f} ms) passed before tier {k + 1}"
            return unsold(w, job, now, trace, why, rule)
        waiting = ""
        # the source waits: the award and the post must fit in too (one that stopped waiting, a rerun's
        # lead, leaves the deadline as configured)
        if job.answer_by is not None and job.answer_by > now:
            to_answer = (job.answer_by - now).total_seconds()
            fit = max(to_answer - reserve_s, to_answer / 2, MIN_PINGS_S)
            if fit < left:
                left = fit
                waiting = ", to answer the source in time"
        names = tuple(n for n in tiers[k].partners if n in candidates)
        if gone := [n for n in names if n not in live.compiled.partners]:  # deleted since the lead was routed
            trace.extend(
                f"{n}: removed from configuration since the auction began (not pinged)" for n in gone
            )
            names = tuple(n for n in names if n not in gone)
        pings, fixed = offers_of(tx, job, live, now, names, tiers[k].floor, trace)
        if trials is not None and (pings or fixed):
            kept = set(trials([*(p.partner for p in pings), *(o.partner for o in fixed)], trace))
            held_back = held_back or len(kept) < len(pings) + len(fixed)
            pings = [p for p in pings if p.partner in kept]
            fixed = [o for o in fixed if o.partner in kept]
        label = f"tier {k + 1} ({tiers[k].strategy.value})" if waterfall else "auction"
        if not pings and not fixed:
            if waterfall:
                trace.append(f"{label}: nobody to offer the lead to")
            continue
        offered = True
        pinged = ", ".join(p.partner for p in pings) or "nobody (post-only partners)"
        trace.append(f"{label}: pinging {pinged} (deadline {left * 1000:.0f} ms{waiting})")
        auction = Auction(
            tuple(pings),
            tuple(fixed),
            names,
            candidates,
            target,
            rule,
            tuple(trace),
            min(left, target.deadline_s),
            started,
            k,
            posted,
            opened_at=now,
            for_answer=bool(waiting),
        )
        if not pings:  # nothing to wait for
            return award(tx, job, live, now, w, auction, list(fixed), ids, reserve_s=reserve_s, trials=trials)
        return StepResult(lead_id=job.lead_id, auction=auction)
    if not offered:
        why = "no eligible partner" if held_back else "every eligible partner is at its cap"
        return unsold(w, job, now, trace, why, rule)
    return unsold(w, job, now, trace, why_unsold(tx, job, posted), rule)


def award(
    tx: Tx,
    job: Record,
    live: LiveConfig,
    now: datetime,
    w: Writes,
    auction: Auction,
    offers: Sequence[Offer],
    ids: IdSource,
    *,
    reserve_s: float = POST_RESERVE_S,
    trials: Trials | None = None,
) -> StepResult:
    """Store and trace every answer, decide the sale, and post to the chosen bids that can still take the
    lead; when none can, the next tier (a waterfall) or unsold (``reserve_s``, ``trials``: as
    ``open_or_resume``'s)."""
    target = auction.target
    tier = tiers_of(target)[auction.tier]
    by_price = tier.strategy is Strategy.AUCTION
    # a shared sale is never chosen on more buyers than the posts left can reach
    shared_max = min(target.shared_max, target.max_posts - auction.posted)
    decision = decide(offers, auction.priority, by_price=by_price, shared_max=shared_max)
    places = {id(o): i for i, o in enumerate(decision.order, 1)}
    trace = list(auction.trace)
    deadline_ms = auction.deadline_s * 1000
    rows: list[dict[str, Any]] = []
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
                "tier": auction.tier,
                "price": offer.bid.price,
                "shared_price": offer.bid.shared_price,
                "floor": offer.floor,
                "reference": offer.bid.reference,
                "reason": offer.bid.reason,
                "duration_ms": offer.duration_ms,
                "rank": place,
                "margin": decision.margin if place == 1 else None,
                "delivery_id": None,
                "sold_as": decision.sale if place is not None else None,
                "superseded": False,
                "is_test": bool(job.is_test),
                "started_at": auction.started,  # a waterfall's deadline counts from there
                "created_at": now,
            }
        )
    trace.extend(_decision_lines(decision, by_price, auction))
    tx.deliveries.insert_bids(rows)
    if live.profile_in_force(job.profile) is None:  # switched off or deleted while the pings were out
        return unsold(w, job, now, trace, profile_off(job.profile), auction.rule)
    bids = [_Row(r) for r in rows]
    step = next_post(
        tx, job, live, now, w, bids, auction.posted, trace, ids, auction.rule, target, decision.sale
    )
    if step is not None:
        return step
    return _open(
        tx,
        job,
        live,
        now,
        w,
        target,
        auction.rule,
        auction.candidates,
        trace,
        ids,
        tier=auction.tier + 1,
        started=auction.started,
        posted=auction.posted,
        reserve_s=reserve_s,
        trials=trials,
    )


def _decision_lines(decision: Decision, by_price: bool, auction: Auction) -> list[str]:
    label = "auction" if auction.target.strategy is Strategy.AUCTION else f"tier {auction.tier + 1}"
    lines = [f"{label}: {decision.line}"] if decision.line else []
    winner = decision.winner
    if winner is None or decision.sale is Sale.SHARED:
        return lines
    assert winner.bid.price is not None
    margin = f" (margin {decision.margin:.2f})" if decision.margin is not None else ""
    how = "wins at" if by_price else "first in priority order at"
    return [*lines, f"{label}: {winner.partner} {how} {winner.bid.price:.2f}{margin}"]


class _Row:
    """A bid row just written, read like a stored one."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None
