"""The auction's decision (PRODUCT.md §1 "Ping / post", issue 10 point 2): which bids win, in which order
the post is offered, and the words the distribution log shows. Pure: the pings are sent by the worker, the
bids stored by ``services.auction``.

A bid counts when it is accepted and at or above its floor. The floor of a partner's bid is the rule's
``floor``, else the partner's ``min_price``, else the source's ``min_price`` (the first one set; none:
any accepted bid). The highest bid wins; equal bids keep the target's priority order. The post goes to the
winner; when the winner refuses it or it errors, to the next bid, up to the rule's ``max_posts``, never
below the floor. A post-only partner (no ``ping``) bids its list price without being asked.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from leadrelay.domain.health import percentile
from leadrelay.domain.model import Strategy, Target, Tier
from leadrelay.domain.ping import Bid, BidStatus

__all__ = ["Decision", "Offer", "Ranking", "Sale", "bid_line", "decide", "floor_of", "rank"]


def floor_of(rule_floor: float | None, partner_min: float | None, source_min: float | None) -> float | None:
    """The lowest price a partner's bid may win at: the rule's floor, else the partner's minimum, else the
    source's (None: any accepted bid)."""
    for floor in (rule_floor, partner_min, source_min):
        if floor is not None:
            return floor
    return None


@dataclass(frozen=True, slots=True)
class Offer:
    """One partner's answer in an auction: its bid, the floor it had to reach, how long the ping took
    (None: a post-only partner, not pinged); ``cut``: no answer by the auction's deadline, the ping was
    cancelled (a timeout of the auction's, not of the ping's own ``timeout``)."""

    partner: str
    bid: Bid
    floor: float | None = None
    duration_ms: float | None = None
    cut: bool = False

    @property
    def counts(self) -> bool:
        """An accepted bid with a price at or above the floor."""
        return self._reaches(self.bid.price)

    @property
    def counts_shared(self) -> bool:
        """An accepted bid with a shared price at or above the floor."""
        return self._reaches(self.bid.shared_price)

    def _reaches(self, price: float | None) -> bool:
        return self.bid.accepted and price is not None and (self.floor is None or price >= self.floor)


@dataclass(frozen=True, slots=True)
class Ranking:
    """The bids that count, best first, and the winner's margin over the next (over the floor when it
    stands alone; None when nothing counts or there is no floor to measure against)."""

    order: tuple[Offer, ...]
    margin: float | None

    @property
    def winner(self) -> Offer | None:
        return self.order[0] if self.order else None


def rank(offers: Sequence[Offer], priority: Sequence[str]) -> Ranking:
    """The counting bids by price, highest first; equal prices in ``priority`` order (the target's)."""
    place = {name: i for i, name in enumerate(priority)}
    counted = [o for o in offers if o.counts]
    counted.sort(key=lambda o: (-(o.bid.price or 0.0), place.get(o.partner, len(place))))
    if not counted:
        return Ranking((), None)
    best = counted[0].bid.price or 0.0
    if len(counted) > 1:
        margin: float | None = round(best - (counted[1].bid.price or 0.0), 2)
    else:
        floor = counted[0].floor
        margin = round(best - floor, 2) if floor is not None else None
    return Ranking(tuple(counted), margin)


class Sale(StrEnum):
    """How an auction sells the lead: to one buyer alone, or to several, each at its shared price."""

    EXCLUSIVE = "exclusive"
    SHARED = "shared"


@dataclass(frozen=True, slots=True)
class Decision:
    """The sale an auction makes: its kind, the bids in the order the posts go to them (a shared sale
    posts to the first ``shared_max`` at once), the margin, and the trace line that says why."""

    sale: Sale
    order: tuple[Offer, ...]
    margin: float | None
    line: str | None = None

    @property
    def winner(self) -> Offer | None:
        return self.order[0] if self.order else None


