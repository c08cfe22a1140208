"""A waterfall's rule-level ``floor`` is the floor of each tier that has none of its own (README: "a tier has
its own floor, else the rule's"): voltedge's bid of 9.00 does not win under the rule's floor of 10, and a
tier's own floor still wins over the rule's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_auction import PRICES, _waterfall, fixed
from tests.integration.test_routing_flow import job_of, post, serve


@pytest.fixture
def bidders() -> Iterator[BuyersThread]:
    with BuyersThread(accept_rate=1.0, bidders={n: fixed(p) for n, p in PRICES.items()}) as buyers:
        yield buyers


@pytest.mark.sqlite_only
def test_a_tier_without_a_floor_sells_at_no_less_than_the_rules_floor(
    sqlite_url: str, bidders: BuyersThread
) -> None:
    doc = _waterfall(
        bidders,
        {"partners": ["voltedge"], "strategy": "auction"},  # bids 9: under the rule's 10
        {"partners": ["sunco"], "strategy": "auction", "floor": 5},  # bids 12: its own floor, 5
    )
    doc["profiles"]["solar-main"]["rules"][0]["send_to"]["floor"] = 10
    with serve(sqlite_url, doc) as server, server.client() as http:
        answer = post(http, state="CA", monthly_bill=180)
        job = job_of(http, answer["lead_id"])
    assert (answer["status"], answer["partner"], answer["price"]) == ("delivered", "sunco", 12.0), job[
        "trace"
    ]
    assert any(line.startswith("voltedge: bid 9.00 below the floor 10.00") for line in job["trace"]), job[
        "trace"
    ]
    floors = {b["partner"]: b["floor"] for b in job["bids"]}
    assert floors == {"voltedge": 10.0, "sunco": 5.0}
