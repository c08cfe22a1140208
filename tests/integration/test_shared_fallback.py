"""A shared auction sale some of whose buyers cannot take the lead (a review of 2026-12-06 found both): a
lower bidder in a dropped buyer's place does not beat an exclusive bid that earns more, and when none can,
the best exclusive bid that can buys it; on SQLite and PostgreSQL with real bidding buyers on loopback."""

from __future__ import annotations

from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_auction import auction_config, fixed
from tests.integration.test_routing_flow import job_of, post, serve
from tests.support import ADMIN


def test_a_shared_buyer_that_cannot_take_the_lead_is_not_replaced_by_one_that_earns_less_than_exclusive(
    db_url: str,
) -> None:
    """shared max 2, floor 5, shared bids at 60 %: brightpath 9.00 + sunco 7.20 = 16.20 beats brightpath's
    15 alone. sunco's wallet cannot pay 7.20, so fewer of the chosen shared buyers can take the lead: the
    shared prices of those that can must still earn more than the best exclusive bid that can be reserved
    (README, shared sales). voltedge's 5.40 filling sunco's place makes 9.00 + 5.40 = 14.40, less than
    brightpath's 15.00 alone: the lead must be sold to brightpath exclusively at 15.00."""
    prices = {n: fixed(p, shared_ratio=0.6) for n, p in (("sunco", 12), ("brightpath", 15), ("voltedge", 9))}
    with BuyersThread(accept_rate=1.0, bidders=prices) as buyers:
        doc = auction_config(
            buyers.url,
            buyers.ping_url,
            target={"floor": 5, "shared": {"max": 2}},
            sunco={"wallet": {"credit_limit": 0}},
        )
        with serve(db_url, doc) as server, server.client() as http:
            answer = post(http, state="CA", monthly_bill=180)
            job = job_of(http, answer["lead_id"])
            r = http.get("/v1/reports", params={"grain": "day", "by": "partner"}, headers=ADMIN)
            assert r.status_code == 200, r.text
    assert (
        "auction: shared sale: brightpath 9.00 + sunco 7.20 = 16.20, more than 15.00 exclusive"
        in job["trace"]
    )
    # stored as the exclusive sale it became: ranked so, the winner's margin over the next bid, and counted
    # in the report's exclusive auctions with what was left on the table
    assert {b["partner"]: (b["rank"], b["sold_as"], b["margin"]) for b in job["bids"]} == {
        "brightpath": (1, "exclusive", 3.0),
        "sunco": (2, "exclusive", None),
        "voltedge": (3, "exclusive", None),
    }, job["bids"]
    [row] = [row for row in r.json()["items"] if row["partner"] == "brightpath"]
    assert (row["auctions"], row["left_on_table"]) == (1, "3.00"), row
    sales = sorted((e["party"], e["amount"]) for e in job["ledger"] if e["kind"] == "sale")
    assert sales == [("brightpath", "15.00")], (
        f"sold shared below the best reservable exclusive bid: {sales}",
        job["trace"],
    )


def test_when_none_of_the_shared_buyers_can_take_the_lead_the_best_exclusive_bid_buys_it(db_url: str) -> None:
    """shared max 2, floor 5: sunco bids 15 alone (no shared bid); brightpath 10 (shared 9.00) and
    voltedge 10 (shared 8.00): 9.00 + 8.00 = 17.00 beats 15.00, a shared sale. Neither shared buyer's wallet
    can pay: fewer of the shared buyers can take the lead (none) than were chosen, so the shared prices of
    those that can (0.00) must still earn more than the best exclusive bid that can be reserved; else the
    lead is sold exclusive at that bid (README, shared sales). sunco can take it: it must buy it at 15.00,
    not leave the lead unsold."""
    prices = {
        "sunco": fixed(15),
        "brightpath": fixed(10, shared_ratio=0.9),
        "voltedge": fixed(10, shared_ratio=0.8),
    }
    with BuyersThread(accept_rate=1.0, bidders=prices) as buyers:
        doc = auction_config(
            buyers.url,
            buyers.ping_url,
            target={"floor": 5, "shared": {"max": 2}},
            brightpath={"wallet": {"credit_limit": 0}},
            voltedge={"wallet": {"credit_limit": 0}},
        )
        with serve(db_url, doc) as server, server.client() as http:
            answer = post(http, state="CA", monthly_bill=180)
            job = job_of(http, answer["lead_id"])
    assert (
        "auction: shared sale: brightpath 9.00 + voltedge 8.00 = 17.00, more than 15.00 exclusive"
        in job["trace"]
    )
    assert (answer["status"], answer.get("partner"), answer.get("price")) == ("delivered", "sunco", 15.0), (
        f"the reservable exclusive bid did not buy the lead: {answer}",
        job["trace"],
    )
