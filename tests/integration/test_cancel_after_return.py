"""A distribution whose sale was returned (approved, the lead redistributed) cannot be cancelled: 409
naming the return; the lead is not redistributed a second time and nobody is billed again. A return still
requested when its sale is cancelled is denied by the cancel. SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from leadrelay.domain.ledger import Party
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_actions import counts, wait_final
from tests.integration.test_returns import POLICY, balances, key_of, ret, sell
from tests.support import ADMIN, ServerThread, base_config, prepare


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as b:
        yield b


def test_a_returned_distribution_is_not_cancelled_and_sold_again(db_url: str, buyers: BuyersThread) -> None:
    config = base_config(buyers.url, sunco={"returns": POLICY}, brightpath={"price": 10})
    config["sources"]["web"]["payout"] = {"share": "60%"}
    config["profiles"]["solar-main"]["auto_redistribute"] = True  # after a cancel, the next partner
    prepare(db_url, config)
    with ServerThread(db_url) as server, server.client() as http:
        sold = sell(http)  # to sunco, by the west-coast rule (sunco first, then brightpath)
        r = ret(http, key_of(http, "sunco"), delivery_id=sold["delivery"], reason="bad_phone")
        assert r.status_code == 201 and r.json()["status"] == "approved", r.text
        again = wait_final(http, r.json()["redistributed_as"])
        assert [(d["partner"], d["status"]) for d in again["deliveries"]] == [("brightpath", "delivered")]

        cancel = http.post(f"/v1/distributions/{sold['job']}/cancel", json={"reason": "tidy"}, headers=ADMIN)
        if cancel.status_code == 200 and cancel.json().get("redistributed_as"):
            wait_final(http, cancel.json()["redistributed_as"])
        time.sleep(0.5)
        partners = balances(db_url, Party.PARTNER)
        sources = balances(db_url, Party.SOURCE)
        received = counts(buyers, "brightpath")["received"]
    # the cancel is refused (the sale was returned), the lead is not sold again
    assert (partners["brightpath"], sources["web"], received) == (10, -6, 1), (partners, sources, received)
    assert cancel.status_code == 409, cancel.text


def test_a_cancel_denies_a_return_still_requested_of_its_sale(db_url: str, buyers: BuyersThread) -> None:
    """A return asked for (not auto-approved) and then the sale cancelled by the operator: the return is
    denied by the cancel, with why, and audited; it used to stay requested, counting towards the partner's
    return rate, and approving it later failed (review, 2026-12-06)."""
    prepare(db_url, base_config(buyers.url, sunco={"returns": POLICY}))
    with ServerThread(db_url) as server, server.client() as http:
        sold = sell(http)
        r = ret(http, key_of(http, "sunco"), delivery_id=sold["delivery"], reason="duplicate")
        assert r.status_code == 201 and r.json()["status"] == "requested", r.text
        cancel = http.post(f"/v1/distributions/{sold['job']}/cancel", json={"reason": "dup"}, headers=ADMIN)
        assert cancel.status_code == 200, cancel.text
        after = http.get(f"/v1/returns/{r.json()['id']}", headers=ADMIN).json()
        audit = [
            e["action"]
            for e in http.get("/v1/audit", headers=ADMIN).json()["items"]
            if e["object_id"] == after["id"]
        ]
    assert (after["status"], after["decision_note"]) == ("denied", "the sale was cancelled"), after
    assert "return.denied" in audit, audit
