"""Ping-post auctions (issue 10, point 2) end to end, on SQLite and PostgreSQL: leadrelay's API and worker
ping simulated bidding buyers over real HTTP on 127.0.0.1, store every answer, post to the best bid at or
above the floor, fall back to the next bid when a post is refused, and never wait for a slow buyer."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from leadrelay.adapters.db.tables import jobs
from leadrelay.bootstrap import build_runtime
from leadrelay.config import Settings
from leadrelay.domain.auction import MAX_RESERVE_S, POST_RESERVE_S
from leadrelay.domain.health import Kind
from leadrelay.services.intake_answers import IntakeRequest
from leadrelay.simulate.bidding import BiddingOptions, Latency
from leadrelay.simulate.buyers import BuyersThread
from tests.documents import base_config
from tests.integration.test_routing_flow import job_of, post, serve, with_target
from tests.support import ADMIN, lead, prepare, source_headers, wait_for

PERSONAL = {"first_name", "last_name", "email", "phone"}


def fixed(price: float, **options: Any) -> BiddingOptions:
    return BiddingOptions(bid_min=price, bid_max=price, **options)


PRICES = {"sunco": 12, "brightpath": 15, "voltedge": 9}


@pytest.fixture
def bidders() -> Iterator[BuyersThread]:
    """sunco bids 12, brightpath 15, voltedge 9; posts are accepted (at the bid the post refers to)."""
    prices = {name: fixed(price) for name, price in PRICES.items()}
    with BuyersThread(accept_rate=1.0, bidders=prices) as buyers:
        yield buyers


@pytest.fixture
def refusers() -> Iterator[BuyersThread]:
    """Buyers that bid 15 on every ping and refuse every post."""
    with BuyersThread(accept_rate=0.0, bidding=fixed(15)) as buyers:
        yield buyers


def auction_config(
    post_url: Any, ping_url: Any, *, target: dict[str, Any] | None = None, **overrides: Any
) -> dict[str, Any]:
    """The solar configuration with a ping beside every partner's post, whose post carries the bid's
    reference; the west-coast rule is an auction over sunco, brightpath and voltedge (floor 10)."""
    doc = base_config(post_url)
    for name, partner in doc["partners"].items():
        partner["channel"]["webhook"]["mapping"] = {
            "first_name": "{{ lead.first_name }}",
            "phone": "{{ lead.phone }}",
            "ping_reference": "{{ ping.reference }}",
        }
        partner["ping"] = {"url": ping_url(name), "timeout": "2s"}
        partner.update(overrides.get(name, {}))
    rule = {"partners": ["sunco", "brightpath", "voltedge"], "strategy": "auction", "floor": 10}
    return with_target(doc, "rule", rule | (target or {}))


def test_the_highest_bid_wins_and_is_billed_at_its_bid(db_url: str, bidders: BuyersThread) -> None:
    doc = auction_config(bidders.url, bidders.ping_url)
    with serve(db_url, doc) as server, server.client() as http:
        answer = post(http, state="CA", monthly_bill=180)
        job = job_of(http, answer["lead_id"])
    assert answer["status"] == "delivered" and answer["partner"] == "brightpath"
    trace = job["trace"]
    assert "auction: pinging sunco, brightpath, voltedge (deadline 750 ms)" in trace
    assert any(line.startswith("sunco: bid 12.00 in ") for line in trace), trace
    assert any(line.startswith("brightpath: bid 15.00 in ") for line in trace), trace
    assert any(line.startswith("voltedge: bid 9.00 below the floor 10.00") for line in trace), trace
    assert "auction: brightpath wins at 15.00 (margin 3.00)" in trace
    assert "brightpath: chosen (auction, bid 15.00, post 1 of 3)" in trace
    [delivery] = job["deliveries"]
    assert (delivery["partner"], delivery["status"], delivery["price"]) == ("brightpath", "delivered", 15.0)
    bids = {b["partner"]: b for b in job["bids"]}
    assert {p: (b["status"], b["price"], b["rank"]) for p, b in bids.items()} == {
        "sunco": ("accepted", 12.0, 2),
        "brightpath": ("accepted", 15.0, 1),
        "voltedge": ("accepted", 9.0, None),  # below the floor: it does not count
    }
    assert bids["brightpath"]["margin"] == 3.0 and bids["brightpath"]["delivery_id"] == delivery["id"]
    assert bids["brightpath"]["floor"] == 10.0
    # the post carried the winning bid's reference; the buyer priced it at that bid
    [sold] = bidders.leads("brightpath")
    assert sold["ping_reference"] == bids["brightpath"]["reference"] == delivery["ping_reference"]
    assert sold["bid_price"] == 15.0
    assert bidders.leads("sunco") == [] and bidders.leads("voltedge") == []
    # no personal field in any ping, as the buyers received them
    for name in ("sunco", "brightpath", "voltedge"):
        received = bidders.pings(name)
        assert len(received["pings"]) == 1
        assert received["fields"] and PERSONAL.isdisjoint(received["fields"]), received["fields"]


def test_ties_go_by_priority_and_a_floor_nobody_reaches_leaves_the_lead_unsold(
    db_url: str,
) -> None:
    prices = {"sunco": fixed(12), "brightpath": fixed(12), "voltedge": fixed(12)}
    with BuyersThread(bidders=prices) as buyers:
        tie = auction_config(buyers.url, buyers.ping_url, target={"partners": ["voltedge", "sunco"]})
        with serve(db_url, tie) as server, server.client() as http:
            first = post(http, state="CA", monthly_bill=180)
        high = auction_config(buyers.url, buyers.ping_url, target={"floor": 20})
        with serve(db_url, high) as server, server.client() as http:
            unsold = post(http, state="CA", monthly_bill=180)
            job = job_of(http, unsold["lead_id"])
    assert first["partner"] == "voltedge"  # equal bids: the target's order
    assert unsold["status"] == "unsold"
    assert job["error"] == "no bid at or above the floor"
    assert all(b["rank"] is None and b["delivery_id"] is None for b in job["bids"])
    assert job["deliveries"] == []


def test_a_refused_post_goes_to_the_next_bid_never_below_the_floor(
    db_url: str, bidders: BuyersThread, refusers: BuyersThread
) -> None:
    """brightpath (15) refuses the post: sunco (12) gets it. voltedge bids 9, under the floor of 10, so when
    sunco refuses too the lead stays unsold rather than go to voltedge."""

    def post_url(name: str) -> str:
        return refusers.url(name) if name == "brightpath" else bidders.url(name)

    def ping_url(name: str) -> str:
        return refusers.ping_url(name) if name == "brightpath" else bidders.ping_url(name)

    doc = auction_config(post_url, ping_url)
    with serve(db_url, doc) as server, server.client() as http:
        answer = post(http, state="CA", monthly_bill=180)
        job = job_of(http, answer["lead_id"])
    assert answer["status"] == "delivered" and answer["partner"] == "sunco"
    assert "brightpath: chosen (auction, bid 15.00, post 1 of 3)" in job["trace"]
    assert "sunco: chosen (auction, bid 12.00, post 2 of 3)" in job["trace"]
    prices = {d["partner"]: (d["status"], d["price"]) for d in job["deliveries"]}
    assert prices == {"brightpath": ("failed", 15.0), "sunco": ("delivered", 12.0)}  # offered at its bid

    def refuse_all(name: str) -> str:
        return refusers.url(name) if name != "voltedge" else bidders.url(name)

    def ping_all(name: str) -> str:
        return refusers.ping_url(name) if name != "voltedge" else bidders.ping_url(name)

    doc = auction_config(refuse_all, ping_all)
    with serve(db_url, doc) as server, server.client() as http:
        answer = post(http, state="CA", monthly_bill=180)
        job = job_of(http, answer["lead_id"])
    assert answer["status"] == "unsold"
    assert [d["partner"] for d in job["deliveries"]] == ["sunco", "brightpath"]  # 15 each: priority
    assert job["error"] == "every bid was tried"
    assert bidders.leads("voltedge") == []


def test_max_posts_bounds_the_fallback(db_url: str, refusers: BuyersThread) -> None:
    doc = auction_config(refusers.url, refusers.ping_url, target={"max_posts": 1})
    with serve(db_url, doc) as server, server.client() as http:
        answer = post(http, state="CA", monthly_bill=180)
        job = job_of(http, answer["lead_id"])
    assert answer["status"] == "unsold"
    assert [d["partner"] for d in job["deliveries"]] == ["sunco"]
    assert job["error"] == "no sale after 1 post(s) (max_posts 1)"


def test_a_buyer_slower_than_the_deadline_never_wins_and_is_not_waited_for(db_url: str) -> None:
    """A 1 s deadline: with 300 ms, a loaded machine once answered sunco's 20 ms ping too late too."""
    slow = fixed(50, timeout_rate=1.0, timeout_delay_s=5.0)  # the best bid, 5 s late
    prices = {"sunco": fixed(12, latency=Latency("fixed", 20)), "brightpath": slow, "voltedge": fixed(11)}
    with BuyersThread(bidders=prices) as buyers:
        doc = auction_config(buyers.url, buyers.ping_url, target={"deadline": "1s"})
        with serve(db_url, doc) as server, server.client() as http:
            post(http, state="CA", monthly_bill=180)  # warm up: connections, the configuration
            started = time.monotonic()
            answer = post(http, state="CA", monthly_bill=180)
            took = time.monotonic() - started
            job = job_of(http, answer["lead_id"])
    assert answer.get("partner") == "sunco", (answer, job["trace"])
    assert took < 2.5, took  # the slow buyer answers after 5 s
    assert "brightpath: timeout (no answer within 1000 ms)" in job["trace"]
    bids = {b["partner"]: b for b in job["bids"]}
    assert bids["brightpath"]["status"] == "timeout" and bids["brightpath"]["price"] is None


