"""Money caps and wallets (issue 11): what a partner may still spend, decided from stored numbers.

* A **budget** caps the money a partner buys per hour, day, week or month (or in total), beside its count
  caps and in the same windows on the partner's clock (``domain.caps.window_key``): a budget of 500 a
  day holds the expected price of every sale routed to it today, and refuses the lead that would pass 500.
* A **wallet** is a partner that pays ahead (a prepaid balance) or within a credit limit. What it owes
  is its ledger balance (``domain.ledger``: a top-up of 200 makes it owe -200); what is held is the
  expected price of the leads routed to it and not sold yet. A lead is routed to it only while
  ``owed + held + price <= credit_limit``.

The expected price is the one known at routing (``expected_price``): the bid, else the rule's, the
profile's or the partner's list price. A partner priced from its answer reserves that price and its sale
moves the budget by the difference once the answer is known; with a budget or a wallet and no list price
the configuration is refused (nothing could be reserved).

Amounts are ``Decimal`` in cents; storage keeps whole cents (``cents`` / ``of_cents``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from leadrelay.domain.caps import PERIOD_ORDER
from leadrelay.domain.ledger import CENTS, ZERO, money, sale_price
from leadrelay.domain.model import CapPeriod, WalletSpec

__all__ = [
    "Funds",
    "HoldKind",
    "WalletBalance",
    "WalletSpec",
    "budget_periods",
    "budget_reached",
    "cents",
    "expected_price",
    "low_crossed",
    "no_funds",
    "of_cents",
]


class HoldKind(StrEnum):
    """What a routed lead holds of a partner's money until it is sold or fails."""

    BUDGET = "budget"  # its expected price in a budget window (kept after the sale, at the sale's price)
    WALLET = "wallet"  # its expected price in the partner's wallet (the sale's debit replaces it)


def cents(amount: Decimal) -> int:
    """An amount of money as whole cents (refused when it has fractions of a cent)."""
    value = amount * 100
    if value != value.to_integral_value():
        raise ValueError(f"not a whole number of cents: {amount}")
    return int(value)


def of_cents(value: int) -> Decimal:
    return (Decimal(value) / 100).quantize(CENTS)


def expected_price(
    *,
    bid: float | Decimal | None,
    rule_price: float | Decimal | None,
    profile_price: float | Decimal | None,
    list_price: float | Decimal | None,
) -> Decimal:
    """What a sale is reserved at when it is routed (``ledger.sale_price`` without the buyer's answer,
    which is not known yet); zero when the partner has no price (its sale bills nothing)."""
    price = sale_price(
        bid=bid,
        answer=None,
        answer_allowed=False,
        rule_price=rule_price,
        profile_price=profile_price,
        list_price=list_price,
    )
    return price if price is not None else ZERO


def budget_periods(budget: Mapping[CapPeriod, Decimal]) -> Iterator[tuple[CapPeriod, Decimal]]:
    """The budget's periods, shortest first (the order count caps are checked in)."""
    for period in PERIOD_ORDER:
        if period in budget:
            yield period, budget[period]


def budget_reached(period: CapPeriod, limit: Decimal, profile: str = "") -> str:
    """``budget reached (day 500.00)`` (``… in profile NAME`` for a budget within a profile)."""
    where = f" in profile {profile}" if profile else ""
    return f"budget reached ({period.value} {money(limit)}){where}"


class Funds(NamedTuple):
    """A wallet's stored numbers: what the partner owes (its ledger balance), what routed leads hold,
    and its credit limit."""

    owed: Decimal
    held: Decimal
    credit_limit: Decimal

    @property
    def available(self) -> Decimal:
        """What a lead may still be routed for: the credit limit less what is owed and held."""
        return self.credit_limit - self.owed - self.held

    def fits(self, amount: Decimal) -> bool:
        """Whether a lead at ``amount`` may be held: ``held + amount + owed <= credit_limit``."""
        return self.held + amount + self.owed <= self.credit_limit


def no_funds(funds: Funds, amount: Decimal) -> str:
    """``no funds (balance 12.00, needs 25.00)``: the balance is what may still be spent (the wallet's
    money less what is held, plus the credit limit); the holds and the limit are named when not zero."""
    extra = ""
    if funds.held:
        extra += f", {money(funds.held)} held"
    if funds.credit_limit:
        extra += f", credit limit {money(funds.credit_limit)}"
    return f"no funds (balance {money(funds.available)}{extra}, needs {money(amount)})"


class WalletBalance(NamedTuple):
    """A wallet as the low-balance alerts read it: its ``balance`` (the money in it, ``-owed``; below
    zero once it spends on credit), its credit limit, and its low-balance threshold (None: none)."""

    balance: Decimal
    credit_limit: Decimal
    low_balance: Decimal | None

    @property
    def low(self) -> bool:
        return self.low_balance is not None and self.balance < self.low_balance


def low_crossed(before: Decimal, after: Decimal, low_balance: Decimal | None) -> bool:
    """Whether a movement took a wallet's balance from at or above ``low_balance`` to under it."""
    return low_balance is not None and before >= low_balance > after
