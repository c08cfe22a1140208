"""What the routing simulator and the backtest report (``services.simulation``), made of what routing
decided: each partner's verdict from the routing trace, and a backtest's tallies, actual against draft.

Pure: the words are routing's own (its trace lines, ``domain.routing``); nothing here decides a route.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from leadrelay.domain.ledger import ZERO, money


class Verdict(StrEnum):
    CHOSEN = "chosen"  # the lead goes to it (a delivery would be made)
    OFFERED = "offered"  # offered to the consumer (user choice), who picks
    NOT_NEEDED = "not needed"  # eligible, but an earlier partner took the lead
    NOT_WON = "not won"  # bid in an auction (or a waterfall's tier) and did not win
    SKIPPED = "skipped"  # eligible by the rules, left out now: cap, pacing, dedup, breaker, funds, bid ...
    NOT_ELIGIBLE = "not eligible"  # filters, delivery hours, paused, consent
    NOT_IN_RULE = "not in the rule"  # the matched rule does not name it


@dataclass(frozen=True, slots=True)
class PartnerVerdict:
    partner: str
    verdict: Verdict
    reasons: tuple[str, ...] = ()  # routing's own words, without the partner's name in front
    position: int | None = None  # 1-based place in the pick order (None: not a candidate)
    price: Decimal | None = None  # the expected price, for a chosen partner
    price_basis: str | None = None  # bid | rule | profile | list (``domain.ledger.PriceBasis``)


_BID_LINES = (
    "bid ",
    "list price ",
    "accepted without a price",
    "refused the ping",
    "timeout (",
    "ping error",
)


def lines_of(name: str, trace: Iterable[str]) -> tuple[str, ...]:
    """The trace lines about one partner (``"acme: cap day 5/5 reached"`` → ``"cap day 5/5 reached"``)."""
    prefix = f"{name}: "
    return tuple(line[len(prefix) :] for line in trace if line.startswith(prefix))


def verdicts(
    partners: Sequence[str],
    named: Sequence[str],
    ineligible: Mapping[str, str],
    order: Sequence[str],
    trace: Sequence[str],
    chosen: Mapping[str, tuple[Decimal | None, str | None]],
    offered: Iterable[str] = (),
) -> list[PartnerVerdict]:
    """One verdict per configured partner: ``named`` are the matched rule's partners, ``ineligible`` why
    each of them the rules exclude (``Evaluation.trace``'s words), ``order`` the screened candidates in the
    order the strategy offers them, ``chosen`` the partners the lead goes to with their expected price and
    its basis, ``offered`` those offered to the consumer."""
    place = {name: i for i, name in enumerate(order, 1)}
    offered = set(offered)
    out: list[PartnerVerdict] = []
    for name in [*named, *(p for p in partners if p not in named)]:
        lines = lines_of(name, trace)
        if name not in named:
            out.append(PartnerVerdict(name, Verdict.NOT_IN_RULE))
        elif name in chosen:
            price, basis = chosen[name]
            out.append(PartnerVerdict(name, Verdict.CHOSEN, lines, place.get(name), price, basis))
        elif name in offered:
            out.append(PartnerVerdict(name, Verdict.OFFERED, lines, place.get(name)))
        elif name in ineligible:
            out.append(PartnerVerdict(name, Verdict.NOT_ELIGIBLE, (ineligible[name],)))
        elif any(line.startswith("eligible, not needed") for line in lines):
            out.append(PartnerVerdict(name, Verdict.NOT_NEEDED, lines, place.get(name)))
        elif any(line.startswith(_BID_LINES) for line in lines):
            out.append(PartnerVerdict(name, Verdict.NOT_WON, lines, place.get(name)))
        else:
            why = lines or (("not offered the lead",) if name in place else ("not eligible",))
            out.append(PartnerVerdict(name, Verdict.SKIPPED, why, place.get(name)))
    return out


# ---------------------------------------------------------------- backtest


@dataclass
class Tally:
    """One side of a backtest (what happened, or what the draft would do) over the leads replayed."""

    leads: int = 0
    routed: int = 0  # leads some rule sent to at least one eligible partner
    sold: int = 0  # leads that went to at least one partner
    revenue: Decimal = ZERO
    partners: dict[str, int] = field(default_factory=dict)  # sales per partner
    partner_revenue: dict[str, Decimal] = field(default_factory=dict)

    @property
    def unsold(self) -> int:
        return self.leads - self.sold

    def add(self, sales: Sequence[tuple[str, Decimal | None]], *, routed: bool) -> None:
        """One lead, with its sales (partner, price; None: no price)."""
        self.leads += 1
        self.routed += 1 if routed or sales else 0
        self.sold += 1 if sales else 0
        for partner, price in sales:
            amount = money(price) if price is not None else ZERO
            self.revenue += amount
            self.partners[partner] = self.partners.get(partner, 0) + 1
            self.partner_revenue[partner] = self.partner_revenue.get(partner, ZERO) + amount


def share(count: int, total: int) -> Decimal:
    """A partner's share of the sales, in percent with one decimal (0 when nothing sold)."""
    if total <= 0:
        return Decimal("0.0")
    return (Decimal(count * 100) / Decimal(total)).quantize(Decimal("0.1"))


@dataclass(frozen=True, slots=True)
class PartnerShare:
    partner: str
    actual: int
    draft: int
    actual_share: Decimal
    draft_share: Decimal
    actual_revenue: Decimal
    draft_revenue: Decimal

    @property
    def difference(self) -> int:
        return self.draft - self.actual

    @property
    def share_difference(self) -> Decimal:
        return self.draft_share - self.actual_share


def compare(actual: Tally, draft: Tally) -> list[PartnerShare]:
    """Each partner that sold in either, with its count and share of the sales on both sides, most
    actual sales first (then by name)."""
    a_total = sum(actual.partners.values())
    d_total = sum(draft.partners.values())
    names = sorted(set(actual.partners) | set(draft.partners), key=lambda n: (-actual.partners.get(n, 0), n))
    return [
        PartnerShare(
            n,
            actual.partners.get(n, 0),
            draft.partners.get(n, 0),
            share(actual.partners.get(n, 0), a_total),
            share(draft.partners.get(n, 0), d_total),
            actual.partner_revenue.get(n, ZERO),
            draft.partner_revenue.get(n, ZERO),
        )
        for n in names
    ]