def test_a_partner_at_its_cap_is_not_pinged_and_a_post_only_partner_bids_its_list_price(
    db_url: str, bidders: BuyersThread
) -> None:
    doc = auction_config(bidders.url, bidders.ping_url, brightpath={"caps": {"day": 1}})
    doc["partners"]["voltedge"].pop("ping")
    doc["partners"]["voltedge"]["price"] = 11
    with serve(db_url, doc) as server, server.client() as http:
        first = post(http, state="CA", monthly_bill=180)
        second = post(http, state="CA", monthly_bill=180)
        job = job_of(http, second["lead_id"])
    assert first["partner"] == "brightpath"
    assert second["partner"] == "sunco"
    assert "brightpath: cap day 1/1 reached (not pinged)" in job["trace"]
    assert "auction: pinging sunco (deadline 750 ms)" in job["trace"]
    assert "voltedge: list price 11.00 (post only, not pinged)" in job["trace"]
    assert len(bidders.pings("brightpath")["pings"]) == 1
    assert bidders.pings("voltedge")["pings"] == []
    assert {b["partner"]: b["rank"] for b in job["bids"]} == {"sunco": 1, "voltedge": 2}


# ---------------------------------------------------------------- ping trees (waterfall)


def _waterfall(buyers: BuyersThread, *tiers: dict[str, Any]) -> dict[str, Any]:
    doc = auction_config(buyers.url, buyers.ping_url)
    doc["profiles"]["solar-main"]["rules"][0]["send_to"] = {"strategy": "waterfall", "tiers": list(tiers)}
    return doc


