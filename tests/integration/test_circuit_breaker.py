"""The circuit breaker opens and recovers (issue 10, point 10), against real simulated buyers on 127.0.0.1,
on SQLite and PostgreSQL: a buyer answering 500s (or too slowly) opens its partner's breaker; routing skips
the partner with the reason in the trace; after the cool-down (the worker's clock, moved by the test) one
trial lead goes and the breaker closes once the buyer is back. Every move is audited, and the admin API
shows the partner's health and breaker."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from leadrelay.adapters.db import breaker_store
from leadrelay.adapters.db.engine import Database
from leadrelay.bootstrap import Runtime, build_runtime
from leadrelay.config import Settings
from leadrelay.entrypoints.worker import Worker
from leadrelay.services.intake_answers import IntakeRequest
from leadrelay.simulate.bidding import BiddingOptions, Latency
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_auction import auction_config
from tests.integration.test_cli import cli
from tests.integration.test_routing_flow import job_of, post, serve
from tests.support import ADMIN, ServerThread, base_config, lead, prepare

BREAKER = {"min_requests": 3, "error_rate": "50%", "timeout_rate": "50%", "window": "5m", "cool_down": "60s"}


class Clock:
    """The wall clock plus an offset the test moves (leads posted now are due at once)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def _document(sunco_url: str, healthy: BuyersThread, timeout: str = "5s") -> dict[str, Any]:
    hook = {"url": sunco_url, "timeout": timeout, "max_attempts": 1}  # no retry: each lead, one attempt
    return base_config(healthy.url, sunco={"channel": {"webhook": hook}, "breaker": BREAKER})


async def _sell(rt: Runtime, worker: Worker, count: int = 1) -> list[str]:
    ids = []
    for _ in range(count):
        answer = await rt.intake.accept(IntakeRequest("web", "solar", lead(state="CA", monthly_bill=180)))
        assert answer.status == "queued"
        ids.append(answer.lead_id)
    await worker.run_until_idle()
    return ids


def _run(url: str, scenario: Callable[[Runtime, Worker, Clock], Any]) -> Any:
    async def main() -> Any:
        rt = build_runtime(Settings(database_url=url))
        clock = Clock()
        worker = Worker(
            rt.storage, rt.configs, rt.channels, rt.notifier, rt.sealer, clock=clock, health=rt.health
        )
        try:
            async with asyncio.timeout(60):
                return await scenario(rt, worker, clock)
        finally:
            await rt.channels.close()
            rt.db.dispose()

    return asyncio.run(main())


def _breaker_audit(http: Any) -> list[tuple[str, str, str, str | None]]:
    entries = http.get("/v1/audit", headers=ADMIN).json()["items"]
    found = [
        (e["action"], e["actor"], e["detail"]["before"], e["detail"]["reason"])
        for e in entries
        if e["action"].startswith("partner.breaker") and e["object_id"] == "sunco"
    ]
    return sorted(found)


def test_the_circuit_breaker_opens_and_recovers(
    db_url: str, healthy: BuyersThread, failing: BuyersThread
) -> None:
    prepare(db_url, _document(failing.url("sunco"), healthy))

    async def scenario(rt: Runtime, worker: Worker, clock: Clock) -> dict[str, Any]:
        erred = await _sell(rt, worker, 3)  # three 500s of three: the breaker opens
        (skipped,) = await _sell(rt, worker)
        failing.set_error_rate(0.0)  # the buyer is back, but the breaker holds until its cool-down
        (held,) = await _sell(rt, worker)
        clock.offset = timedelta(seconds=61)
        (trial,) = await _sell(rt, worker)
        (after,) = await _sell(rt, worker)
        return {"erred": erred, "skipped": skipped, "held": held, "trial": trial, "after": after}

    leads = _run(db_url, scenario)
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        traces = {name: job_of(http, leads[name])["trace"] for name in ("skipped", "held", "trial", "after")}
        firsts = [job_of(http, lead_id) for lead_id in leads["erred"]]
        health = http.get("/v1/partners/sunco/health", headers=ADMIN)
        every = http.get("/v1/partners/health", headers=ADMIN)
        audit = _breaker_audit(http)
        missing = http.get("/v1/partners/nobody/health", headers=ADMIN)
    assert all(job["deliveries"][-1]["partner"] == "brightpath" for job in firsts)  # after sunco's error
    open_line = [line for line in traces["skipped"] if line.startswith("sunco: circuit open")]
    assert len(open_line) == 1, traces["skipped"]
    assert open_line[0].startswith("sunco: circuit open (errors 3 of 3 in 5m; retry at ")
    assert "brightpath: chosen (priority)" in traces["skipped"]
    assert any(line.startswith("sunco: circuit open") for line in traces["held"])
    assert "sunco: circuit half-open: this lead is the trial (errors 3 of 3 in 5m)" in traces["trial"]
    assert "sunco: chosen (priority)" in traces["trial"]
    assert "sunco: chosen (priority)" in traces["after"]
    assert not any("circuit" in line for line in traces["after"])
    assert failing.stats()["buyers"]["sunco"] | {"duplicates": 0} == {
        "received": 5,  # three errors, then the trial and the lead after it: none while open
        "accepted": 2,
        "rejected": 0,
        "errors": 3,
        "duplicates": 0,
        "tests": 0,
    }
    assert audit == sorted(
        [
            ("partner.breaker_open", "breaker", "closed", "errors 3 of 3 in 5m"),
            ("partner.breaker_half_open", "breaker", "open", "errors 3 of 3 in 5m"),
            ("partner.breaker_close", "breaker", "half_open", "the trial lead's answer was healthy"),
        ]
    )
    assert health.status_code == 200, health.text
    shown = health.json()
    assert shown["breaker"]["state"] == "closed" and shown["breaker"]["enabled"] is True
    assert (shown["post"]["count"], shown["post"]["errors"], shown["post"]["timeouts"]) == (5, 3, 0)
    assert shown["post"]["error_rate"] == 0.6
    assert shown["post"]["p50_ms"] is not None and shown["post"]["p50_ms"] <= shown["post"]["p99_ms"]
    assert shown["window_s"] == 300.0 and shown["ping"]["count"] == 0  # no auction here
    assert every.status_code == 200
    assert [row["partner"] for row in every.json()["items"]] == ["brightpath", "sunco", "voltedge"]
    assert missing.status_code == 404 and "nobody" in missing.text


