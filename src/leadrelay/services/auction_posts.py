"""The posts after an auction's bids (``services.auction``): the next bid or bids of the tier to post,
within ``max_posts`` and the partners' caps, budgets and dedup as they are now, or the lead unsold and why."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from leadrelay.domain.auction import Offer, Sale, decide, tiers_of
from leadrelay.domain.model import Strategy, Target
from leadrelay.domain.ping import Bid, BidStatus
from leadrelay.domain.states import JobStatus
from leadrelay.services import partner_exclusion
from leadrelay.services.budgets import Price, reserve_money
from leadrelay.services.config_in_force import LiveConfig
from leadrelay.services.ports import IdSource, Record, Tx
from leadrelay.services.reservations import reserve
from leadrelay.services.steps import Chosen, StepResult, close, deliver
from leadrelay.services.writes import Writes

Trials = Callable[[Sequence[str], list[str]], list[str]]
"""The circuit breakers' say on partners about to be offered the lead (below their caps, not duplicates):
those kept (a partner due for its trial takes it now; one whose trial another lead took, or whose breaker
opened meanwhile, is left out with a trace line). ``services.health.BreakerGate``."""


def next_post(
    tx: Tx,
    job: Record,
    live: LiveConfig,
    now: datetime,
    w: Writes,
    bids: Sequence[Record],
    posted: int,
    trace: list[str],
    ids: IdSource,
    rule: str | None,
    target: Target,
    sale: Sale | None = None,
    *,
    eligible: Sequence[str] | None = None,
    trials: Trials | None = None,
) -> StepResult | None:
    """The post(s) to the best bids of the tier not yet offered the lead: one (an exclusive sale) or up to
    ``shared.max`` (a shared sale: ``sale``, or as the tier's stored posts say). None when the tier has
    nothing left to offer; unsold at once when ``max_posts`` is reached. ``eligible``: the partners the
    lead may go to now (a stored bid whose partner is no longer among them is skipped: checked out since,
    or suppressed for this lead — a source's ping could not know); None: every bidder. ``trials``: the
    breakers' say on a bidder whose caps and money are reserved, for posts to stored bids (a supplier
    ping's, a fallback's): one due for its trial takes it now (``Trials``)."""
    cfg = live.compiled
    profile = cfg.profiles[job.profile].spec
    tried = set(job.excluded)
    if sale is None:  # a fallback: the posts before all failed, and no part of the lead is sold
        sale, ranked = _decide_again(bids, tried, target, posted, trace)
    else:
        ranked = sorted((b for b in bids if b.rank is not None), key=lambda b: b.rank)
    wanted = min(target.shared_max, target.max_posts - posted) if sale is Sale.SHARED else 1
    chosen: list[tuple[Record, Chosen]] = []
    for bid in ranked:
        if len(chosen) == wanted:
            break
        if bid.delivery_id is not None or bid.partner in tried:
            continue
        if eligible is not None and bid.partner not in eligible:
            trace.append(f"{bid.partner}: not eligible for this lead now (since its bid)")
            continue
        if posted + len(chosen) >= target.max_posts:
            if chosen:
                break
            why = f"no sale after {posted} post(s) (max_posts {target.max_posts})"
            return unsold(w, job, now, trace, why, rule)
        partner = cfg.partners.get(bid.partner)
        if partner is None or partner.channel is None:
            trace.append(f"{bid.partner}: removed from configuration since its bid")
            continue
        if partner.dedup is not None and (
            seen := partner_exclusion.duplicate_for(tx, job, partner, now, live.dedup_keys)
        ):
            trace.append(seen)
            continue
        caps = profile.partner_caps.get(bid.partner, {})
        count_load = bid.partner in cfg.load_counted  # a least_loaded rule counts it (an uncapped partner)
        windows, capped = reserve(tx, partner, caps, job.profile, now, count_load=count_load)
        if capped is not None:
            trace.append(f"{bid.partner}: {capped} (since its bid)")
            continue
        price = bid.shared_price if sale is Sale.SHARED else bid.price
        held, short = reserve_money(tx, job, partner, profile, Price(bid=price), now)
        if short is not None:  # the bid is what it would pay: its budget or wallet cannot
            tx.caps.release_caps(bid.partner, windows)
            trace.append(f"{bid.partner}: {short}")
            continue
        if trials is not None and not trials([bid.partner], trace):  # its trial went to another lead
            tx.caps.release_caps(bid.partner, [*windows, *held])  # the slots, and the money held
            continue
        windows.extend(held)
        windows.extend(partner_exclusion.mark_sent(tx, job, partner, now, live.dedup_keys))
        number = posted + len(chosen) + 1
        how = "shared sale" if sale is Sale.SHARED else tiers_of(target)[bid.tier].strategy.value
        trace.append(f"{bid.partner}: chosen ({how}, bid {price:.2f}, post {number} of {target.max_posts})")
        chosen.append((bid, Chosen(bid.partner, windows, price, bid.reference, ids("dlv"))))
    if not chosen:
        return None
    for bid, c in chosen:
        tx.deliveries.update_bid(bid.id, delivery_id=c.delivery_id)
    return deliver(
        tx,
        job,
        cfg.partners,
        [c for _, c in chosen],
        now,
        w,
        ids,
        trace,
        rule=rule,
        email_to=profile.email_to,
    )


def _decide_again(
    bids: Sequence[Record], tried: set[str], target: Target, posted: int, trace: list[str]
) -> tuple[Sale, list[Record]]:
    """The sale among the tier's bids not yet posted, decided again as the auction did
    (``domain.auction.decide``) within the posts left: after every shared post was refused, one buyer
    left alone gets the lead at its exclusive bid, not at its shared one. The bids in the posts' order."""
    left = [b for b in bids if b.delivery_id is None and b.partner not in tried]
    offers = [
        Offer(b.partner, Bid(BidStatus(b.status), b.price, b.reference, b.reason, b.shared_price), b.floor)
        for b in left
    ]
    tier = tiers_of(target)[bids[0].tier] if bids else None
    by_price = tier is None or tier.strategy is Strategy.AUCTION
    priority = tier.partners if tier is not None else ()
    shared_max = min(target.shared_max, target.max_posts - posted)
    decision = decide(offers, priority, by_price=by_price, shared_max=shared_max)
    if posted and decision.line is not None and any(b.sold_as == Sale.SHARED for b in bids):
        trace.append(f"auction: the bids left: {decision.line}")
    by_partner = {b.partner: b for b in left}
    return decision.sale, [by_partner[o.partner] for o in decision.order]


def why_unsold(tx: Tx, job: Record, posted: int) -> str:
    """Why an auction whose tiers have nothing left to offer ends unsold."""
    if posted:
        return "every bid was tried"
    if any(b.rank is not None for b in tx.deliveries.bids_of(job.id)):
        return "no bidder could take the lead (caps, budgets, funds or dedup since their bids)"
    return "no bid at or above the floor"


def unsold(w: Writes, job: Record, now: datetime, trace: list[str], why: str, rule: str | None) -> StepResult:
    return close(w, job, JobStatus.UNSOLD, now, [*trace, f"auction: {why}"], error=why, rule=rule)