def test_a_waterfall_goes_down_its_tiers_until_the_lead_is_sold(db_url: str, bidders: BuyersThread) -> None:
    """Tier 1 wants 20 and brightpath bids 15: nothing sells there. Tier 2 is an auction with no floor:
    sunco's 12 beats voltedge's 9. The deadline is 5 s, not the default 750 ms: once, on a loaded CI
    machine (PostgreSQL), the lead was answered without a sale, most likely because the 750 ms had passed
    before tier 2, which is right. The deadline across tiers has its own test below; a failure here
    shows the answer and the trace."""
    doc = _waterfall(
        bidders,
        {"partners": ["brightpath"], "strategy": "priority", "floor": 20},
        {"partners": ["sunco", "voltedge"], "strategy": "auction"},
    )
    doc["profiles"]["solar-main"]["rules"][0]["send_to"]["deadline"] = "5s"
    with serve(db_url, doc) as server, server.client() as http:
        answer = post(http, state="CA", monthly_bill=180)
        job = job_of(http, answer["lead_id"])
    trace = job["trace"]
    assert answer.get("partner") == "sunco", (answer, trace)
    first = trace.index("tier 1 (priority): pinging brightpath (deadline 5000 ms)")
    second = next(
        i for i, line in enumerate(trace) if line.startswith("tier 2 (auction): pinging sunco, voltedge")
    )
    assert first < second
    assert any(line.startswith("brightpath: bid 15.00 below the floor 20.00") for line in trace), trace
    assert "tier 2: sunco wins at 12.00 (margin 3.00)" in trace
    assert {(b["partner"], b["rank"]) for b in job["bids"]} == {
        ("brightpath", None),
        ("sunco", 1),
        ("voltedge", 2),
    }
    assert [d["price"] for d in job["deliveries"]] == [12.0]
    assert bidders.pings("sunco")["pings"] and bidders.pings("brightpath")["pings"]