def test_timeouts_open_the_breaker_and_the_api_shows_it_open(db_url: str, healthy: BuyersThread) -> None:
    with BuyersThread(latency_ms=400) as slow:
        prepare(db_url, _document(slow.url("sunco"), healthy, timeout="100ms"))

        async def scenario(rt: Runtime, worker: Worker, clock: Clock) -> list[str]:
            timed_out = await _sell(rt, worker, 3)  # routed together: each waits for its timeout
            return timed_out + await _sell(rt, worker)

        leads = _run(db_url, scenario)
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        last = job_of(http, leads[-1])["trace"]
        shown = http.get("/v1/partners/sunco/health", headers=ADMIN).json()
        audit = _breaker_audit(http)
    assert any(line.startswith("sunco: circuit open (timeouts 3 of 3 in 5m; retry at ") for line in last), (
        last
    )
    assert audit == [("partner.breaker_open", "breaker", "closed", "timeouts 3 of 3 in 5m")]
    assert shown["breaker"]["state"] == "open" and shown["breaker"]["reason"] == "timeouts 3 of 3 in 5m"
    assert shown["breaker"]["retry_at"] is not None
    assert (shown["post"]["count"], shown["post"]["timeouts"], shown["post"]["timeout_rate"]) == (3, 3, 1.0)


def test_ping_timeouts_open_the_breaker_and_the_auction_stops_pinging(db_url: str) -> None:
    """An auction over sunco, brightpath and voltedge: sunco's buyer never answers its pings in time (its
    ping timeout is 100 ms). After three auctions its breaker opens on ping timeouts, the next auction does
    not ping it, and the API shows the ping statistics from the stored bids."""
    bidders = {
        "sunco": BiddingOptions(bid_min=20, bid_max=20, timeout_rate=1.0, timeout_delay_s=0.5),
        "brightpath": BiddingOptions(bid_min=15, bid_max=15),
        "voltedge": BiddingOptions(bid_min=12, bid_max=12),
    }
    with BuyersThread(bidders=bidders) as buyers:
        doc = auction_config(buyers.url, buyers.ping_url, sunco={"breaker": BREAKER})
        doc["partners"]["sunco"]["ping"]["timeout"] = "100ms"
        with serve(db_url, doc) as server, server.client() as http:
            answers = [post(http, state="CA", monthly_bill=180) for _ in range(4)]
            last = job_of(http, answers[-1]["lead_id"])
            shown = http.get("/v1/partners/sunco/health", headers=ADMIN).json()
            other = http.get("/v1/partners/brightpath/health", headers=ADMIN).json()
            audit = _breaker_audit(http)
        pinged = buyers.stats()["pings"]["sunco"]["received"]
    assert [a["partner"] for a in answers] == ["brightpath"] * 4
    trace = last["trace"]
    assert any(
        line.startswith("sunco: circuit open (ping timeouts 3 of 3 in 5m; retry at ") for line in trace
    )
    assert "auction: pinging brightpath, voltedge (deadline 750 ms)" in trace
    # not the fourth time; a ping may time out (100 ms) before a loaded machine's buyer thread has read it
    assert pinged <= 3
    assert audit == [("partner.breaker_open", "breaker", "closed", "ping timeouts 3 of 3 in 5m")]
    assert shown["breaker"]["state"] == "open"
    assert (shown["ping"]["count"], shown["ping"]["timeouts"], shown["ping"]["timeout_rate"]) == (3, 3, 1.0)
    assert 95 <= shown["ping"]["p50_ms"] < 750  # the 100 ms ping timeout, as the channel timed it
    assert (other["ping"]["count"], other["ping"]["errors"], other["ping"]["timeouts"]) == (4, 0, 0)
    assert other["post"]["count"] == 4 and other["breaker"]["state"] == "closed"


