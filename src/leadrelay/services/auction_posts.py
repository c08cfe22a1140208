"""The posts after an auction's bids (``services.auction``): the next bid or bids of the tier to post,
within ``max_posts`` and the partners' caps, budgets and dedup as they are now, or the lead unsold and why."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from leadrelay.domain.auction import Decision, Offer, Sale, decide, tiers_of
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
        again, ranked = _decide_again(bids, tried, target, posted, trace)
        sale = again.sale
    else:
        ranked = sorted((b for b in bids if b.rank is not None), key=lambda b: b.rank)
    wanted = min(target.shared_max, target.max_posts - posted) if sale is Sale.SHARED else 1
    ask = _Ask(tx, job, live, now, posted, target, trace, ids, tried, eligible, trials)
    chosen = ask.reserve(ranked, sale, wanted)
    if isinstance(chosen, str):
        return unsold(w, job, now, trace, chosen, rule)
    planned = [b for b in ranked if b.delivery_id is None and b.partner not in tried][:wanted]
    if sale is Sale.SHARED and [b.id for b, _ in chosen] != [b.id for b in planned]:
        # not the buyers it was decided on (fewer, none, or a lower bidder in a place): the shared sale
        # stands only while it still earns more than an exclusive bid that can take the lead
        chosen = _shared_or_exclusive(ask, bids, chosen, ranked, wanted)
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


Picked = list[tuple[Record, Chosen]]
"""Bids whose caps, money and dedup marks are reserved, each with the post it is to get."""


class _Ask:
    """The reservations a post needs (caps, budgets and wallet, dedup marks, a breaker's trial), asked of
    the tier's bids in order."""

    def __init__(
        self,
        tx: Tx,
        job: Record,
        live: LiveConfig,
        now: datetime,
        posted: int,
        target: Target,
        trace: list[str],
        ids: IdSource,
        tried: set[str],
        eligible: Sequence[str] | None,
        trials: Trials | None,
    ) -> None:
        self.tx, self.job, self.live, self.now, self.posted = tx, job, live, now, posted
        self.target, self.trace, self.ids, self.tried = target, trace, ids, tried
        self.eligible, self.trials = eligible, trials
        self._away: frozenset[str] | None = None

    def away(self) -> frozenset[str]:
        """The partners checked out now (read once per post)."""
        if self._away is None:
            self._away = self.tx.caps.unavailable_partners()
        return self._away

    def reserve(self, ranked: Sequence[Record], sale: Sale, wanted: int) -> Picked | str:
        """Up to ``wanted`` of ``ranked`` that can take the lead now, reserved; or why the lead is unsold
        (``max_posts`` reached before any)."""
        tx, job, now, target, trace = self.tx, self.job, self.now, self.target, self.trace
        cfg = self.live.compiled
        profile = cfg.profiles[job.profile].spec
        chosen: Picked = []
        for bid in ranked:
            if len(chosen) == wanted:
                break
            if bid.delivery_id is not None or bid.partner in self.tried:
                continue
            if self.eligible is not None and bid.partner not in self.eligible:
                trace.append(f"{bid.partner}: not eligible for this lead now (since its bid)")
                continue
            if bid.partner in self.away():  # checked out while the pings were out, or since a quote
                trace.append(f"{bid.partner}: partner unavailable (checked out since its bid)")
                continue
            if self.posted + len(chosen) >= target.max_posts:
                if chosen:
                    break
                return f"no sale after {self.posted} post(s) (max_posts {target.max_posts})"
            partner = cfg.partners.get(bid.partner)
            if partner is None or partner.channel is None:
                trace.append(f"{bid.partner}: removed from configuration since its bid")
                continue
            if partner.dedup is not None and (
                seen := partner_exclusion.duplicate_for(tx, job, partner, now, self.live.dedup_keys)
            ):
                trace.append(seen)
                continue
            caps = profile.partner_caps.get(bid.partner, {})
            count_load = (
                bid.partner in cfg.load_counted
            )  # a least_loaded rule counts it (an uncapped partner)
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
            if self.trials is not None and not self.trials([bid.partner], trace):  # its trial went elsewhere
                tx.caps.release_caps(bid.partner, [*windows, *held])  # the slots, and the money held
                continue
            windows.extend(held)
            windows.extend(partner_exclusion.mark_sent(tx, job, partner, now, self.live.dedup_keys))
            number = self.posted + len(chosen) + 1
            how = "shared sale" if sale is Sale.SHARED else tiers_of(target)[bid.tier].strategy.value
            trace.append(
                f"{bid.partner}: chosen ({how}, bid {price:.2f}, post {number} of {target.max_posts})"
            )
            chosen.append((bid, Chosen(bid.partner, windows, price, bid.reference, self.ids("dlv"))))
        return chosen

    def quiet(self) -> _Ask:
        """The same asks, traced nowhere (a repeat of reservations already traced)."""
        return _Ask(
            self.tx,
            self.job,
            self.live,
            self.now,
            self.posted,
            self.target,
            [],
            self.ids,
            self.tried,
            self.eligible,
            self.trials,
        )

    def release(self, chosen: Picked) -> None:
        for _, c in chosen:
            self.tx.caps.release_caps(c.name, c.windows)


def _shared_or_exclusive(
    ask: _Ask, bids: Sequence[Record], chosen: Picked, ranked: Sequence[Record], wanted: int
) -> Picked:
    """A shared sale not all of whose buyers could take the lead as it was decided on (caps, money,
    dedup since their bids; fewer, none, or lower bidders in their places): sold shared only while the
    shared prices reserved earn more than the best exclusive bid that can be reserved, as the auction
    decides (``domain.auction.decide``); else released, and sold exclusive — a buyer left alone gets the
    lead at its exclusive bid, not at its shared one."""
    total = round(sum(c.price or 0.0 for _, c in chosen), 2)
    names = " + ".join(f"{c.name} {c.price or 0.0:.2f}" for _, c in chosen)
    exclusive, order = _decide_again(bids, ask.tried, ask.target, ask.posted, [], shared=False)
    better = [b for b in order if b.price is not None and b.price >= total]
    if not better:
        return chosen
    ask.release(chosen)
    ask.trace.append(
        f"auction: shared sale to {names} = {total:.2f} released: an exclusive bid earns as much"
    )
    alone = ask.reserve(better, Sale.EXCLUSIVE, 1)
    if alone and not isinstance(alone, str):
        bid = alone[0][0]
        ask.trace.append(
            f"auction: exclusive sale: {bid.partner} {bid.price:.2f} is not less than {names} = {total:.2f} "
            "shared that can take the lead"
        )
        if ask.posted == 0:  # decided before any post (a fallback's bids keep the ranks they were posted at)
            _rank_exclusive(ask.tx, bids, order, exclusive.margin)
        return alone
    # none can: the shared sale stands, reserved again as before in this transaction (its lines are traced)
    ask.trace.append(
        f"auction: shared sale to {names} = {total:.2f}: no exclusive bid of as much can take it"
    )
    picked = ask.quiet().reserve(ranked, Sale.SHARED, wanted)
    return picked if not isinstance(picked, str) else []


def _decide_again(
    bids: Sequence[Record],
    tried: set[str],
    target: Target,
    posted: int,
    trace: list[str],
    *,
    shared: bool = True,
) -> tuple[Decision, list[Record]]:
    """The sale among the tier's bids not yet posted, decided again as the auction did
    (``domain.auction.decide``) within the posts left: after every shared post was refused, one buyer
    left alone gets the lead at its exclusive bid, not at its shared one. The decision, and the bids in
    the posts' order."""
    left = [b for b in bids if b.delivery_id is None and b.partner not in tried]
    offers = [
        Offer(b.partner, Bid(BidStatus(b.status), b.price, b.reference, b.reason, b.shared_price), b.floor)
        for b in left
    ]
    tier = tiers_of(target)[bids[0].tier] if bids else None
    by_price = tier is None or tier.strategy is Strategy.AUCTION
    priority = tier.partners if tier is not None else ()
    shared_max = min(target.shared_max, target.max_posts - posted) if shared else 1
    decision = decide(offers, priority, by_price=by_price, shared_max=shared_max)
    if posted and decision.line is not None and any(b.sold_as == Sale.SHARED for b in bids):
        trace.append(f"auction: the bids left: {decision.line}")
    by_partner = {b.partner: b for b in left}
    return decision, [by_partner[o.partner] for o in decision.order]


def _rank_exclusive(tx: Tx, bids: Sequence[Record], order: Sequence[Record], margin: float | None) -> None:
    """The tier's bids stored as an exclusive auction ranks them, when its shared sale turned exclusive
    before any post (``_shared_or_exclusive``): the bids' ranks, sale and the winner's margin then say what
    was sold, in the log and in the reports (an exclusive sale's money left on the table)."""
    places = {b.id: i for i, b in enumerate(order, 1)}
    for b in bids:
        if b.delivery_id is None:
            place = places.get(b.id)
            sold_as = Sale.EXCLUSIVE if place is not None else None
            tx.deliveries.update_bid(b.id, rank=place, sold_as=sold_as, margin=margin if place == 1 else None)


def why_unsold(tx: Tx, job: Record, posted: int) -> str:
    """Why an auction whose tiers have nothing left to offer ends unsold."""
    if posted:
        return "every bid was tried"
    if any(b.rank is not None for b in tx.deliveries.bids_of(job.id)):
        return "no bidder could take the lead (caps, budgets, funds or dedup since their bids)"
    return "no bid at or above the floor"


def unsold(w: Writes, job: Record, now: datetime, trace: list[str], why: str, rule: str | None) -> StepResult:
    return close(w, job, JobStatus.UNSOLD, now, [*trace, f"auction: {why}"], error=why, rule=rule)
