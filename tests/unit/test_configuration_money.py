"""The money parts of the configuration: a source's payout (exactly one of fixed/share/margin, a share
above 0 and at most 100 %, on: accepted only for a fixed amount), payouts per entity, and the prices of a
rule and a profile; each refusal names the path of the bad value."""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from leadrelay.configuration.load import build_specs, validate_document
from leadrelay.domain.ledger import PayoutBasis, PayoutModel
from leadrelay.errors import ConfigError
from tests.unit.in_memory import document

Edit = Callable[[dict[str, Any]], None]


def web(doc: dict[str, Any]) -> dict[str, Any]:
    source: dict[str, Any] = doc["sources"]["web"]
    return source


def send_to(doc: dict[str, Any]) -> dict[str, Any]:
    target: dict[str, Any] = doc["profiles"]["solar-main"]["rules"][0]["send_to"]
    return target


def edited(edit: Edit) -> dict[str, Any]:
    doc = copy.deepcopy(document())
    edit(doc)
    return doc


BAD: list[tuple[str, Edit, str, str]] = [
    ("no model", lambda d: web(d).update(payout={}), "sources.web.payout", "exactly one of"),
    ("two models", lambda d: web(d).update(payout={"fixed": 1, "share": "5%"}), "sources.web.payout", "one"),
    ("share 0%", lambda d: web(d).update(payout={"share": "0%"}), "sources.web.payout.share", "more than 0%"),
    ("share 150%", lambda d: web(d).update(payout={"share": "150%"}), "sources.web.payout.share", "100%"),
    ("negative", lambda d: web(d).update(payout={"fixed": -1}), "sources.web.payout.fixed", "zero or more"),
    (
        "margin on acceptance",
        lambda d: web(d).update(payout={"margin": 2, "on": "accepted"}),
        "sources.web.payout",
        "on: accepted pays a fixed amount",
    ),
    ("basis", lambda d: web(d).update(payout={"fixed": 1, "on": "never"}), "sources.web.payout.on", "never"),
    (
        "a misspelt entity",
        lambda d: web(d).update(payouts_by_entity={"sollar": {"fixed": 1}}),
        "sources.web.payouts_by_entity.sollar",
        "unknown entity 'sollar'",
    ),
    (
        "a rule price for a partner not in the target",
        lambda d: send_to(d).update(prices={"nobody": 3}),
        "profiles.solar-main.rules[0].send_to.prices.nobody",
        "not one of this target's partners",
    ),
    (
        "a rule price on an auction",
        lambda d: send_to(d).update(strategy="auction", prices={"sunco": 3}),
        "profiles.solar-main.rules[0].send_to.prices",
        "pay their bids",
    ),
    (
        "a profile price for an unknown partner",
        lambda d: d["profiles"]["solar-main"].update(partner_prices={"nobody": 3}),
        "profiles.solar-main.partner_prices.nobody",
        "unknown partner 'nobody'",
    ),
]


@pytest.mark.parametrize(("label", "edit", "path", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_money_configuration_is_refused_with_its_path(
    label: str, edit: Edit, path: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_document(edited(edit))
    found = [(p.path, p.message) for p in caught.value.problems]
    assert any(p == path and message in m for p, m in found), (label, found)


def test_payouts_read_into_their_models() -> None:
    def pay(d: dict[str, Any]) -> None:
        web(d).update(payout={"share": "60%"}, payouts_by_entity={"solar": {"fixed": 2.5, "on": "accepted"}})

    source = build_specs(validate_document(edited(pay))).sources["web"]
    assert source.payout == PayoutModel(share=Decimal("0.6"))
    assert source.payout_for("solar") == PayoutModel(fixed=Decimal("2.50"), on=PayoutBasis.ACCEPTED)
    assert source.payout_for("other") == PayoutModel(share=Decimal("0.6"))
