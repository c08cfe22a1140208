"""Budgets and wallets through the use cases (in memory): a lead holds its expected price at routing, a
partner out of funds or over budget is skipped with the reason in the trace, a failed delivery gives its
hold back, the sale debits the wallet with its entry, a cancel gives the budget back."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest

from leadrelay.domain.budgets import Funds
from leadrelay.domain.ledger import ZERO, EntryKind, Party, balance
from leadrelay.errors import ConfigError, NotFound, ValidationFailed
from leadrelay.services import wallets
from tests.documents import lead
from tests.unit.in_memory import Installation, by_partner, document, http, run

D = Decimal
SOLD = '{"reference": "r-1"}'


def phone(i: int) -> str:
    return f"(512) 555-{1000 + i}"


def with_wallet(wallet: dict[str, Any] | None = None, **sunco: Any) -> Installation:
    return Installation(document(sunco={"wallet": wallet or {"low_balance": 20}, **sunco}))


def topup(world: Installation, amount: str, partner: str = "sunco") -> wallets.WalletView:
    live = world.live()
    return world.storage.transaction(
        lambda tx: wallets.top_up(
            tx, live, partner, D(amount), actor="admin:ops", now=world.clock(), ids=world.ids, memo="wire 7"
        )[1]
    )


def funds(world: Installation, partner: str = "sunco") -> Funds | None:
    return world.storage.read(lambda tx: tx.wallets.funds(partner))


def sunco_entries(world: Installation) -> list[Any]:
    return world.storage.read(lambda tx: tx.ledger.entries(party_kind=Party.PARTNER, party="sunco"))


def route(world: Installation, i: int, answer: Any = None) -> str:
    lead_id = world.accept(lead(phone=phone(i))).lead_id
    world.work(answer or http(200, SOLD))
    return lead_id


def test_sales_spend_a_prepaid_wallet_then_the_partner_is_skipped_with_the_reason() -> None:
    world = with_wallet()
    view = topup(world, "60")
    assert (view.balance, view.available) == (D("60.00"), D("60.00"))
    first, second = route(world, 1), route(world, 2)  # CA: sunco first, at its list price 25
    assert {world.one("deliveries", lead_id=x).partner for x in (first, second)} == {"sunco"}
    assert funds(world) == Funds(D("-10.00"), ZERO, ZERO)

    third = route(world, 3)
    job = world.job_of(third)
    assert "sunco: no funds (balance 10.00, needs 25.00)" in job.trace
    assert world.one("deliveries", lead_id=third).partner == "brightpath"  # the next partner took it
    # the wallet row and the ledger agree, and never went under minus the credit limit (0)
    assert funds(world) == Funds(balance(sunco_entries(world)), ZERO, ZERO)
    assert [e.kind for e in sunco_entries(world)] == [EntryKind.TOPUP, EntryKind.SALE, EntryKind.SALE]


def test_a_credit_limit_lets_a_partner_owe_up_to_it() -> None:
    world = with_wallet({"credit_limit": 50})
    route(world, 1)
    route(world, 2)
    third = route(world, 3)
    assert "sunco: no funds (balance 0.00, credit limit 50.00, needs 25.00)" in world.job_of(third).trace
    assert funds(world) == Funds(D("50.00"), ZERO, D("50.00"))


def test_a_failed_delivery_gives_its_hold_back() -> None:
    world = with_wallet()
    topup(world, "25")
    lead_id = world.accept(lead(phone=phone(1))).lead_id
    [step] = world.claim_and_route().values()
    assert funds(world) == Funds(D("-25.00"), D("25.00"), ZERO)  # held while it is delivered
    assert world.one("deliveries", lead_id=lead_id).cap_windows == [["money", step.sends[0].job_id]]
    job_id = step.sends[0].job_id
    world.deliver(step, job_id, by_partner(sunco=http(422, "no"), brightpath=http(200, SOLD)))
    assert funds(world) == Funds(D("-25.00"), ZERO, ZERO)  # given back: the next lead may have it
    assert world.storage.rows("money_holds") == []
    second = route(world, 2)
    assert world.one("deliveries", lead_id=second).partner == "sunco"
    assert funds(world) == Funds(ZERO, ZERO, ZERO)


def test_an_answer_price_above_the_reserved_one_is_billed_and_moves_the_budget() -> None:
    world = Installation(document(sunco={"budget": {"day": 100}}))
    route(world, 1, http(200, '{"price": 30}'))  # reserved 25 (list price), sold at 30
    spent = world.storage.read(lambda tx: tx.wallets.budget_spent("sunco"))
    assert list(spent.values()) == [D("30.00")]


def test_a_budget_skips_the_partner_when_the_next_sale_would_pass_it() -> None:
    world = Installation(document(sunco={"budget": {"day": 50, "month": 1000}}))
    route(world, 1)
    route(world, 2)
    third = route(world, 3)
    assert "sunco: budget reached (day 50.00)" in world.job_of(third).trace
    assert world.one("deliveries", lead_id=third).partner == "brightpath"


def test_a_budget_within_a_profile() -> None:
    doc = document()
    doc["profiles"]["solar-main"]["partner_budgets"] = {"sunco": {"week": 25}}
    world = Installation(doc)
    route(world, 1)
    second = route(world, 2)
    assert "sunco: budget reached (week 25.00) in profile solar-main" in world.job_of(second).trace


def test_a_cancel_gives_the_budget_back_and_credits_the_wallet() -> None:
    world = with_wallet(budget={"day": 25})
    topup(world, "25")
    first = route(world, 1)
    run(world.actions.cancel(world.job_of(first).id, actor="admin:ops"))
    assert funds(world) == Funds(D("-25.00"), ZERO, ZERO)
    assert list(world.storage.read(lambda tx: tx.wallets.budget_spent("sunco")).values()) == [ZERO]
    second = route(world, 2)
    assert world.one("deliveries", lead_id=second).partner == "sunco"


def test_a_test_lead_holds_nothing_and_moves_no_money() -> None:
    world = with_wallet()
    world.accept(lead(), test=True)
    world.work(http(200, SOLD))
    assert funds(world) in (None, Funds(ZERO, ZERO, ZERO))


def test_a_sale_taking_the_wallet_under_its_low_balance_logs_a_line(caplog: pytest.LogCaptureFixture) -> None:
    world = with_wallet({"low_balance": 30})
    topup(world, "75")
    with caplog.at_level(logging.WARNING, logger="leadrelay.ledger"):
        route(world, 1)  # 50 left: not low
        assert not caplog.records
        route(world, 2)  # 25 left: under 30
        route(world, 3)  # 0 left: already low, no second line
    assert [r.getMessage() for r in caplog.records] == [
        "wallet of sunco is low: balance 25.00, under its low balance 30.00"
    ]
    assert world.storage.read(lambda tx: tx.wallets.wallet_balances())["sunco"].low


def test_the_wallet_views_and_their_bad_paths() -> None:
    world = with_wallet({"credit_limit": 10, "low_balance": 5})
    topup(world, "15.5")
    live = world.live()
    views = world.storage.read(lambda tx: wallets.list_wallets(tx, live))
    assert [v.as_dict() for v in views] == [
        {
            "partner": "sunco",
            "balance": "15.50",
            "held": "0.00",
            "available": "25.50",
            "credit_limit": "10.00",
            "low_balance": "5.00",
            "low": False,
        }
    ]
    with pytest.raises(NotFound, match="has no wallet"):
        world.storage.read(lambda tx: wallets.show_wallet(tx, live, "brightpath"))
    with pytest.raises(NotFound, match="no partner named"):
        world.storage.read(lambda tx: wallets.show_wallet(tx, live, "nobody"))
    with pytest.raises(ValidationFailed):
        topup(world, "-5")
    assert world.audit("wallet.topup")


def test_a_partner_priced_from_its_answer_needs_a_list_price_for_a_budget_or_wallet() -> None:
    doc = document(sunco={"wallet": {}})
    del doc["partners"]["sunco"]["price"]
    with pytest.raises(ConfigError, match="needs a list price"):
        Installation(doc)


@pytest.mark.parametrize("money", [{"wallet": {"credit_limit": 0}}, {"budget": {"day": 15}}])
def test_a_list_price_of_zero_reserves_nothing_so_it_is_refused_for_a_budget_or_wallet(
    money: dict[str, object],
) -> None:
    """A partner priced from its answer with ``price: 0`` reserved nothing and was checked against
    nothing, while its answers billed 10.00 a lead: a prepaid wallet never topped up bought lead after
    lead (review, 2026-12-06)."""
    doc = document(sunco={"price": 0, "price_from_answer": True, **money})
    with pytest.raises(ConfigError, match=r"partners\.sunco.*needs a list price more than 0"):
        Installation(doc)


def test_removing_the_wallet_from_the_configuration_stops_holding() -> None:
    world = with_wallet()
    route(world, 1)  # no funds: brightpath
    world.configure(document())
    second = route(world, 2)
    assert world.one("deliveries", lead_id=second).partner == "sunco"
    assert world.storage.read(lambda tx: tx.wallets.wallet_balances()) == {}


def test_a_hold_taken_before_the_wallet_was_switched_off_is_settled_by_the_sale() -> None:
    doc = document(sunco={"price": 7, "price_from_answer": False, "wallet": {"credit_limit": 10}})
    world = Installation(doc)
    world.accept(lead(state="CA", monthly_bill=180))
    ((job_id, step),) = world.claim_and_route().items()  # routed to sunco: 7.00 held of its wallet
    assert [s.partner for s in step.sends] == ["sunco"]
    assert world.one("wallets", partner="sunco").held == 700
    del doc["partners"]["sunco"]["wallet"]  # the operator switches the wallet off while the post is out
    world.configure(doc)
    world.deliver(step, job_id, by_partner(sunco=http(200)))
    assert world.one("deliveries", partner="sunco").status == "delivered"
    assert (world.one("wallets", partner="sunco").held, world.all("money_holds")) == (0, [])
