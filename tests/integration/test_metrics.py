"""``/metrics`` after real traffic (leads posted through a real server, delivered to a real buyer on
127.0.0.1), parsed with prometheus-client's own parser, on SQLite and PostgreSQL: the counters of intake,
routing, delivery and the latency histograms, and the gauges read from the database at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert, update

from leadrelay.adapters.db.tables import batches, deliveries, jobs
from leadrelay.simulate.bidding import BiddingOptions
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_auction import auction_config
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, reader, source_headers

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(http: httpx.Client) -> Samples:
    r = http.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as b:
        yield b


def test_counters_and_gauges_after_real_traffic(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, base_config(buyers.url, sunco={"caps": {"day": 10, "hour": 5}}))
    with ServerThread(db_url) as server, server.client() as http:
        before = scrape(http)
        for i in range(3):
            r = http.post("/v1/leads?wait=15", json=lead(email=f"m{i}@example.com"), headers=source_headers())
            assert r.status_code == 200 and r.json()["status"] == "delivered", r.text
        assert http.post("/v1/leads", json=lead(phone=None), headers=source_headers()).status_code == 422
        refused = http.post("/v1/leads", json=lead(), headers={"Authorization": "Bearer lr_nobody_0000"})
        assert refused.status_code == 401
        after = scrape(http)
        owed = http.get("/v1/balances", headers=ADMIN).json()["balances"]["sunco"]

    assert delta(before, after, "leadrelay_intake_leads_total", status="queued") == 3
    assert delta(before, after, "leadrelay_intake_leads_total", status="rejected") == 1
    assert delta(before, after, "leadrelay_intake_leads_total", status="refused") == 1
    assert delta(before, after, "leadrelay_routing_total", outcome="delivering") == 3
    attempts = ("leadrelay_delivery_attempts_total",)
    assert delta(before, after, *attempts, partner="sunco", outcome="success") == 3
    assert delta(before, after, "leadrelay_delivery_seconds_count", partner="sunco") == 3
    assert delta(before, after, "leadrelay_delivery_seconds_bucket", partner="sunco", le="+Inf") == 3
    assert delta(before, after, "leadrelay_delivery_seconds_sum", partner="sunco") > 0
    # read from the database at the scrape: the caps in force, the queue (empty: all delivered)
    assert value(after, "leadrelay_cap_used", partner="sunco", scope="", period="day") == 3
    assert value(after, "leadrelay_cap_limit", partner="sunco", scope="", period="day") == 10
    assert value(after, "leadrelay_cap_used", partner="sunco", scope="", period="hour") == 3
    assert value(after, "leadrelay_cap_limit", partner="sunco", scope="", period="hour") == 5
    assert value(after, "leadrelay_queue_jobs", state="due") == 0
    assert value(after, "leadrelay_queue_oldest_due_seconds") == 0
    assert value(after, "leadrelay_batch_backlog", status="ready") == 0
    assert value(after, "leadrelay_scrape_database_up") == 1
    # the ledger's partner balances, kept with every entry: the three sales
    assert float(owed) > 0
    assert value(after, "leadrelay_partner_balance", partner="sunco", currency="USD") == float(owed)
    assert value(after, "leadrelay_partner_held", partner="sunco", currency="USD") == 0
    # the database steps on the leads' way: every stored lead (the rejected one too), every claimed job, every
    # recorded send, every waiting answer's read (one or more each)
    step = "leadrelay_step_seconds"
    assert delta(before, after, f"{step}_count", step="store") == 4
    assert delta(before, after, f"{step}_count", step="record") == 3
    assert delta(before, after, f"{step}_count", step="route") == 3
    assert delta(before, after, f"{step}_count", step="answer") >= 3
    assert delta(before, after, f"{step}_count", step="award") == 0  # no auction here
    for name in ("store", "route", "record", "answer"):
        count = delta(before, after, f"{step}_count", step=name)
        assert delta(before, after, f"{step}_bucket", step=name, le="+Inf") == count
        assert 0 < delta(before, after, f"{step}_sum", step=name) < count * 5  # seconds


def test_queue_depth_and_oldest_waiting_job(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, base_config(buyers.url))
    with ServerThread(db_url, workers=0) as server, server.client() as http:  # nobody claims
        for i in range(2):
            r = http.post("/v1/leads", json=lead(email=f"q{i}@example.com"), headers=source_headers())
            assert r.status_code == 202, r.text
        fresh = scrape(http)
        waited = datetime.now(UTC) - timedelta(seconds=120)
        reader(db_url).transaction(lambda c: c.execute(update(jobs).values(run_at=waited)))
        old = scrape(http)
        later = datetime.now(UTC) + timedelta(seconds=300)  # a retry's backoff: scheduled, not due
        reader(db_url).transaction(lambda c: c.execute(update(jobs).values(run_at=later)))
        scheduled = scrape(http)
    assert value(fresh, "leadrelay_queue_jobs", state="due") == 2
    assert value(fresh, "leadrelay_queue_jobs", state="claimed") == 0
    assert 0 <= value(fresh, "leadrelay_queue_oldest_due_seconds") < 30
    assert 120 <= value(old, "leadrelay_queue_oldest_due_seconds") < 180
    assert value(scheduled, "leadrelay_queue_jobs", state="due") == 0
    assert value(scheduled, "leadrelay_queue_jobs", state="scheduled") == 2
    assert value(scheduled, "leadrelay_queue_oldest_due_seconds") == 0


def test_process_counters_survive_a_database_that_does_not_answer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no-such-directory/leadrelay.db"
    with ServerThread(url, workers=0) as server, server.client() as http:
        samples = scrape(http)
    assert value(samples, "leadrelay_scrape_database_up") == 0
    assert ("leadrelay_queue_jobs", frozenset({("state", "due")})) not in samples


def test_auction_pings_are_counted_and_timed_per_partner(db_url: str) -> None:
    prices = {name: BiddingOptions(bid_min=p, bid_max=p) for name, p in (("sunco", 12), ("brightpath", 15))}
    prices["voltedge"] = BiddingOptions(bid_min=9, bid_max=9)
    with BuyersThread(accept_rate=1.0, bidders=prices) as bidders:
        prepare(db_url, auction_config(bidders.url, bidders.ping_url))
        with ServerThread(db_url) as server, server.client() as http:
            before = scrape(http)
            r = http.post("/v1/leads?wait=15", json=lead(state="CA"), headers=source_headers())
            assert r.json()["partner"] == "brightpath", r.text
            after = scrape(http)
    for partner in ("sunco", "brightpath", "voltedge"):
        assert delta(before, after, "leadrelay_pings_total", partner=partner, result="ok") == 1
        assert delta(before, after, "leadrelay_ping_seconds_count", partner=partner) == 1
        assert delta(before, after, "leadrelay_ping_seconds_sum", partner=partner) > 0
    assert delta(before, after, "leadrelay_routing_total", outcome="auction") == 1
    assert delta(before, after, "leadrelay_routing_total", outcome="delivering") == 1  # the award
    # its database steps: stored, claimed and routed, awarded after the pings, the post's outcome recorded
    for name in ("store", "route", "award", "record"):
        assert delta(before, after, "leadrelay_step_seconds_count", step=name) == 1, name
    assert (
        delta(before, after, "leadrelay_delivery_attempts_total", partner="brightpath", outcome="success")
        == 1
    )


def test_the_batch_backlog(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, base_config(buyers.url))
    now = datetime.now(UTC)

    def batch(n: int, status: str) -> dict[str, object]:
        return {
            "id": f"bat_{n}",
            "partner": "sunco",
            "channel": "file",
            "channel_step": 0,
            "status": status,
            "trigger": "test",
            "filename": f"leads-{n}.csv",
            "lead_count": 1,
            "attempts": 0,
            "is_test": False,
            "created_at": now,
        }

    with ServerThread(db_url) as server, server.client() as http:
        for i in range(2):
            r = http.post("/v1/leads?wait=15", json=lead(email=f"b{i}@example.com"), headers=source_headers())
            assert r.json()["status"] == "delivered", r.text
        empty = scrape(http)

        def backlog(c: Any) -> None:  # as if both leads waited for a partner's batch file
            c.execute(update(deliveries).values(status="batched"))
            c.execute(insert(batches), [batch(1, "ready"), batch(2, "retry"), batch(3, "sent")])

        reader(db_url).transaction(backlog)
        waiting = scrape(http)
    assert value(empty, "leadrelay_batch_waiting_deliveries") == 0
    assert value(waiting, "leadrelay_batch_waiting_deliveries") == 2
    assert value(waiting, "leadrelay_batch_backlog", status="ready") == 1
    assert value(waiting, "leadrelay_batch_backlog", status="retry") == 1
    assert value(waiting, "leadrelay_batch_backlog", status="sending") == 0
