"""An auction's fallback after every post of a sale failed decides the sale again among the bids left, on
SQLite and PostgreSQL with real bidding buyers on loopback (issue 10, points 2 and 4)."""

from __future__ import annotations

from typing import Any

from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_auction import auction_config, fixed
from tests.integration.test_routing_flow import job_of, post, serve


def test_when_every_shared_post_is_refused_the_buyer_left_alone_pays_its_exclusive_bid(db_url: str) -> None:
    """shared max 2, max_posts 3, floor 5; shared bids at 60 %. brightpath (9.00 shared / 15 alone) and
    sunco (7.20 / 12) win the shared sale, and both refuse the post. One post is left: voltedge gets the
    lead alone, at its exclusive bid 9.00, not its shared 5.40."""
    prices = {n: fixed(p, shared_ratio=0.6) for n, p in (("sunco", 12), ("brightpath", 15), ("voltedge", 9))}
    with BuyersThread(bidders=prices) as buyers, BuyersThread(accept_rate=0.0, bidders=prices) as refusers:

        def post_url(name: str) -> Any:
            return buyers.url(name) if name == "voltedge" else refusers.url(name)

        doc = auction_config(post_url, buyers.ping_url, target={"floor": 5, "shared": {"max": 2}})
        with serve(db_url, doc) as server, server.client() as http:
            answer = post(http, state="CA", monthly_bill=180)
            job = job_of(http, answer["lead_id"])
    deliveries = {d["partner"]: (d["status"], d["price"]) for d in job["deliveries"]}
    assert deliveries == {
        "brightpath": ("failed", 9.0),
        "sunco": ("failed", 7.2),
        "voltedge": ("delivered", 9.0),
    }, job["trace"]
    assert (answer["status"], answer.get("price")) == ("delivered", 9.0), answer
    assert (
        "auction: shared sale: brightpath 9.00 + sunco 7.20 = 16.20, more than 15.00 exclusive"
        in job["trace"]
    )
    assert "voltedge: chosen (auction, bid 9.00, post 3 of 3)" in job["trace"], job["trace"]