def test_an_adaptive_ping_timeout_follows_the_p99(db_url: str) -> None:
    """sunco answers its pings after 20 ms; with ``adaptive_ping_timeout: {margin: 400ms}`` its first ping
    waits as configured (its 2 s, clamped to the auction's 1.5 s deadline), the next ones its p99 plus 400
    ms. (At the default 750 ms deadline a loaded machine sometimes answered no ping of the first auction
    in time: the lead went unsold. With a 50 ms margin, a loaded machine once took longer than the first
    ping's time plus 50 ms to answer the second, whose auction brightpath then won.)"""
    bidders = {
        "sunco": BiddingOptions(bid_min=20, bid_max=20, latency=Latency("fixed", 20)),
        "brightpath": BiddingOptions(bid_min=15, bid_max=15),
        "voltedge": BiddingOptions(bid_min=12, bid_max=12),
    }
    with BuyersThread(bidders=bidders) as buyers:
        adaptive = {"adaptive_ping_timeout": {"margin": "400ms"}}
        doc = auction_config(buyers.url, buyers.ping_url, target={"deadline": "1500ms"}, sunco=adaptive)
        with serve(db_url, doc) as server, server.client() as http:
            answers = [post(http, state="CA", monthly_bill=180) for _ in range(2)]
            first, second = (job_of(http, a["lead_id"])["trace"] for a in answers)
    assert [a.get("partner") for a in answers] == ["sunco", "sunco"], (answers, first, second)
    assert "sunco: ping timeout 1500 ms (adaptive: no p99 yet)" in first
    [line] = [line for line in second if line.startswith("sunco: ping timeout ")]
    timeout, p99 = int(line.split()[3]), int(line.split("p99 ")[1].split()[0])
    assert 20 <= p99 < 1450 and timeout == min(p99 + 400, 1500), line  # never past the deadline
    assert not any(line.startswith("brightpath: ping timeout") for line in second)


def test_the_cli_shows_health_and_breakers(db_url: str, healthy: BuyersThread, failing: BuyersThread) -> None:
    prepare(db_url, _document(failing.url("sunco"), healthy))

    async def scenario(rt: Runtime, worker: Worker, clock: Clock) -> list[str]:
        return await _sell(rt, worker, 3)

    _run(db_url, scenario)
    every = cli(db_url, "partners", "health")
    one = cli(db_url, "partners", "health", "sunco")
    missing = cli(db_url, "partners", "health", "nobody")
    assert every.returncode == 0, every.stderr
    header, *lines = every.stdout.strip().splitlines()
    assert header.split("\t") == [
        "partner",
        "breaker",
        "since",
        "retry at",
        "reason",
        "window",
        "post",
        "ping",
    ]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines}
    assert list(rows) == ["brightpath", "sunco", "voltedge"]
    sunco = rows["sunco"]
    assert sunco[1] == "open" and sunco[3] and sunco[4] == "errors 3 of 3 in 5m" and sunco[5] == "300s"
    assert sunco[6].startswith("3 req, errors 100%, timeouts 0%, p50/p95/p99 ") and sunco[7] == "-"
    assert rows["brightpath"][1] == "closed" and rows["brightpath"][6].startswith("3 req, errors 0%")
    assert rows["voltedge"][6] == "-"
    assert one.returncode == 0 and one.stdout.strip().splitlines()[1].split("\t") == sunco
    assert missing.returncode == 1 and "no partner named 'nobody'" in missing.stderr


def test_two_workers_racing_for_the_trial_send_one(db_url: str) -> None:
    """Two transactions see the same open breaker past its cool-down and both try to claim the trial; the
    second waits for the first (row lock on PostgreSQL, the write lock on SQLite), then finds the breaker
    half-open with a new retry_at and does not move it."""
    db = Database(db_url)
    t0 = datetime.now(UTC)
    opened = {"state": "open", "opened_at": t0, "retry_at": t0, "reason": "errors", "changed_at": t0}
    half = opened | {"state": "half_open", "retry_at": t0 + timedelta(seconds=60)}
    try:
        db.transaction(lambda conn: breaker_store.move_breaker(conn, "sunco", opened, ["closed"]))
        results: list[bool] = []
        with db.engine.connect() as first:
            first.begin()
            results.append(breaker_store.move_breaker(first, "sunco", half, ["open", "half_open"], t0))

            def second() -> None:
                results.append(
                    db.transaction(
                        lambda conn: breaker_store.move_breaker(
                            conn, "sunco", half, ["open", "half_open"], t0
                        )
                    )
                )

            racer = threading.Thread(target=second)
            racer.start()
            racer.join(0.3)  # it waits for the first transaction
            assert racer.is_alive()
            first.commit()
        racer.join(10)
        stored = db.read(breaker_store.breakers)["sunco"]
    finally:
        db.dispose()
    assert results == [True, False]
    assert (stored["state"], stored["retry_at"]) == ("half_open", t0 + timedelta(seconds=60))