def test_a_priority_tier_sells_to_the_first_partner_that_bids_and_post_only_partners_sit_in_tiers(
    db_url: str, bidders: BuyersThread
) -> None:
    doc = _waterfall(
        bidders,
        {"partners": ["voltedge", "brightpath"], "strategy": "priority"},
        {"partners": ["sunco"]},
    )
    with serve(db_url, doc) as server, server.client() as http:
        answer = post(http, state="CA", monthly_bill=180)
        job = job_of(http, answer["lead_id"])
    assert answer["partner"] == "voltedge"  # first in the tier's order, though brightpath bid more
    assert "tier 1: voltedge first in priority order at 9.00" in job["trace"]
    assert not any(line.startswith("tier 2") for line in job["trace"])

    post_only = _waterfall(bidders, {"partners": ["voltedge"], "floor": 10}, {"partners": ["sunco"]})
    post_only["partners"]["voltedge"].pop("ping")
    post_only["partners"]["voltedge"]["price"] = 8  # its list price, below tier 1's floor
    post_only["partners"]["sunco"].pop("ping")
    post_only["partners"]["sunco"]["price"] = 25
    with serve(db_url, post_only) as server, server.client() as http:
        answer = post(http, state="CA", monthly_bill=180)
        job = job_of(http, answer["lead_id"])
    assert answer["partner"] == "sunco"
    assert "voltedge: list price 8.00 (post only, not pinged)" in job["trace"]
    assert "tier 2 (priority): pinging nobody (post-only partners) (deadline 750 ms)" in job["trace"]
    assert job["deliveries"][0]["price"] == 25.0


# ---------------------------------------------------------------- shared and exclusive


def test_a_shared_sale_goes_to_exactly_n_when_their_sum_earns_more(db_url: str) -> None:
    """shared max 2, floor 5. Shared bids at 60 %: brightpath 9.00 + sunco 7.20 = 16.20 beats brightpath's
    15 alone; voltedge (5.40) is not posted. At 40 % the shared bids are 6.00 and 4.80 (below the floor):
    6.00 < 15, so brightpath buys the lead exclusively."""
    for ratio, expected in ((0.6, {"brightpath": 9.0, "sunco": 7.2}), (0.4, {"brightpath": 15.0})):
        prices = {
            n: fixed(p, shared_ratio=ratio) for n, p in (("sunco", 12), ("brightpath", 15), ("voltedge", 9))
        }
        with BuyersThread(bidders=prices) as buyers:
            doc = auction_config(buyers.url, buyers.ping_url, target={"floor": 5, "shared": {"max": 2}})
            doc["partners"]["sunco"]["dedup"] = {"keys": ["phone"], "window": "30d"}
            with serve(db_url, doc) as server, server.client() as http:
                answer = post(http, state="CA", monthly_bill=180)
                job = job_of(http, answer["lead_id"])
                again = job_of(http, post(http, state="CA", monthly_bill=180)["lead_id"])
            sold = {d["partner"]: d["price"] for d in job["deliveries"] if d["status"] == "delivered"}
            assert sold == expected, (ratio, job["trace"])
            assert len(buyers.leads("voltedge")) == 0
            if ratio == 0.6:
                assert (
                    "auction: shared sale: brightpath 9.00 + sunco 7.20 = 16.20, more than 15.00 exclusive"
                    in (job["trace"])
                )
                # every bid ranked for the shared sale; the two best got posts
                assert {b["partner"]: (b["sold_as"], b["delivery_id"] is not None) for b in job["bids"]} == {
                    "sunco": ("shared", True),
                    "brightpath": ("shared", True),
                    "voltedge": ("shared", False),
                }
                # the same person again: sunco's dedup holds, so it is not pinged; without it the shared
                # bids (9.00 + 5.40) no longer beat brightpath's 15 alone
                assert any(
                    "already received this person" in line and "sunco" in line for line in again["trace"]
                )
                assert "auction: exclusive sale: 15.00 is more than 14.40 shared" in again["trace"]
                assert {d["partner"] for d in again["deliveries"]} == {"brightpath"}
            else:
                assert "auction: exclusive sale: 15.00 is more than 6.00 shared" in job["trace"]


