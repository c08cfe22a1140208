"""Budgets and wallets at routing (``leadrelay.domain.budgets``): a lead chosen for a partner holds its
expected price in every budget window of the partner (its own, then those within the profile) and in its
wallet, inside the batch's transaction, as cap slots are taken (``services.reservations``).

The hold is recorded for the job's delivery to the partner and named in the delivery's ``cap_windows`` as
``["money", job id]``: wherever a failed or cancelled delivery gives its cap slots back, its money goes
back with them. At the sale (``services.ledger.post_sales``) the wallet's hold gives way to the sale's
entry and each budget hold becomes the sale's price.

Test leads, resends and test deliveries hold nothing (they bypass caps too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from leadrelay.domain.budgets import budget_periods, budget_reached, expected_price, no_funds
from leadrelay.domain.caps import window_key
from leadrelay.domain.ledger import ZERO
from leadrelay.domain.model import CapPeriod, PartnerSpec, ProfileSpec
from leadrelay.services.config_in_force import LiveConfig
from leadrelay.services.ports import Record, Tx

MONEY_SCOPE = "money"  # the scope of a money hold in a delivery's ``cap_windows``


def holds_money(live: LiveConfig) -> bool:
    """Whether any partner has a budget or a wallet (else routing and sales skip all of this); decided
    once per configuration version (``LiveConfig.holds_money``)."""
    return live.holds_money


@dataclass(frozen=True, slots=True)
class Price:
    """The price a routed lead is expected to sell at, with the prices it was chosen from."""

    bid: float | Decimal | None = None
    rule: float | Decimal | None = None
    profile: float | Decimal | None = None


def reserve_money(
    tx: Tx, job: Record, partner: PartnerSpec, profile: ProfileSpec | None, price: Price, now: datetime
) -> tuple[list[list[str]], str | None]:
    """Hold the lead's expected price in the partner's budgets and wallet: the ``cap_windows`` entry to
    keep with the delivery (none when nothing is held), or why the partner cannot take the lead
    (``budget reached (day 500.00)``, ``no funds (balance 12.00, needs 25.00)``), nothing held then."""
    budgets: tuple[tuple[str, Mapping[CapPeriod, Decimal]], ...] = (
        ("", partner.budget),
        (job.profile, profile.partner_budgets.get(partner.name, {}) if profile is not None else {}),
    )
    if job.is_test or (partner.wallet is None and not any(b for _, b in budgets)):
        return [], None
    amount = expected_price(
        bid=price.bid, rule_price=price.rule, profile_price=price.profile, list_price=partner.price
    )
    if amount <= ZERO:  # a sale without a price bills nothing
        return [], None
    tz = ZoneInfo(partner.timezone)
    held = [[MONEY_SCOPE, job.id]]
    for scope, budget in budgets:
        for period, limit in budget_periods(budget):
            ok, _ = tx.wallets.reserve_budget(
                job.id, partner.name, scope, window_key(period, tz, now), amount, limit
            )
            if not ok:
                tx.wallets.release_holds(job.id, partner.name)
                return [], budget_reached(period, limit, scope)
    if partner.wallet is not None:
        short = tx.wallets.reserve_funds(job.id, partner.name, amount, partner.wallet.credit_limit)
        if short is not None:
            tx.wallets.release_holds(job.id, partner.name)
            return [], no_funds(short, amount)
    return held, None
