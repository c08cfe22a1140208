"""A ping carries no value of the lead whose name is a usual personal one, declared by its entity or not,
on SQLite and PostgreSQL with real bidding buyers on loopback."""

from __future__ import annotations

from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_auction import PERSONAL, auction_config, fixed
from tests.integration.test_routing_flow import post, serve


def test_a_ping_carries_no_undeclared_field_with_a_personal_name(db_url: str) -> None:
    """A lead posted with ``mobile``, ``email_address`` and ``street_address``, fields its entity does not
    declare (kept as text): no buyer's ping carries them, and the lead is still sold."""
    prices = {"sunco": fixed(12), "brightpath": fixed(15), "voltedge": fixed(9)}
    extra = {"mobile": "(512) 555-0000", "email_address": "ada.l@example.com", "street_address": "1 Main St"}
    with BuyersThread(accept_rate=1.0, bidders=prices) as buyers:
        doc = auction_config(buyers.url, buyers.ping_url)
        with serve(db_url, doc) as server, server.client() as http:
            answer = post(http, state="CA", monthly_bill=180, **extra)
        assert answer["status"] == "delivered"
        for name in ("sunco", "brightpath", "voltedge"):
            fields = set(buyers.pings(name)["fields"])
            assert not fields & (PERSONAL | set(extra)), (name, sorted(fields))
            assert {"state", "monthly_bill"} <= fields, (name, sorted(fields))