def test_a_waterfalls_deadline_counts_from_its_first_pings_even_when_its_first_tier_is_empty(
    db_url: str,
) -> None:
    """Tier 1 has nobody (voltedge is paused); tier 2's sunco answers its ping after 400 ms and refuses
    the post 150 ms later: the 450 ms deadline has passed, so tier 3 is never pinged."""
    prices = {"sunco": fixed(12, latency=Latency("fixed", 400)), "brightpath": fixed(15)}
    with (
        BuyersThread(bidders=prices, accept_rate=0.0, latency_ms=150) as refusing,
        BuyersThread(bidders=prices) as accepting,
    ):

        def post_url(name: str) -> str:
            return refusing.url(name) if name == "sunco" else accepting.url(name)

        def ping_url(name: str) -> str:
            return refusing.ping_url(name) if name == "sunco" else accepting.ping_url(name)

        doc = auction_config(post_url, ping_url, voltedge={"paused": True})
        doc["profiles"]["solar-main"]["rules"][0]["send_to"] = {
            "strategy": "waterfall",
            "deadline": "450ms",
            "tiers": [{"partners": ["voltedge"]}, {"partners": ["sunco"]}, {"partners": ["brightpath"]}],
        }
        with serve(db_url, doc) as server, server.client() as http:
            answer = post(http, state="CA", monthly_bill=180)
            job = job_of(http, answer["lead_id"])
        assert accepting.pings("brightpath")["pings"] == []
    assert answer["status"] == "unsold"
    assert job["error"] == "the deadline (450 ms) passed before tier 3", job["trace"]


def test_a_rerun_auctions_the_lead_afresh(db_url: str, refusers: BuyersThread) -> None:
    doc = auction_config(refusers.url, refusers.ping_url, target={"max_posts": 1})
    with serve(db_url, doc) as server, server.client() as http:
        answer = post(http, state="CA", monthly_bill=180)
        job = job_of(http, answer["lead_id"])
        assert job["status"] == "unsold"
        r = http.post(f"/v1/distributions/{job['id']}/rerun", json={"reason": "try again"}, headers=ADMIN)
        assert r.status_code == 200, r.text
        again = wait_for(
            lambda: (j := job_of(http, answer["lead_id"]))["status"] == "unsold" and j, timeout=20
        )
    bids = again["bids"]
    assert len(bids) == 6 and sum(1 for b in bids if b["superseded"]) == 3  # a fresh auction, not resumed
    # pinged again (on a loaded machine the ping may be cut at the deadline before the buyer reads it)
    [fresh] = [b for b in bids if b["partner"] == "sunco" and not b["superseded"]]
    assert len(refusers.pings("sunco")["pings"]) == 2 or fresh["status"] == "timeout"
    assert [d["partner"] for d in again["deliveries"]] == ["sunco", "sunco"]


def test_a_source_waiting_less_than_the_deadline_gets_the_sale_in_time(db_url: str) -> None:
    """The rule gives the pings 2 s but the source waits 1.5 s: the pings end early enough for the award
    and the post (at least 150 ms before, more when the worker's recent awards and posts took longer; at
    least half the wait), and the source is answered with the sale, not ``queued``. Without the shortened
    pings every answer is ``queued``: the 5 s buyer holds the auction for the rule's whole 2 s.

    Timing still, on a machine shared with the rest of the suite: with the suite's four workers at their
    busiest on 2 cores, an award and a post have taken longer than the room one warm-up taught (a 0.9 s
    wait, 600 ms of room, answered ``queued`` after 0.98 s). The room is learnt from the worker's recent
    sales, so a new lead is sent, at most three times: one of them must be sold within the wait, and every
    one's pings must have ended early enough for the room's floor."""
    slow = fixed(50, timeout_rate=1.0, timeout_delay_s=5.0)
    prices = {"sunco": fixed(12, latency=Latency("fixed", 20)), "brightpath": slow, "voltedge": fixed(11)}
    tries: list[tuple[dict[str, Any], float, list[str]]] = []
    with BuyersThread(bidders=prices) as buyers:
        doc = auction_config(buyers.url, buyers.ping_url, target={"deadline": "2s"})
        with serve(db_url, doc) as server, server.client() as http:
            post(http, state="CA", monthly_bill=180)  # warm up
            while len(tries) < 3:
                started = time.monotonic()
                r = http.post("/v1/leads?wait=1.5", json=lead(state="CA"), headers=source_headers())
                took = time.monotonic() - started
                answer, trace = r.json(), job_of(http, r.json()["lead_id"])["trace"]
                tries.append((answer, took, trace))
                pinging = next(line for line in trace if line.startswith("auction: pinging"))
                assert pinging.endswith(", to answer the source in time)"), pinging
                # the room is never under its floor: the pings end 150 ms or more before the answer
                window = re.search(r"deadline (\d+) ms", pinging)
                assert window is not None and int(window[1]) <= 1500 - 150, pinging
                if answer["status"] == "delivered":
                    break
    answer, took, trace = tries[-1]
    assert answer["status"] == "delivered" and answer["partner"] == "sunco", tries
    assert took < 2.0, took  # the 5 s buyer was not waited for, nor the rule's 2 s


