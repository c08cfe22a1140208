"""Ping / post (PRODUCT.md §1): the PII-free view of a lead a ping carries, and the bid its answer gives.

A ping is a webhook request of its own (``PartnerSpec.ping``: mapping, auth, timeout, response rules),
sent once, never retried. The buyer's answer is read by the same code as a delivery's
(``adapters.channels.webhook_answers.classify``); :func:`bid_of` turns that attempt result into a
:class:`Bid`. The post that follows may carry the bid's reference (``{{ ping.reference }}``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from leadrelay.domain.attempts import AttemptResult, LeadView, Outcome
from leadrelay.domain.ledger import MAX_PRICE, money
from leadrelay.domain.model import EntitySpec, FieldType, PartnerSpec, personal_field
from leadrelay.domain.privacy import Redactor

__all__ = ["Bid", "BidStatus", "bid_of", "ping_values", "ping_view"]


class BidStatus(StrEnum):
    ACCEPTED = "accepted"  # the buyer wants the lead, at ``price``
    REFUSED = "refused"  # the buyer said no (a failure outcome)
    TIMEOUT = "timeout"  # no answer within the ping's timeout
    ERROR = "error"  # transport trouble, a 5xx or 429, an answer the rules read as an error


@dataclass(frozen=True, slots=True)
class Bid:
    """A buyer's answer to a ping: accepted or not, a price, and the reference its post may carry."""

    status: BidStatus
    price: float | None = None  # accepted: the bid, else the partner's list price; None: neither
    reference: str | None = None
    reason: str | None = None
    shared_price: float | None = None  # accepted: the bid for the lead shared with others (None: none)

    @property
    def accepted(self) -> bool:
        return self.status == BidStatus.ACCEPTED

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "accepted": self.accepted,
            "price": self.price,
            "reference": self.reference,
            "reason": self.reason,
            "shared_price": self.shared_price,
        }


def bid_of(result: AttemptResult, list_price: float | None = None) -> Bid:
    """The bid a ping's attempt result stands for. An accepted bid whose answer names no price is at the
    partner's list price, as a post's success is; a refusal or an error carries no price."""
    if result.outcome == Outcome.SUCCESS:
        price = result.price if result.price is not None else list_price
        if not _amount(price) or not _amount(result.shared_price):
            return Bid(BidStatus.ERROR, None, None, f"the bid is not an amount from 0 to {MAX_BID:.0f}")
        return Bid(
            BidStatus.ACCEPTED, _cents(price), result.reference, shared_price=_cents(result.shared_price)
        )
    if result.outcome == Outcome.FAILURE:
        return Bid(BidStatus.REFUSED, None, result.reference, result.reason)
    status = BidStatus.TIMEOUT if result.timed_out else BidStatus.ERROR
    return Bid(status, None, None, result.reason)


MAX_BID = float(MAX_PRICE)
"""The most a bid may be: what the ledger bills one sale at most (``domain.ledger.MAX_PRICE``)."""


def _amount(price: float | None) -> bool:
    """None, or a price the ledger can bill: finite, from 0 to ``MAX_BID`` (a negative, infinite or larger
    bid is an error, never a sale: it would win and be billed nothing)."""
    return price is None or (math.isfinite(price) and 0 <= price <= MAX_BID)


def _cents(price: float | None) -> float | None:
    """A bid as it is billed: to the cent, half up as every amount (``money``; ``round`` would bill 2.675 at
    2.67, its float being a little under)."""
    return float(money(price)) if price is not None else None


def ping_values(values: Mapping[str, Any], entity: EntitySpec | None, *, allowed: bool) -> dict[str, Any]:
    """What a ping may be made from: the lead's values without its personal ones (all of them when the
    partner is ``ping_pii: allowed``): the entity's personal fields, and a value the entity does not
    declare whose name is a usual personal one (``EntitySpec.is_personal``; ``entity`` None: every value
    by its name). Configuration refuses a ping mapping that names a personal field; this keeps a lead's
    personal values out of a ping whatever the mapping says."""
    if allowed:
        return dict(values)
    if entity is None:
        return {n: v for n, v in values.items() if not personal_field(n, FieldType.STRING, False, None)}
    return {name: value for name, value in values.items() if not entity.is_personal(name)}


def ping_view(
    partner: PartnerSpec,
    entity: EntitySpec | None,
    lead_id: str,
    values: Mapping[str, Any],
    *,
    key: str,
    test: bool = False,
) -> LeadView:
    """The lead as the partner's ping sees it: its non-personal values (:func:`ping_values`; every value
    with ``ping_pii: allowed``), the ping's ``fields`` when it names some, and the sensitive values a
    ``ping_pii: allowed`` ping may carry known to the redactor of what is recorded. A value the entity
    does not declare, or any value of a lead of no entity (``entity`` None), is personal by its name."""
    assert partner.ping is not None, "a partner with a ping"
    shown = ping_values(values, entity, allowed=partner.ping_pii)
    if partner.ping.fields is not None:
        shown = {name: shown[name] for name in partner.ping.fields if name in shown}
    if test:
        shown["test"] = True
    sensitive = entity.sensitive.intersection(shown) if entity is not None else frozenset()
    return LeadView(
        lead_id,
        entity.name if entity is not None else "",
        partner.name,
        shown,
        key,
        test=test,
        sensitive=sensitive,
        redactor=Redactor.of(sensitive=[shown[name] for name in sensitive]),
    )