def decide(
    offers: Sequence[Offer], priority: Sequence[str], *, by_price: bool = True, shared_max: int = 1
) -> Decision:
    """The sale that earns more: one exclusive sale to the best bid (``by_price``; else the first bid
    that counts in ``priority`` order, a priority tier of a waterfall), or, when the target shares leads
    (``shared_max`` ≥ 2), up to ``shared_max`` sales at the best shared prices — chosen only when their sum
    is more than the exclusive bid."""
    place = {name: i for i, name in enumerate(priority)}
    if by_price:
        ranking = rank(offers, priority)
        exclusive = Decision(Sale.EXCLUSIVE, ranking.order, ranking.margin)
    else:
        first = sorted((o for o in offers if o.counts), key=lambda o: place.get(o.partner, len(place)))
        exclusive = Decision(Sale.EXCLUSIVE, tuple(first), None)
    if shared_max < 2:
        return exclusive
    shared = [o for o in offers if o.counts_shared]
    shared.sort(key=lambda o: (-(o.bid.shared_price or 0.0), place.get(o.partner, len(place))))
    total = round(sum(o.bid.shared_price or 0.0 for o in shared[:shared_max]), 2)
    best = (exclusive.winner.bid.price or 0.0) if exclusive.winner is not None else 0.0
    if not shared or total <= best:
        if shared and exclusive.winner is not None:
            than = "is more than" if best > total else "is not less than"  # a tie stays exclusive
            line = f"exclusive sale: {best:.2f} {than} {total:.2f} shared"
            return Decision(Sale.EXCLUSIVE, exclusive.order, exclusive.margin, line)
        return exclusive
    names = " + ".join(f"{o.partner} {o.bid.shared_price:.2f}" for o in shared[:shared_max])
    line = f"shared sale: {names} = {total:.2f}, more than {best:.2f} exclusive"
    return Decision(Sale.SHARED, tuple(shared), round(total - best, 2), line)


def _money(value: float) -> str:
    return f"{value:.2f}"


def bid_line(offer: Offer, deadline_ms: float) -> str:
    """The trace line of one partner's answer."""
    bid = offer.bid
    took = f" in {offer.duration_ms:.0f} ms" if offer.duration_ms is not None else ""
    ref = f", ref {bid.reference}" if bid.reference else ""
    if bid.status is BidStatus.ACCEPTED and bid.price is None:
        return f"{offer.partner}: accepted without a price (no bid, no list price){took}"
    if bid.status is BidStatus.ACCEPTED:
        assert bid.price is not None
        if offer.duration_ms is None:
            return f"{offer.partner}: list price {_money(bid.price)} (post only, not pinged)"
        if not offer.counts:
            assert offer.floor is not None
            return (
                f"{offer.partner}: bid {_money(bid.price)} below the floor {_money(offer.floor)}{took}{ref}"
            )
        shared = f" (shared {_money(bid.shared_price)})" if bid.shared_price is not None else ""
        return f"{offer.partner}: bid {_money(bid.price)}{shared}{took}{ref}"
    if bid.status is BidStatus.TIMEOUT:
        return f"{offer.partner}: timeout (no answer within {offer.duration_ms or deadline_ms:.0f} ms)"
    why = f": {bid.reason}" if bid.reason else ""
    if bid.status is BidStatus.REFUSED:
        return f"{offer.partner}: refused the ping{why}{took}"
    return f"{offer.partner}: ping error{why}{took}"


def tiers_of(target: Target) -> tuple[Tier, ...]:
    """A waterfall's tiers (a tier without a floor of its own has the rule's); an auction is one tier of
    its partners, sold by price at the rule's floor."""
    if target.strategy is Strategy.WATERFALL:
        if target.floor is None:
            return target.tiers
        return tuple(t if t.floor is not None else replace(t, floor=target.floor) for t in target.tiers)
    return (Tier(target.partners, Strategy.AUCTION, target.floor),)


# A source waiting for its answer (``jobs.answer_by``) shortens an auction's pings: room is kept for the
# award and the post. At least POST_RESERVE_S, and more when the worker's auctions have lately taken longer
# from their pings' end to done (a loaded machine, a slow buyer's post): twice the p95 of the last
# RESERVE_SAMPLES, at most MAX_RESERVE_S.
POST_RESERVE_S = 0.15
MAX_RESERVE_S = 1.0
RESERVE_SAMPLES = 64


class PostReserve:
    """The room a worker's auctions keep after their pings for a waiting source, learnt from how long its
    auctions took from their pings' end to done (sold, unsold, or handed back for a retry), each worker
    afresh from its start. Observed on the worker's event loop; ``seconds`` is read by its transactions."""

    __slots__ = ("_recent", "seconds")

    def __init__(self) -> None:
        self._recent: deque[float] = deque(maxlen=RESERVE_SAMPLES)
        self.seconds = POST_RESERVE_S  # the room to keep now

    @property
    def recent(self) -> tuple[float, ...]:
        """The times observed, oldest first (at most RESERVE_SAMPLES)."""
        return tuple(self._recent)

    def observe(self, seconds: float) -> None:
        """One auction's time from its pings' end to done (a waiting source's pings that began late ended
        when they were due, ``services.auction_pings.ping_window``: the delay is not counted twice)."""
        self._recent.append(max(0.0, seconds))
        p95 = percentile(sorted(self._recent), 95) or 0.0
        self.seconds = min(MAX_RESERVE_S, max(POST_RESERVE_S, 2 * p95))
