"""What a supplier ping's quote holds to, on SQLite and PostgreSQL: its bids were made for the values pinged,
so a lead sent with the token but carrying other values (a better state, a bigger bill) is refused, naming
them, and leaves the token unused; a lead that the rules route elsewhere than the ping (by a field the ping
left out) is auctioned afresh; and the quote is told as the lead's answer is: the buyer's price only to a
source that may see it, the source's own payout to a source that is paid."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_auction import auction_config, fixed
from tests.integration.test_routing_flow import job_of, serve
from tests.integration.test_supplier_ping import PARTIAL, ping, post_lead, stored_pings
from tests.support import ADMIN


@pytest.fixture
def bidders() -> Iterator[BuyersThread]:
    """sunco bids 12, brightpath 15, voltedge 9; posts are accepted."""
    prices = {"sunco": fixed(12), "brightpath": fixed(15), "voltedge": fixed(9)}
    with BuyersThread(accept_rate=1.0, bidders=prices) as buyers:
        yield buyers


def config(bidders: BuyersThread, **source: Any) -> dict[str, Any]:
    """The west-coast rule (CA, OR, WA) an auction with a floor of 10; any other lead an auction over the
    same buyers with a floor of 1."""
    doc = auction_config(bidders.url, bidders.ping_url, target={"deadline": "3s"})
    everyone = ["sunco", "brightpath", "voltedge"]
    doc["profiles"]["solar-main"]["default"] = {"partners": everyone, "strategy": "auction", "floor": 1}
    doc["sources"]["web"].update(source)
    return doc


def pings_of(bidders: BuyersThread) -> int:
    return sum(len(bidders.pings(name)["pings"]) for name in ("sunco", "brightpath", "voltedge"))


@pytest.mark.parametrize(
    ("pinged", "sent", "differ"),
    [
        ({"state": "CA"}, {"state": "TX"}, "state"),  # another rule, a lower floor
        ({"monthly_bill": 900}, {"monthly_bill": 120}, "monthly_bill"),  # a buyer bids on the bill
        ({"state": "CA", "monthly_bill": 900}, {"state": "WA", "monthly_bill": 90}, "monthly_bill, state"),
        ({"state": "CA"}, {"state": None}, "state"),  # left out of the lead
    ],
)
def test_a_lead_whose_pinged_values_differ_is_refused_naming_them_and_the_token_stays_unused(
    db_url: str, bidders: BuyersThread, pinged: dict[str, Any], sent: dict[str, Any], differ: str
) -> None:
    with serve(db_url, config(bidders)) as server, server.client() as http:
        quote = ping(http, {"entity": "solar", **PARTIAL, **pinged}).json()
        assert quote["accepted"] is True, quote
        r = post_lead(http, quote["ping_token"], **sent)
        assert r.status_code == 422, r.text
        [problem] = r.json()["errors"]
        assert problem["field"] == "ping_token"
        verb = "are" if "," in differ else "is"
        assert f"the lead's {differ} {verb} not what was pinged" in problem["error"], problem
        [row] = stored_pings(db_url)
        assert row["used_at"] is None and row["lead_id"] is None  # the token is still good
        assert set(row["value_marks"]) == set(PARTIAL) | set(pinged)  # digests, not the values
        assert "94103" not in str(row["value_marks"]) and "CA" not in str(row["value_marks"])

        same = {
            **PARTIAL,
            **pinged,
        }  # the lead as pinged: its token holds (the same value, written otherwise)
        same["zip"] = " 94103 "
        r = post_lead(http, quote["ping_token"], **same)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "delivered", r.json()


def test_a_lead_the_rules_route_elsewhere_than_its_ping_is_auctioned_afresh(
    db_url: str, bidders: BuyersThread
) -> None:
    with serve(db_url, config(bidders)) as server, server.client() as http:
        without_state = {k: v for k, v in PARTIAL.items() if k != "state"}
        quote = ping(http, {"entity": "solar", **without_state}).json()  # the default rule: floor 1
        assert quote["accepted"] is True and pings_of(bidders) == 3, quote
        answer = post_lead(http, quote["ping_token"], state="CA").json()  # the west-coast rule: floor 10
        job = job_of(http, answer["lead_id"])
    trace = job["trace"]
    assert "auction: the stored bids were for rule default, not west-coast: a new auction" in trace, trace
    assert pings_of(bidders) == 6  # pinged again, under the lead's own rule
    assert (answer["status"], answer["partner"], answer["price"]) == ("delivered", "brightpath", 15.0)
    standing = {b["floor"] for b in job["bids"] if not b["superseded"]}
    assert standing == {10.0}, job["bids"]  # the ping's bids (floor 1) are history only


def test_the_quote_tells_a_paid_source_its_payout_and_the_buyers_price_only_to_a_source_that_sees_it(
    db_url: str, bidders: BuyersThread
) -> None:
    paid_blind = config(bidders, show_buyer=False, payout={"share": 0.5})
    with serve(db_url, paid_blind) as server, server.client() as http:
        quote = ping(http, {"entity": "solar", **PARTIAL}).json()
        assert (quote["accepted"], quote["price"], quote["payout"]) == (True, None, "7.50"), quote
        answer = post_lead(http, quote["ping_token"]).json()
    assert answer["status"] == "delivered" and "price" not in answer and "partner" not in answer, answer
    assert answer["payout"] == quote["payout"]  # what it was quoted is what it is paid

    seeing = config(bidders)  # the test source: show_buyer, not paid
    with serve(db_url, seeing) as server, server.client() as http:
        quote = ping(http, {"entity": "solar", **PARTIAL}).json()
    assert (quote["accepted"], quote["price"], quote["payout"]) == (True, 15.0, None), quote


@pytest.mark.parametrize(
    ("quoted", "changed", "paid"),
    [
        ({"share": 0.5}, {"share": 0.3}, "-7.50"),  # 50 % of the bid of 15.00, as quoted
        ({"fixed": 4, "on": "accepted"}, {"fixed": 2, "on": "accepted"}, "-4.00"),  # paid on acceptance
        ({"fixed": 4}, {"share": 0.5}, "-4.00"),  # fixed per lead as quoted, whatever the terms now
        ({"fixed": 4}, None, "-4.00"),  # the source no longer paid: the quote still is
    ],
)
def test_the_lead_with_its_token_is_paid_the_quoted_payout_when_the_terms_changed_since(
    db_url: str, bidders: BuyersThread, quoted: dict[str, Any], changed: dict[str, Any] | None, paid: str
) -> None:
    with serve(db_url, config(bidders, payout=quoted)) as server, server.client() as http:
        quote = ping(http, {"entity": "solar", **PARTIAL}).json()
        assert quote["payout"] == paid.lstrip("-"), quote
        now = {**config(bidders)["sources"]["web"], **({"payout": changed} if changed else {})}
        r = http.put("/v1/sources/web", json=now, headers=ADMIN)
        assert r.status_code == 200, r.text
        answer = post_lead(http, quote["ping_token"]).json()
        assert answer["status"] == "delivered", answer
        later = post_lead(http, None, email="grace@example.com", phone="(512) 555-0199").json()
        payouts, later_payouts = (payouts_of(http, lead["lead_id"]) for lead in (answer, later))
    assert payouts == [paid], payouts
    assert later_payouts != [paid], later_payouts  # a lead without a quote: the terms in force


def payouts_of(http: Any, lead_id: str) -> list[str]:
    r = http.get("/v1/ledger", params={"lead": lead_id}, headers=ADMIN)
    assert r.status_code == 200, r.text
    return [e["amount"] for e in r.json()["items"] if e["kind"] == "payout"]
