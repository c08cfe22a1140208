"""A shared sale that fewer of its buyers can take than it was decided on is sold only while it still earns
more than an exclusive sale, on SQLite and PostgreSQL with real bidding buyers on loopback."""

from __future__ import annotations

from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_auction import auction_config, fixed
from tests.integration.test_routing_flow import job_of, post, serve


def test_a_shared_sale_that_can_reach_one_buyer_is_not_sold_below_its_exclusive_bid(db_url: str) -> None:
    """shared max 2: sunco bids 15 (shared 9), brightpath 10 (shared 8): 9 + 8 = 17 is more than 15, a
    shared sale. brightpath's wallet cannot pay its 8.00, so only sunco can take the lead: it gets it at its
    exclusive 15.00, not its shared 9.00."""
    prices = {"sunco": fixed(15, shared_ratio=0.6), "brightpath": fixed(10, shared_ratio=0.8)}
    with BuyersThread(accept_rate=1.0, bidders=prices) as buyers:
        doc = auction_config(
            buyers.url,
            buyers.ping_url,
            target={"partners": ["sunco", "brightpath"], "floor": 5, "shared": {"max": 2}},
            brightpath={"wallet": {"credit_limit": 0}},
        )
        with serve(db_url, doc) as server, server.client() as http:
            answer = post(http, state="CA", monthly_bill=180)
            job = job_of(http, answer["lead_id"])
    decided = "auction: shared sale: sunco 9.00 + brightpath 8.00 = 17.00, more than 15.00 exclusive"
    assert decided in job["trace"]
    assert "brightpath: no funds (balance 0.00, needs 8.00)" in job["trace"]
    sales = [(e["party"], e["amount"]) for e in job["ledger"] if e["kind"] == "sale"]
    assert sales == [("sunco", "15.00")], (sales, job["trace"])
    alone = (
        "auction: exclusive sale: sunco 15.00 is not less than sunco 9.00 = 9.00 shared"
        " that can take the lead"
    )
    assert alone in job["trace"], job["trace"]
    # the shared choice, then its release, then the exclusive one: never two choices standing
    released = "auction: shared sale to sunco 9.00 = 9.00 released: an exclusive bid earns as much"
    shared_pick = "sunco: chosen (shared sale, bid 9.00, post 1 of 3)"
    exclusive_pick = "sunco: chosen (auction, bid 15.00, post 1 of 3)"
    lines = job["trace"]
    assert lines.index(shared_pick) < lines.index(released) < lines.index(exclusive_pick), lines
    assert (answer["partner"], answer["price"]) == ("sunco", 15.0), answer


def test_a_shared_sale_stands_when_no_exclusive_bid_of_as_much_can_be_reserved(db_url: str) -> None:
    """As above, but sunco's wallet pays 9.00 and not 15.00: no exclusive bid of at least 9.00 can take
    the lead, so sunco gets it at its shared 9.00, once (one delivery, one sale entry)."""
    prices = {"sunco": fixed(15, shared_ratio=0.6), "brightpath": fixed(10, shared_ratio=0.8)}
    with BuyersThread(accept_rate=1.0, bidders=prices) as buyers:
        doc = auction_config(
            buyers.url,
            buyers.ping_url,
            target={"partners": ["sunco", "brightpath"], "floor": 5, "shared": {"max": 2}},
            sunco={"wallet": {"credit_limit": 10}},
            brightpath={"wallet": {"credit_limit": 0}},
        )
        with serve(db_url, doc) as server, server.client() as http:
            answer = post(http, state="CA", monthly_bill=180)
            job = job_of(http, answer["lead_id"])
    assert (
        "auction: shared sale to sunco 9.00 = 9.00: no exclusive bid of as much can take it" in job["trace"]
    )
    short = [line for line in job["trace"] if line.startswith("sunco: no funds")]
    assert len(short) == 1 and short[0].endswith("needs 15.00)"), job["trace"]
    sales = [(e["party"], e["amount"]) for e in job["ledger"] if e["kind"] == "sale"]
    assert sales == [("sunco", "9.00")], (sales, job["trace"])
    assert [(d["partner"], d["status"]) for d in job["deliveries"]] == [("sunco", "delivered")]
