"""A partner whose breaker was switched off (``breaker: off``) while its stored breaker was open is routed
to (``BreakerGate.admit``: the policy is off), and a supplier ping quotes it as the lead would be sold: it
left the partner out of every quote for good (its row stays open, and nothing closes a breaker that is
off)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from leadrelay.adapters.db import breaker_store
from leadrelay.adapters.db.engine import Database
from leadrelay.simulate.bidding import BiddingOptions
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_auction import auction_config
from tests.integration.test_routing_flow import post, serve
from tests.support import source_headers


def test_a_partner_with_its_breaker_off_is_quoted_as_it_is_sold(db_url: str) -> None:
    bidders = {
        "sunco": BiddingOptions(bid_min=20, bid_max=20),
        "brightpath": BiddingOptions(bid_min=15, bid_max=15),
        "voltedge": BiddingOptions(bid_min=12, bid_max=12),
    }
    with BuyersThread(accept_rate=1.0, bidders=bidders) as buyers:
        doc = auction_config(buyers.url, buyers.ping_url, sunco={"breaker": "off"})
        now = datetime.now(UTC)
        opened = {  # left from before the breaker was switched off
            "state": "open",
            "opened_at": now - timedelta(minutes=1),
            "retry_at": now + timedelta(hours=1),
            "reason": "errors 20 of 20 in 5m",
            "changed_at": now - timedelta(minutes=1),
        }
        with serve(db_url, doc) as server, server.client() as http:
            db = Database(db_url)
            try:
                db.transaction(lambda c: breaker_store.move_breaker(c, "sunco", opened, ["closed"]))
            finally:
                db.dispose()
            sold = post(http, state="CA", monthly_bill=180)
            quote = http.post(
                "/v1/ping",
                json={"entity": "solar", "zip": "94103", "state": "CA", "monthly_bill": 180},
                headers=source_headers(),
            )
    assert sold["partner"] == "sunco"  # routing ignores a breaker switched off: sunco's 20 wins
    assert quote.status_code == 200, quote.text
    body: dict[str, Any] = quote.json()
    # the quote must be what the lead would be sold at: sunco's 20, not brightpath's 15
    assert body["price"] == 20.0, body
