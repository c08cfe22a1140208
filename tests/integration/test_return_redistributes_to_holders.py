"""A return by one buyer of a lead sold to several (a broadcast) redistributes it to other buyers only:
never to one that already holds the lead, which would be posted and billed it again. SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leadrelay.domain.ledger import Party
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_actions import counts, wait_final
from tests.integration.test_returns import POLICY, balances, key_of, ret
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, source_headers


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as b:
        yield b


def test_a_return_does_not_sell_the_lead_again_to_a_buyer_that_holds_it(
    db_url: str, buyers: BuyersThread
) -> None:
    config = base_config(buyers.url, sunco={"returns": POLICY}, brightpath={"price": 10})
    rule = config["profiles"]["solar-main"]["rules"][0]
    rule["send_to"] = {"partners": ["sunco", "brightpath"], "strategy": "broadcast"}
    prepare(db_url, config)
    with ServerThread(db_url) as server, server.client() as http:
        r = http.post("/v1/leads?wait=10", json=lead(state="CA", monthly_bill=180), headers=source_headers())
        assert r.json()["status"] == "delivered", r.text
        found = http.get("/v1/distributions", params={"lead": r.json()["lead_id"]}, headers=ADMIN)
        [job] = found.json()["items"]
        first = wait_final(http, job["id"])
        assert sorted((d["partner"], d["status"]) for d in first["deliveries"]) == [
            ("brightpath", "delivered"),
            ("sunco", "delivered"),
        ]
        [sunco] = [d for d in first["deliveries"] if d["partner"] == "sunco"]
        r = ret(http, key_of(http, "sunco"), delivery_id=sunco["id"], reason="bad_phone")
        assert r.status_code == 201 and r.json()["status"] == "approved", r.text
        again = wait_final(http, r.json()["redistributed_as"])
        partners = balances(db_url, Party.PARTNER)
    received = counts(buyers, "brightpath")["received"]
    # brightpath keeps its one sale; the redistribution finds no other buyer
    assert (partners["brightpath"], received) == (10, 1), (partners, received, again["trace"])
    assert [d["partner"] for d in again["deliveries"] if d["status"] == "delivered"] == []
