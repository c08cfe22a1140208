"""Simulated bidding buyers (issue 10, point 11), pinged over real HTTP on 127.0.0.1: the answer shape the
ping channels read by default, bid range, refusal and timeout rates under a seed, the stats, the recorded
ping bodies, a post carrying a bid's reference, a shutdown that no late answer holds up, and
``leadrelay partners test NAME --ping`` against a simulated bidding buyer."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import aiohttp
import orjson
import pytest

from leadrelay.adapters.channels.webhook_answers import classify
from leadrelay.domain.ping import BidStatus, bid_of
from leadrelay.simulate.bidding import BiddingOptions, Latency, parse_latency
from leadrelay.simulate.buyers import BuyersServer, BuyersThread, start_buyers
from tests.documents import base_config
from tests.integration.test_simulated_buyers import get, with_buyers
from tests.support import free_port, prepare, run_cli, wait_for

Answer = tuple[int, dict[str, Any]]
PING = {"zip3": "787", "state": "TX", "monthly_bill": 150}


async def ping(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any] | None = None,
    *,
    timeout_s: float = 10.0,
    headers: dict[str, str] | None = None,
) -> Answer | None:
    """One ping; None when no answer came within ``timeout_s`` (the client hangs up, as leadrelay does)."""
    try:
        async with session.post(
            url,
            json=body if body is not None else PING,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            return response.status, orjson.loads(await response.read())
    except TimeoutError:
        return None


PING_ZERO = {"received": 0, "bids": 0, "refusals": 0, "timeouts": 0, "tests": 0}


def read_as_a_ping_channel(status: int, answer: dict[str, Any]) -> Any:
    """The bid leadrelay reads from this answer with no response rules (the ping channels' default)."""
    result = classify(status, json.dumps(answer), None, None, 1.0, {}, content_type="application/json")
    return bid_of(result, list_price=99.0)


def test_a_bid_and_a_refusal_are_read_by_the_ping_channels_default_rules() -> None:
    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> list[Any]:
        answers = [await ping(session, server.ping_url("sunco")) for _ in range(40)]
        stats = await get(session, f"{server.base_url}/stats")
        return [answers, stats]

    answers, stats = with_buyers(
        scenario, bidding=BiddingOptions(bid_min=4, bid_max=9.5, refusal_rate=0.5), seed=11
    )
    bids = [a for a in answers if a[0] == 200]
    refusals = [a for a in answers if a[0] == 422]
    assert len(bids) + len(refusals) == 40 and bids and refusals
    for number, (status, answer) in enumerate(answers, 1):
        assert answer["reference"] == f"sunco-bid-{number}"  # one reference per ping, in order
        bid = read_as_a_ping_channel(status, answer)
        if status == 200:
            assert answer == {
                "status": "accepted",
                "accepted": True,
                "price": answer["price"],
                "reference": f"sunco-bid-{number}",
            }
            assert 4 <= answer["price"] <= 9.5
            assert (bid.status, bid.price, bid.reference) == (
                BidStatus.ACCEPTED,
                answer["price"],
                answer["reference"],
            )
        else:
            assert answer == {
                "status": "refused",
                "accepted": False,
                "reason": "no bid",
                "reference": f"sunco-bid-{number}",
            }
            assert (bid.status, bid.price, bid.reason) == (BidStatus.REFUSED, None, "no bid")
    assert stats["pings"]["sunco"] == PING_ZERO | {
        "received": 40,
        "bids": len(bids),
        "refusals": len(refusals),
    }
    assert stats["pings"]["buyer1"] == PING_ZERO
    assert stats["total_bids"] == len(bids)
    # pings are not posts: the post counters are untouched
    assert stats["buyers"]["sunco"]["received"] == 0 and stats["total_received"] == 0


def test_refusal_and_timeout_rates_over_many_pings_repeat_with_the_seed() -> None:
    options = BiddingOptions(
        latency=Latency.fixed(0),
        bid_min=1,
        bid_max=2,
        refusal_rate=0.3,
        timeout_rate=0.1,
        timeout_delay_s=0.8,
    )
    count = 200
    patience = 0.35  # an immediate answer comes well within it on a loaded machine; a late one never

    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> list[Any]:
        url = server.ping_url("buyer1")
        # concurrent, so that the late answers cost one delay, not one each; the answers are decided in the
        # order the pings arrive, which this client keeps by sending them one after the other
        tasks = []
        for _ in range(count):
            tasks.append(asyncio.create_task(ping(session, url, timeout_s=patience)))
            await asyncio.sleep(0.001)
        answers = await asyncio.gather(*tasks)
        return [answers, await get(session, f"{server.base_url}/stats")]

    started = time.monotonic()
    answers, stats = with_buyers(scenario, bidding=options, seed=5)
    assert time.monotonic() - started < 5  # no long sleeps: the late answers are cut short at stop
    timeouts = sum(1 for a in answers if a is None)
    refusals = sum(1 for a in answers if a is not None and a[0] == 422)
    bids = [a[1]["price"] for a in answers if a is not None and a[0] == 200]
    assert 8 <= timeouts <= 35  # 10 % of 200
    assert 40 <= refusals <= 85  # 30 %
    assert timeouts + refusals + len(bids) == count
    assert all(1 <= price <= 2 for price in bids)
    assert stats["pings"]["buyer1"] == PING_ZERO | {
        "received": count,
        "bids": len(bids),
        "refusals": refusals,
        "timeouts": timeouts,
    }

    async def one_by_one(server: BuyersServer, session: aiohttp.ClientSession) -> list[Any]:
        answers = [await ping(session, server.ping_url("buyer2"), timeout_s=patience) for _ in range(30)]
        return [None if a is None else (a[0], a[1].get("price")) for a in answers]

    first = with_buyers(one_by_one, bidding=options, seed=5)
    assert first == with_buyers(one_by_one, bidding=options, seed=5)
    assert first != with_buyers(one_by_one, bidding=options, seed=6)


def test_a_timeout_answers_late_and_never_holds_up_the_shutdown() -> None:
    async def run() -> tuple[float, float, Answer | None]:
        late = BiddingOptions(timeout_rate=1.0, timeout_delay_s=0.3)
        server = await start_buyers("127.0.0.1", 0, count=1, latency_ms=0, accept_rate=1.0, bidding=late)
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            answer = await ping(session, server.ping_url("buyer1"))
            waited = time.monotonic() - started
        await server.stop()
        stuck = BiddingOptions(timeout_rate=1.0, timeout_delay_s=30)
        server = await start_buyers("127.0.0.1", 0, count=1, latency_ms=0, accept_rate=1.0, bidding=stuck)
        async with aiohttp.ClientSession() as session:
            pending = asyncio.create_task(ping(session, server.ping_url("buyer1")))
            await asyncio.sleep(0.1)
            started = time.monotonic()
            await server.stop()
            stopping = time.monotonic() - started
            with contextlib.suppress(aiohttp.ClientError):  # answered at once, or hung up on
                await asyncio.wait_for(pending, 2)
        return waited, stopping, answer

    waited, stopping, answer = asyncio.run(run())
    assert 0.3 <= waited < 2.0
    assert answer is not None and answer[0] == 200 and answer[1]["accepted"] is True  # a late bid
    assert stopping < 2.0  # not the 30 s the buyer would have taken


def test_ping_latency_is_applied_and_sampled() -> None:
    async def timed(server: BuyersServer, session: aiohttp.ClientSession) -> list[float]:
        spent = []
        for _ in range(5):
            started = time.perf_counter()
            await ping(session, server.ping_url("buyer1"))
            spent.append(time.perf_counter() - started)
        return spent

    fixed = with_buyers(timed, bidding=BiddingOptions(latency=Latency.fixed(100)))
    assert all(0.1 <= s < 1.0 for s in fixed)
    spread = with_buyers(timed, bidding=BiddingOptions(latency=parse_latency("uniform:20,120")))
    assert all(0.02 <= s < 1.0 for s in spread)


def test_every_ping_body_is_recorded_with_the_fields_it_carried() -> None:
    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> list[Any]:
        await ping(session, server.ping_url("buyer1"), {"geo": {"state": "TX", "zip3": "787"}, "bill": 150})
        await ping(
            session, server.ping_url("buyer1"), {"age_band": "30-39"}, headers={"X-Leadrelay-Test": "1"}
        )
        async with session.post(
            server.ping_url("buyer1"), data={"state": "CA"}, timeout=aiohttp.ClientTimeout(total=5)
        ) as response:
            assert response.status in (200, 422)
        async with session.get(f"{server.ping_url('buyer1')}?state=OR") as response:
            assert response.status in (200, 422)
        async with session.post(
            server.ping_url("buyer1"), data=b"[1,", headers={"Content-Type": "application/json"}
        ) as response:
            assert (response.status, (await response.json())["status"]) == (400, "refused")
        return [
            await get(session, f"{server.ping_url('buyer1')}s"),
            await get(session, f"{server.ping_url('nobody')}s"),
            await get(session, f"{server.base_url}/stats"),
        ]

    pings, nobody, stats = with_buyers(scenario, bidding=BiddingOptions(refusal_rate=0.5))
    assert nobody == {"pings": [], "fields": []}
    assert pings["fields"] == ["age_band", "bill", "geo", "geo.state", "geo.zip3", "state"]
    recorded = pings["pings"]
    assert [(p["method"], p["query"], p["parsed"]) for p in recorded] == [
        ("POST", "", {"geo": {"state": "TX", "zip3": "787"}, "bill": 150}),
        ("POST", "", {"age_band": "30-39"}),
        ("POST", "", {"state": "CA"}),
        ("GET", "state=OR", {"state": "OR"}),
        ("POST", "", None),
    ]
    assert json.loads(recorded[0]["body"]) == {"geo": {"state": "TX", "zip3": "787"}, "bill": 150}
    assert recorded[1]["headers"]["X-Leadrelay-Test"] == "1"
    assert stats["pings"]["buyer1"]["received"] == 5 and stats["pings"]["buyer1"]["tests"] == 1


def test_a_post_carrying_a_bid_reference_is_answered_at_the_bid_and_recorded() -> None:
    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> list[Any]:
        first = await ping(session, server.ping_url("sunco"))
        second = await ping(session, server.ping_url("sunco"))
        assert first is not None and second is not None
        posts = []
        for body, headers in (
            ({"email": "a@example.com", "ping_reference": first[1]["reference"]}, {}),
            ({"email": "b@example.com"}, {"X-Ping-Reference": second[1]["reference"]}),
            ({"email": "c@example.com", "ping_reference": "someone-else-1"}, {}),
            ({"email": "d@example.com"}, {}),
        ):
            async with session.post(server.url("sunco"), json=body, headers=headers) as response:
                posts.append((response.status, orjson.loads(await response.read())))
        leads = await get(session, f"{server.url('sunco')}/leads")
        return [first[1], second[1], posts, leads["leads"]]

    first, second, posts, leads = with_buyers(scenario, bidding=BiddingOptions(bid_min=12, bid_max=30))
    assert [status for status, _ in posts] == [200] * 4
    assert [answer["price"] for _, answer in posts] == [first["price"], second["price"], 10.0, 10.0]
    assert [(lead.get("ping_reference"), lead.get("bid_price")) for lead in leads] == [
        (first["reference"], first["price"]),
        (second["reference"], second["price"]),
        ("someone-else-1", None),
        (None, None),
    ]
    assert "ping_reference" not in leads[3]  # a post without one is kept as before


def test_bidders_override_the_options_per_buyer() -> None:
    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> list[Any]:
        return [
            [await ping(session, server.ping_url(name)) for _ in range(5)]
            for name in ("buyer1", "buyer2", "cheap")
        ]

    buyer1, buyer2, cheap = with_buyers(
        scenario,
        bidding=BiddingOptions(bid_min=20, bid_max=20),
        bidders={"buyer2": BiddingOptions(refusal_rate=1.0), "cheap": BiddingOptions(bid_min=1, bid_max=1)},
    )
    assert {(a[0], a[1]["price"]) for a in buyer1} == {(200, 20.0)}
    assert {a[0] for a in buyer2} == {422}
    assert {(a[0], a[1]["price"]) for a in cheap} == {(200, 1.0)}


def test_thread_helper_pings() -> None:
    async def send(url: str) -> Answer | None:
        async with aiohttp.ClientSession() as session:
            return await ping(session, url)

    with BuyersThread(count=1, bidding=BiddingOptions(bid_min=3, bid_max=3)) as buyers:
        assert buyers.ping_url("buyer1") == f"http://127.0.0.1:{buyers.port}/buyer/buyer1/ping"
        assert asyncio.run(send(buyers.ping_url("buyer1"))) == (
            200,
            {"status": "accepted", "accepted": True, "price": 3.0, "reference": "buyer1-bid-1"},
        )
        assert buyers.stats()["pings"]["buyer1"]["bids"] == 1
        assert buyers.pings("buyer1")["fields"] == sorted(PING)
        buyers.reset()
        assert buyers.stats()["pings"]["buyer1"] == PING_ZERO and buyers.pings("buyer1")["pings"] == []


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ping-latency", "gamma:1"], "unknown distribution"),
        (["--ping-latency", "50", "--ping-latency-ms", "50"], "not both"),
        (["--bid-min", "10", "--bid-max", "5"], "bid_max"),
        (["--refusal-rate", "0.7", "--timeout-rate", "0.5"], "must not exceed 1"),
        (["--timeout-delay-ms", "90000"], "timeout-delay-ms"),
    ],
)
def test_bad_bidding_options_are_refused(args: list[str], message: str) -> None:
    done = run_cli(["simulate-buyers", "--port", "0", *args], {})
    assert done.returncode != 0
    assert message in done.stdout + done.stderr


