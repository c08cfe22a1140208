"""A waterfall whose ``max_posts`` are used up ends unsold without pinging another tier, on SQLite and
PostgreSQL with real bidding buyers on loopback."""

from __future__ import annotations

from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_auction import auction_config, fixed
from tests.integration.test_routing_flow import job_of, post, serve


def test_a_waterfall_with_no_post_left_does_not_ping_its_next_tier(db_url: str) -> None:
    """max_posts 1: tier 1's sunco wins at 40 and refuses the post. No post is left: the lead is unsold at
    once, and tier 2's brightpath and voltedge are never asked to bid for a lead they could not get."""
    with (
        BuyersThread(accept_rate=0.0, bidders={"sunco": fixed(40)}) as refusing,
        BuyersThread(accept_rate=1.0, bidders={"brightpath": fixed(20), "voltedge": fixed(20)}) as taking,
    ):

        def post_url(name: str) -> str:
            return refusing.url(name) if name == "sunco" else taking.url(name)

        def ping_url(name: str) -> str:
            return refusing.ping_url(name) if name == "sunco" else taking.ping_url(name)

        target = {
            "strategy": "waterfall",
            "deadline": "2s",
            "max_posts": 1,
            "tiers": [
                {"partners": ["sunco"], "strategy": "auction", "floor": 30},
                {"partners": ["brightpath", "voltedge"], "strategy": "priority", "floor": 10},
            ],
        }
        doc = auction_config(post_url, ping_url)
        doc["profiles"]["solar-main"]["rules"][0]["send_to"] = target
        with serve(db_url, doc) as server, server.client() as http:
            answer = post(http, state="CA", monthly_bill=180)
            job = job_of(http, answer["lead_id"])
        assert answer["status"] == "unsold"
        assert "auction: no sale after 1 post(s) (max_posts 1)" in job["trace"]
        assert not any(line.startswith("tier 2") for line in job["trace"]), job["trace"]
        assert {b["partner"] for b in job["bids"]} == {"sunco"}, job["bids"]
        pinged = {n: len(taking.pings(n)["pings"]) for n in ("brightpath", "voltedge")}
    assert pinged == {"brightpath": 0, "voltedge": 0}, (pinged, job["trace"])
