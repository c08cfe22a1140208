"""A bid larger than the ledger can bill (``domain.ledger.MAX_PRICE``) is an error bid: it neither wins an
auction nor is quoted to a source, on SQLite and PostgreSQL with real bidding buyers on loopback."""

from __future__ import annotations

from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_auction import auction_config, fixed
from tests.integration.test_routing_flow import job_of, post, serve
from tests.support import source_headers

PRICES = {"sunco": fixed(12), "brightpath": fixed(2e9), "voltedge": fixed(9)}


def test_a_bid_the_ledger_cannot_bill_does_not_win(db_url: str) -> None:
    """brightpath bids 2,000,000,000.00: an error bid. sunco wins at 12.00, and its delivery is billed what
    it says."""
    with BuyersThread(accept_rate=1.0, bidders=PRICES) as buyers:
        doc = auction_config(buyers.url, buyers.ping_url)
        with serve(db_url, doc) as server, server.client() as http:
            answer = post(http, state="CA", monthly_bill=180)
            job = job_of(http, answer["lead_id"])
    sold = [(d["partner"], d["price"]) for d in job["deliveries"] if d["status"] == "delivered"]
    sales = [(e["party"], e["amount"]) for e in job["ledger"] if e["kind"] == "sale"]
    assert sales == [(p, f"{price:.2f}") for p, price in sold], (sold, sales)
    assert (answer["partner"], answer["price"]) == ("sunco", 12.0), answer
    bids = {b["partner"]: (b["status"], b["price"]) for b in job["bids"]}
    assert bids["brightpath"] == ("error", None), bids


def test_a_supplier_ping_does_not_quote_a_bid_the_ledger_cannot_bill(db_url: str) -> None:
    """The same bids asked through ``POST /v1/ping``: the source is quoted sunco's 12.00."""
    with BuyersThread(accept_rate=1.0, bidders=PRICES) as buyers:
        doc = auction_config(buyers.url, buyers.ping_url)
        with serve(db_url, doc) as server, server.client() as http:
            r = http.post(
                "/v1/ping",
                json={"entity": "solar", "zip": "94103", "state": "CA", "monthly_bill": 180},
                headers=source_headers(),
            )
    assert r.status_code == 200, r.text
    assert r.json()["price"] == 12.0, r.json()
