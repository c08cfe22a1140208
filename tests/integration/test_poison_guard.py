"""The worker's poison-job guard (``MAX_CLAIMS``) counts only leases taken over from a lost worker, not a
job's ordinary retries or failover steps: a channel gets every attempt it is configured for, a failover to
hold after 20 attempts holds the lead, and a rerun after a long retry run routes the lead again (the rerun
counts afresh). SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from leadrelay.adapters.db.tables import attempts, deliveries, jobs
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, rows, source_headers, wait_for

ATTEMPTS = 25


def test_a_channel_gets_all_its_max_attempts(db_url: str) -> None:
    with BuyersThread(count=1, latency_ms=0, error_rate=1.0) as failing:  # every post gets a 500
        doc: dict[str, Any] = base_config(failing.url)
        doc["partners"] = {
            "sunco": {"channel": {"webhook": {"url": failing.url("sunco"), "max_attempts": ATTEMPTS}}}
        }
        doc["profiles"]["solar-main"]["rules"] = []
        doc["profiles"]["solar-main"]["default"] = {"partner": "sunco"}
        prepare(db_url, doc)
        with ServerThread(db_url, retry_base=0.001, retry_max_delay=0.005) as server, server.client() as http:
            r = http.post("/v1/leads", json=lead(), headers=source_headers())
            assert r.status_code in (200, 202), r.text

            def final() -> Any:
                found = rows(db_url, select(jobs))
                return found[0] if found and found[0].status in ("failed", "unsold") else None

            job = wait_for(final, timeout=60)
    made = rows(db_url, select(attempts))
    delivery = rows(db_url, select(deliveries))[0]
    assert "workers were lost" not in (job.error or ""), job.error
    assert len(made) == ATTEMPTS, (len(made), job.error)
    assert delivery.attempts == ATTEMPTS


def test_a_rerun_after_a_long_retry_run_routes_the_lead_again(db_url: str) -> None:
    """PRODUCT.md §4: rerun "resets the same job to received, clears its error and runs the full selection
    again": after 20 failed attempts, the buyer back, the rerun delivers the lead (the breaker is off: it
    would otherwise, rightly, keep the failing buyer out for its cool-down)."""
    with BuyersThread(count=1, latency_ms=0, error_rate=1.0) as buyer:
        doc: dict[str, Any] = base_config(buyer.url)
        webhook = {"url": buyer.url("sunco"), "max_attempts": 20}
        doc["partners"] = {"sunco": {"channel": {"webhook": webhook}, "breaker": "off"}}
        doc["profiles"]["solar-main"]["rules"] = []
        doc["profiles"]["solar-main"]["default"] = {"partner": "sunco"}
        prepare(db_url, doc)
        with ServerThread(db_url, retry_base=0.001, retry_max_delay=0.005) as server, server.client() as http:
            r = http.post("/v1/leads", json=lead(), headers=source_headers())
            assert r.status_code in (200, 202), r.text

            def final() -> Any:
                found = rows(db_url, select(jobs))
                return found[0] if found and found[0].status in ("failed", "unsold", "delivered") else None

            job = wait_for(final, timeout=60)
            assert job.status == "failed" and "workers were lost" not in (job.error or ""), job.error
            assert len(rows(db_url, select(attempts))) == 20  # its 20 attempts, each a 500
            buyer.set_error_rate(0.0)  # the buyer is back
            rerun = http.post(
                f"/v1/distributions/{job.id}/rerun", json={"reason": "buyer fixed"}, headers=ADMIN
            )
            assert rerun.status_code == 200, rerun.text

            def settled() -> Any:
                found = rows(db_url, select(jobs))[0]
                return (
                    found
                    if found.status in ("failed", "unsold", "delivered") and found.queue_state == "done"
                    else None
                )

            job = wait_for(settled, timeout=30)
    assert job.status == "delivered", job.error


def test_failover_to_hold_after_twenty_retries_holds_the_lead(db_url: str) -> None:
    """README: ``failover: [..., {hold: {}}]``: when the channel before ends in error after its retries
    (20 here), the lead is held for pick-up."""
    with BuyersThread(count=1, latency_ms=0, error_rate=1.0) as failing:
        doc: dict[str, Any] = base_config(failing.url)
        doc["partners"] = {
            "sunco": {
                "channel": {"webhook": {"url": failing.url("sunco"), "max_attempts": 20}},
                "failover": [{"hold": {}}],
            }
        }
        doc["profiles"]["solar-main"]["rules"] = []
        doc["profiles"]["solar-main"]["default"] = {"partner": "sunco"}
        prepare(db_url, doc)
        with ServerThread(db_url, retry_base=0.001, retry_max_delay=0.005) as server, server.client() as http:
            r = http.post("/v1/leads", json=lead(), headers=source_headers())
            assert r.status_code in (200, 202), r.text

            def final() -> Any:
                found = rows(db_url, select(jobs))
                return found[0] if found and found[0].queue_state == "done" else None

            job = wait_for(final, timeout=60)
    delivery = rows(db_url, select(deliveries))[0]
    assert (delivery.status, job.status) == ("held", "held"), (job.error, delivery.reason)
