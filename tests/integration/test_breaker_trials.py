"""A circuit breaker's trial is spent only on a lead the partner really gets (issue 10, point 10): a
partner due for its trial but at its cap is neither sent the lead nor moved to half-open, in plain routing
and in an auction, and takes its trial once it has room again. Real buyers on loopback, SQLite and
PostgreSQL; the worker's clock moved by the test (no real waiting)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from leadrelay.adapters.db import breaker_store, cap_store
from leadrelay.adapters.db.engine import Database
from leadrelay.bootstrap import Runtime
from leadrelay.domain.caps import window_key
from leadrelay.domain.model import CapPeriod
from leadrelay.entrypoints.worker import Worker
from leadrelay.simulate.bidding import BiddingOptions
from leadrelay.simulate.buyers import BuyersThread
from tests.documents import base_config
from tests.integration.test_auction import auction_config
from tests.integration.test_circuit_breaker import BREAKER, Clock, _run, _sell
from tests.integration.test_routing_flow import job_of, post, serve
from tests.support import ServerThread, lead, prepare, source_headers

LA = ZoneInfo("America/Los_Angeles")


def due_for_a_trial(now: datetime) -> dict[str, Any]:
    """A stored breaker row: opened 5 minutes ago by errors, its cool-down over."""
    return {
        "state": "open",
        "opened_at": now - timedelta(minutes=5),
        "retry_at": now - timedelta(seconds=1),
        "reason": "errors 3 of 3 in 5m",
        "changed_at": now - timedelta(minutes=5),
    }


def breaker_and_audit(url: str) -> tuple[str, list[str]]:
    """sunco's breaker state, and the breaker moves in the audit log (in no set order)."""
    db = Database(url)
    try:
        state = db.read(breaker_store.breakers)["sunco"]["state"]
        rows = db.read(lambda c: list(c.exec_driver_sql("SELECT action FROM audit_log")))
        return state, [r.action for r in rows if r.action.startswith("partner.breaker")]
    finally:
        db.dispose()


def _fill_day(url: str, clock: Clock, cap: int, give_back: bool = False) -> None:
    """sunco's day window at its cap (as its sales today would leave it), or its slots given back."""
    db = Database(url)
    try:
        key = window_key(CapPeriod.DAY, LA, clock())

        def work(conn: Any) -> None:
            for _ in range(cap):
                if give_back:
                    cap_store.release_caps(conn, "sunco", [["", key]])
                else:
                    assert cap_store.reserve_cap(conn, "sunco", "", key, cap)[0]

        db.transaction(work)
    finally:
        db.dispose()


def test_a_capped_partner_due_for_its_trial_keeps_it(
    db_url: str, healthy: BuyersThread, failing: BuyersThread
) -> None:
    hook = {"url": failing.url("sunco"), "timeout": "5s", "max_attempts": 1}
    doc = base_config(
        healthy.url, sunco={"channel": {"webhook": hook}, "breaker": BREAKER, "caps": {"day": 3}}
    )
    prepare(db_url, doc)

    async def scenario(rt: Runtime, worker: Worker, clock: Clock) -> dict[str, Any]:
        await _sell(rt, worker, 3)  # three 500s: open (each failed delivery gave its slot back)
        opened = rt.db.read(breaker_store.breakers)["sunco"]
        failing.set_error_rate(0.0)  # the buyer is healthy again
        _fill_day(db_url, clock, 3)  # sunco's day is full
        clock.offset = timedelta(seconds=61)  # past the cool-down: sunco is due for a trial
        (capped,) = await _sell(rt, worker)  # sunco at its cap: brightpath gets the lead
        after_capped = rt.db.read(breaker_store.breakers)["sunco"]
        received_capped = failing.stats()["buyers"]["sunco"]["received"]
        _fill_day(db_url, clock, 3, give_back=True)  # room again (a cancellation gave slots back)
        clock.offset = timedelta(seconds=62)
        (next_lead,) = await _sell(rt, worker)
        return {
            "opened": opened,
            "after_capped": after_capped,
            "capped": capped,
            "next": next_lead,
            "received_capped": received_capped,
            "received": failing.stats()["buyers"]["sunco"]["received"],
            "audit": [
                e.action
                for e in rt.db.read(lambda c: list(c.exec_driver_sql("SELECT action FROM audit_log")))
                if e.action.startswith("partner.breaker")
            ],
        }

    found = _run(db_url, scenario)
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        capped_trace = job_of(http, found["capped"])["trace"]
        next_trace = job_of(http, found["next"])["trace"]
    assert found["opened"]["state"] == "open"
    assert found["received_capped"] == 3  # nothing after the three errors while sunco was at its cap
    assert found["received"] == 4  # then the trial, with room again
    assert any(line.startswith("sunco: cap day 3/3 reached") for line in capped_trace), capped_trace
    assert not any("this lead is the trial" in line for line in capped_trace), capped_trace
    assert found["after_capped"]["state"] == "open"  # no trial went: still open, nothing audited for it
    # room again and past the cool-down: this lead is the trial, and the healthy answer closes the breaker
    assert "sunco: circuit half-open: this lead is the trial (errors 3 of 3 in 5m)" in next_trace, next_trace
    assert "sunco: chosen (priority)" in next_trace, next_trace
    # one trial in all (the audit log's rows come in no set order)
    assert sorted(found["audit"]) == [
        "partner.breaker_close",
        "partner.breaker_half_open",
        "partner.breaker_open",
    ]


