"""User choice (``strategy: user_choice``; issue 10, point 5): the eligible partners are offered to the
consumer, who selects one. What the consumer is shown of an offer, whether an offer may still be selected,
and the trace lines of offering, selecting and expiring.

Pure: standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from leadrelay.domain.ledger import PriceBasis
from leadrelay.domain.model import PartnerSpec, ProfileSpec, Target
from leadrelay.domain.states import OfferStatus

__all__ = [
    "NO_OFFER_SELECTED",
    "Refusal",
    "RefusalKind",
    "expired_line",
    "offered_line",
    "public_offer",
    "refusal",
    "selected_line",
]

NO_OFFER_SELECTED = "no offer selected"
"""A job whose offers all expired closes unsold with this reason (which the source is told)."""


class RefusalKind(StrEnum):
    TAKEN = "taken"  # this offer or a sibling was already selected: 409
    GONE = "gone"  # past its time: 410


@dataclass(frozen=True, slots=True)
class Refusal:
    kind: RefusalKind
    detail: str


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def refusal(
    offer_id: str,
    status: OfferStatus | str,
    expires_at: datetime,
    siblings: Iterable[OfferStatus | str],
    now: datetime,
) -> Refusal | None:
    """Why the offer cannot be selected now (None: it can). A selection already made wins over the time:
    selecting again, or selecting a sibling of the selected offer, is a conflict (409); an offer past its
    time that nobody selected is gone (410)."""
    if status == OfferStatus.SELECTED:
        return Refusal(RefusalKind.TAKEN, f"offer {offer_id} was already selected")
    if any(s == OfferStatus.SELECTED for s in siblings):
        return Refusal(
            RefusalKind.TAKEN, f"another offer for this lead was already selected; {offer_id} is closed"
        )
    if status == OfferStatus.EXPIRED and expires_at > now:  # withdrawn before its time (lead erased)
        return Refusal(RefusalKind.GONE, f"offer {offer_id} was withdrawn: it can no longer be selected")
    if status == OfferStatus.EXPIRED or expires_at <= now:
        return Refusal(
            RefusalKind.GONE,
            f"offer {offer_id} expired at {iso(expires_at)}: it can no longer be selected (the lead was not"
            " sold through it)",
        )
    return None


def public_offer(
    offer_id: str,
    display_name: str,
    logo_url: str | None,
    price: float | None,
    show_price: bool,
    expires_at: datetime,
) -> dict[str, Any]:
    """What the source (and its consumer) is shown of an offer: the price only where the partner allows."""
    out: dict[str, Any] = {"id": offer_id, "partner": display_name, "logo_url": logo_url}
    if show_price and price is not None:
        out["price"] = price
    out["expires_at"] = iso(expires_at)
    return out


def offered_line(partners: Sequence[str], ttl_s: float, expires_at: datetime) -> str:
    return f"user choice: offered {', '.join(partners)} (valid {_ttl(ttl_s)}, until {iso(expires_at)})"


def selected_line(partner: str, offer_id: str, others: Sequence[str]) -> str:
    closed = f"; {', '.join(others)} not selected (expired)" if others else ""
    return f"user choice: {partner} selected (offer {offer_id}){closed}"


def expired_line(partners: Sequence[str]) -> str:
    return f"user choice: offers to {', '.join(partners)} expired unselected"


def _ttl(seconds: float) -> str:
    whole = int(seconds)
    if whole != seconds:
        return f"{seconds:g}s"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if whole >= size and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def rule_target(profile: ProfileSpec, rule: str | None) -> Target | None:
    """The target of the profile's rule named ``rule`` (``default``: the profile's default) as configured
    now, or None where the profile no longer has it (removed or renamed since)."""
    if rule == "default":
        return profile.default
    return next((r.send_to for r in profile.rules if r.name == rule), None)


def offer_priced(
    name: str, target: Target | None, profile: ProfileSpec, list_price: float | None
) -> tuple[float | None, PriceBasis]:
    """What an offer to the partner ``name`` costs its buyer (and the consumer sees), and where the price
    came from (the delivery's ``price_basis``): the rule's price for the partner, else the profile's, else
    its list price (the order a delivery's price follows, ``services.distribution._priced``)."""
    if target is not None and name in target.prices:
        return target.prices[name], PriceBasis.RULE
    if name in profile.partner_prices:
        return profile.partner_prices[name], PriceBasis.PROFILE
    return list_price, PriceBasis.LIST


def selected_basis(
    chosen_price: float | None, target: Target | None, profile: ProfileSpec, partner: PartnerSpec
) -> PriceBasis:
    """Where a selected offer's price came from, as the configuration prices it now; a price the
    configuration no longer gives (changed since the offer) is one fixed before the post: the rule's."""
    price, basis = offer_priced(partner.name, target, profile, partner.price)
    return basis if price == chosen_price else PriceBasis.RULE
