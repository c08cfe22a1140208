"""A lead sent with its supplier ping's token is sold as its auction would sell it: shared when the sum of
the shared bids earns more than the best one alone, and the ping's quote is what the lead earns. On SQLite
and PostgreSQL, with real bidding buyers on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from leadrelay.simulate.buyers import BuyersThread
from tests.documents import lead
from tests.integration.test_auction import auction_config, fixed
from tests.integration.test_routing_flow import job_of, serve
from tests.support import source_headers


def _shared_doc(bidders: BuyersThread) -> dict[str, Any]:
    return auction_config(bidders.url, bidders.ping_url, target={"shared": {"max": 2}})


@pytest.fixture
def shared_bidders() -> Iterator[BuyersThread]:
    """sunco bids 12 (10.80 shared), brightpath 15 (13.50 shared), voltedge 9 (8.10 shared)."""
    prices = {
        "sunco": fixed(12, shared_ratio=0.9),
        "brightpath": fixed(15, shared_ratio=0.9),
        "voltedge": fixed(9, shared_ratio=0.9),
    }
    with BuyersThread(accept_rate=1.0, bidders=prices) as b:
        yield b


def test_a_lead_without_a_ping_is_sold_shared(db_url: str, shared_bidders: BuyersThread) -> None:
    with serve(db_url, _shared_doc(shared_bidders)) as server, server.client() as http:
        r = http.post("/v1/leads?wait=15", json=lead(state="CA", monthly_bill=180), headers=source_headers())
        assert r.status_code == 200, r.text
        job = job_of(http, r.json()["lead_id"])
    assert sorted(d["partner"] for d in job["deliveries"]) == ["brightpath", "sunco"], job["trace"]


def test_a_lead_sent_with_its_ping_token_is_sold_as_its_auction_would_sell_it(
    db_url: str, shared_bidders: BuyersThread
) -> None:
    """The ping's bids are ranked as for a lead: 13.50 + 10.80 shared beat 15.00 alone, the source is
    quoted 24.30, and the lead sent with the token is sold to both at their shared bids."""
    with serve(db_url, _shared_doc(shared_bidders)) as server, server.client() as http:
        q = http.post(
            "/v1/ping",
            json={"entity": "solar", "zip": "94103", "state": "CA", "monthly_bill": 180},
            headers=source_headers(),
        )
        assert q.status_code == 200, q.text
        token = q.json()["ping_token"]
        r = http.post(
            "/v1/leads?wait=15",
            json={**lead(state="CA", monthly_bill=180), "ping_token": token},
            headers=source_headers(),
        )
        assert r.status_code == 200, r.text
        job = job_of(http, r.json()["lead_id"])
    assert sorted(d["partner"] for d in job["deliveries"]) == ["brightpath", "sunco"], (
        q.json(),
        job["trace"],
    )
    assert q.json()["price"] == 24.3, q.json()
    sold = {d["partner"]: d["price"] for d in job["deliveries"] if d["status"] == "delivered"}
    assert sold == {"brightpath": 13.5, "sunco": 10.8}, job["trace"]
