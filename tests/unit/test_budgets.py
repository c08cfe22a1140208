"""The pure decisions of budgets and wallets (``domain.budgets``): what is reserved, when a wallet has the
funds, the words of the trace, the low-balance crossing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadrelay.domain.budgets import (
    Funds,
    WalletBalance,
    budget_periods,
    budget_reached,
    cents,
    expected_price,
    low_crossed,
    no_funds,
    of_cents,
)
from leadrelay.domain.model import CapPeriod

D = Decimal


@pytest.mark.parametrize(
    ("bid", "rule", "profile", "listed", "expected"),
    [
        (12.5, 20, 30, 40, D("12.50")),  # an auction's bid first
        (None, 20, 30, 40, D("20.00")),  # then the rule's price
        (None, None, 30, 40, D("30.00")),
        (None, None, None, 40, D("40.00")),  # the list price (also what an answer-priced partner holds)
        (None, None, None, None, D("0.00")),  # no price: a sale bills nothing, nothing is held
    ],
)
def test_the_expected_price_is_the_bid_then_the_rule_profile_and_list_price(
    bid: float | None, rule: float | None, profile: float | None, listed: float | None, expected: Decimal
) -> None:
    got = expected_price(bid=bid, rule_price=rule, profile_price=profile, list_price=listed)
    assert got == expected


@pytest.mark.parametrize(
    ("owed", "held", "limit", "amount", "fits"),
    [
        (D("-200"), D("0"), D("0"), D("200"), True),  # a prepaid 200 buys exactly 200
        (D("-200"), D("0"), D("0"), D("200.01"), False),
        (D("-200"), D("180"), D("0"), D("25"), False),  # what routed leads hold counts
        (D("0"), D("0"), D("100"), D("100"), True),  # on credit up to the limit
        (D("90"), D("0"), D("100"), D("10.01"), False),
        (D("-12"), D("0"), D("0"), D("25"), False),
    ],
)
def test_a_wallet_holds_a_lead_only_within_its_credit_limit(
    owed: Decimal, held: Decimal, limit: Decimal, amount: Decimal, fits: bool
) -> None:
    assert Funds(owed, held, limit).fits(amount) is fits


def test_the_words_of_the_trace() -> None:
    assert no_funds(Funds(D("-12.00"), D("0"), D("0")), D("25")) == "no funds (balance 12.00, needs 25.00)"
    assert (
        no_funds(Funds(D("-40"), D("30"), D("5")), D("25"))
        == "no funds (balance 15.00, 30.00 held, credit limit 5.00, needs 25.00)"
    )
    assert budget_reached(CapPeriod.DAY, D("500")) == "budget reached (day 500.00)"
    assert (
        budget_reached(CapPeriod.MONTH, D("10000"), "solar")
        == "budget reached (month 10000.00) in profile solar"
    )


def test_budget_periods_go_shortest_first() -> None:
    budget = {CapPeriod.MONTH: D("10000"), CapPeriod.HOUR: D("50"), CapPeriod.DAY: D("500")}
    assert [p for p, _ in budget_periods(budget)] == [CapPeriod.HOUR, CapPeriod.DAY, CapPeriod.MONTH]


@pytest.mark.parametrize(
    ("before", "after", "low", "crossed"),
    [
        (D("120"), D("95"), D("100"), True),
        (D("100"), D("99.99"), D("100"), True),
        (D("95"), D("70"), D("100"), False),  # already low: one line, when it crossed
        (D("150"), D("125"), D("100"), False),
        (D("150"), D("-10"), None, False),  # no threshold
    ],
)
def test_a_low_balance_is_crossed_once(
    before: Decimal, after: Decimal, low: Decimal | None, crossed: bool
) -> None:
    assert low_crossed(before, after, low) is crossed


def test_a_wallet_balance_is_low_under_its_threshold() -> None:
    assert WalletBalance(D("99.99"), D("0"), D("100")).low
    assert not WalletBalance(D("100"), D("0"), D("100")).low
    assert not WalletBalance(D("-50"), D("100"), None).low


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_cents_round_trip(n: int) -> None:
    assert cents(of_cents(n)) == n


def test_fractions_of_a_cent_are_refused() -> None:
    with pytest.raises(ValueError, match="whole number of cents"):
        cents(D("0.001"))