@pytest.mark.parametrize(("ping_ms", "post_ms"), [(0, 300), (1200, 0)], ids=["slow-post", "slow-pings"])
def test_the_worker_keeps_as_much_room_as_its_auctions_lately_took_after_their_pings(
    db_url: str, ping_ms: int, post_ms: int
) -> None:
    """After one sale, the worker's auctions keep twice what it took from the pings' end to done for a
    waiting source's award and post (``domain.auction.PostReserve``): a post answered after 300 ms is part
    of that time; pings answered after 1.2 s are not (the time is below theirs, however loaded the machine
    that awards, posts and records)."""
    prices = {name: fixed(price, latency=Latency("fixed", ping_ms)) for name, price in PRICES.items()}
    with BuyersThread(latency_ms=post_ms, bidders=prices) as buyers:
        prepare(db_url, auction_config(buyers.url, buyers.ping_url, target={"deadline": "1500ms"}))

        async def sell_one() -> tuple[float, tuple[float, ...], float]:
            rt = build_runtime(Settings(database_url=db_url))
            worker = rt.new_worker()
            try:
                before = worker.steps.reserve.seconds
                request = IntakeRequest("web", "solar", lead(state="CA", monthly_bill=180))
                assert (await rt.intake.accept(request)).status == "queued"
                async with asyncio.timeout(30):
                    assert await worker.run_until_idle() == 1
                return before, worker.steps.reserve.recent, worker.steps.reserve.seconds
            finally:
                await rt.channels.close()
                rt.db.dispose()

        before, [took], after = asyncio.run(sell_one())
    assert before == POST_RESERVE_S and after == min(MAX_RESERVE_S, max(POST_RESERVE_S, 2 * took))
    if post_ms:
        assert took >= post_ms / 1000, took
    else:
        assert took < ping_ms / 1000, took  # the pings' own time is not in it


def test_a_ping_cut_for_a_waiting_source_is_not_charged_to_a_buyer_that_usually_needs_longer(
    db_url: str,
) -> None:
    """brightpath answers its pings after 500 ms, voltedge never. A lead without a wait hears both out
    (750 ms); a lead whose source waits 0.6 s then cuts their pings at 450 ms: neither is charged with
    that cut (both usually took longer), so each partner's health holds one ping, not two."""
    prices = {
        "sunco": fixed(12),
        "brightpath": fixed(15, latency=Latency("fixed", 500)),
        "voltedge": fixed(9, timeout_rate=1.0, timeout_delay_s=5.0),
    }
    with BuyersThread(bidders=prices) as buyers:
        prepare(db_url, auction_config(buyers.url, buyers.ping_url))

        async def sell_two() -> dict[str, tuple[int, int, int]]:
            rt = build_runtime(Settings(database_url=db_url))
            worker = rt.new_worker()
            try:
                first = IntakeRequest("web", "solar", lead(state="CA", monthly_bill=180))
                assert (await rt.intake.accept(first)).status == "queued"
                async with asyncio.timeout(30):
                    assert await worker.run_until_idle() == 1
                second = IntakeRequest("web", "solar", lead(state="CA", monthly_bill=180))
                lead_id = (await rt.intake.accept(second)).lead_id
                due = datetime.now(UTC) + timedelta(seconds=0.6)
                query = update(jobs).where(jobs.c.lead_id == lead_id).values(answer_by=due)
                rt.db.transaction(lambda conn: conn.execute(query))
                async with asyncio.timeout(30):
                    assert await worker.run_until_idle() == 1
                now = datetime.now(UTC)
                return {name: worker.health.counts(name, Kind.PING, now, 300) for name in prices}
            finally:
                await rt.channels.close()
                rt.db.dispose()

        counts = asyncio.run(sell_two())
    assert counts["sunco"][0] == 2  # answered both at once
    assert counts["brightpath"][0] == 1 and counts["voltedge"] == (1, 0, 1), counts