def test_the_command_serves_bidding_buyers_with_its_options() -> None:
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "leadrelay",
        "simulate-buyers",
        "--port",
        str(port),
        "--count",
        "2",
        "--ping-latency",
        "uniform:1,5",
        "--bid-min",
        "2",
        "--bid-max",
        "3",
        "--refusal-rate",
        "0",
        "--seed",
        "9",
    ]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())

    async def pings() -> list[Answer | None]:
        async with aiohttp.ClientSession() as session:
            return [await ping(session, f"http://127.0.0.1:{port}/buyer/buyer2/ping") for _ in range(5)]

    def up() -> bool:
        try:
            return bool(asyncio.run(pings()))
        except aiohttp.ClientConnectionError:
            return False

    try:
        wait_for(up, timeout=20)
        answers = asyncio.run(pings())
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err.decode()
    assert "/buyer/<name>/ping" in out.decode()
    assert all(a is not None and a[0] == 200 and 2 <= a[1]["price"] <= 3 for a in answers)


# ---------------------------------------------------------------- a partner test against a bidding buyer


def test_partners_test_ping_against_a_simulated_bidding_buyer(sqlite_url: str) -> None:
    with BuyersThread(count=0, bidding=BiddingOptions(bid_min=6, bid_max=8, refusal_rate=1.0)) as buyers:
        doc = copy.deepcopy(base_config(buyers.url))
        doc["partners"]["sunco"]["ping"] = {"url": buyers.ping_url("sunco"), "timeout": "2s"}
        prepare(sqlite_url, doc)
        done = run_cli(
            ["partners", "test", "sunco", "--ping"], {"LEADRELAY_DATABASE_URL": sqlite_url, "COLUMNS": "200"}
        )
        assert done.returncode == 0, done.stderr
        shown = json.loads(done.stdout)
        # a test ping always gets a bid (a sandbox answer), whatever the refusal rate
        bid = shown["bid"]
        assert (bid["status"], bid["accepted"], bid["reference"], bid["reason"]) == (
            "accepted",
            True,
            "sunco-bid-1",
            None,
        )
        assert 6 <= bid["price"] <= 8
        assert buyers.stats()["pings"]["sunco"] == PING_ZERO | {"received": 1, "bids": 1, "tests": 1}
        [received] = buyers.pings("sunco")["pings"]
    body = received["parsed"]
    assert body["test"] is True and received["headers"]["X-Leadrelay-Test"] == "true"
    personal = {"first_name", "last_name", "email", "phone"}
    assert not personal & set(body), body  # no personal field ever arrives