def test_an_auction_does_not_spend_the_trial_of_a_partner_it_does_not_ping(db_url: str) -> None:
    bidders = {
        "sunco": BiddingOptions(bid_min=20, bid_max=20),
        "brightpath": BiddingOptions(bid_min=15, bid_max=15),
        "voltedge": BiddingOptions(bid_min=12, bid_max=12),
    }
    with BuyersThread(bidders=bidders) as buyers:
        doc = auction_config(buyers.url, buyers.ping_url, sunco={"breaker": BREAKER, "caps": {"day": 1}})
        db = Database(db_url)
        try:
            now = datetime.now(UTC)
            opened = due_for_a_trial(now)

            def seed(conn: Any) -> None:
                assert breaker_store.move_breaker(conn, "sunco", opened, ["closed"])
                for day in (now, now + timedelta(hours=1)):  # its day is full (and still, an hour on)
                    cap_store.reserve_cap(conn, "sunco", "", window_key(CapPeriod.DAY, LA, day), 1)

            db.transaction(seed)
        finally:
            db.dispose()
        with serve(db_url, doc) as server, server.client() as http:
            answer = post(http, state="CA", monthly_bill=180)
            trace = job_of(http, answer["lead_id"])["trace"]
        pinged = buyers.stats()["pings"].get("sunco", {}).get("received", 0)
        state, audit = breaker_and_audit(db_url)
    assert answer["partner"] == "brightpath"
    assert pinged == 0  # sunco was not offered the lead (at its cap)
    assert state == "open"  # no trial out: sunco was not pinged
    assert audit == []
    assert not any("this lead is the trial" in line for line in trace), trace


def test_a_lead_sent_with_its_ping_token_is_the_trial_of_the_bidder_it_is_posted_to(db_url: str) -> None:
    """sunco wins a supplier ping while its breaker is closed; its breaker opens before the lead comes
    with the token, and its cool-down is over: the post to sunco's stored bid takes the trial (half-open,
    audited, in the trace), and the healthy answer closes the breaker."""
    bidders = {
        "sunco": BiddingOptions(bid_min=20, bid_max=20),
        "brightpath": BiddingOptions(bid_min=15, bid_max=15),
        "voltedge": BiddingOptions(bid_min=12, bid_max=12),
    }
    with BuyersThread(accept_rate=1.0, bidders=bidders) as buyers:
        doc = auction_config(buyers.url, buyers.ping_url, sunco={"breaker": BREAKER})
        with serve(db_url, doc) as server, server.client() as http:
            quote = http.post(
                "/v1/ping",
                json={"entity": "solar", "zip": "94103", "state": "CA", "monthly_bill": 180},
                headers=source_headers(),
            )
            assert quote.status_code == 200 and quote.json()["price"] == 20.0, quote.text
            now = datetime.now(UTC)
            opened = due_for_a_trial(now)
            db = Database(db_url)
            try:
                assert db.transaction(lambda c: breaker_store.move_breaker(c, "sunco", opened, ["closed"]))
            finally:
                db.dispose()
            body = {**lead(state="CA", monthly_bill=180), "ping_token": quote.json()["ping_token"]}
            answer = http.post("/v1/leads?wait=15", json=body, headers=source_headers()).json()
            trace = job_of(http, answer["lead_id"])["trace"]
        _, audit = breaker_and_audit(db_url)
    assert answer["partner"] == "sunco", (answer, trace)
    assert "sunco: circuit half-open: this lead is the trial (errors 3 of 3 in 5m)" in trace, trace
    assert sorted(audit) == ["partner.breaker_close", "partner.breaker_half_open"]
