"""The worker's poison-job guard (``MAX_CLAIMS``) counts only leases taken over from a lost worker, not a
job's ordinary retries or failover steps: a channel gets every attempt it is configured for, a failover to
hold after 20 attempts holds the lead, and a rerun after a long retry run routes the lead again (the rerun
counts afresh). SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from leadrelay.adapters.db.tables import attempts, deliveries, jobs
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, rows, source_headers, wait_for

ATTEMPTS = 25


def _only_sunco(buyer: BuyersThread, max_attempts: int, **sunco: Any) -> dict[str, Any]:
    """Every lead to sunco, whose webhook gets ``max_attempts``."""
    doc: dict[str, Any] = base_config(buyer.url)
    webhook = {"url": buyer.url("sunco"), "max_attempts": max_attempts}
    doc["partners"] = {"sunco": {"channel": {"webhook": webhook}, **sunco}}
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partner": "sunco"}
    return doc


def _serve(db_url: str) -> ServerThread:
    return ServerThread(db_url, retry_base=0.001, retry_max_delay=0.005)


def _post(http: httpx.Client) -> None:
    r = http.post("/v1/leads", json=lead(), headers=source_headers())
    assert r.status_code in (200, 202), r.text


def _settled(db_url: str, timeout: float = 60) -> Any:
    """The one job, once it is done."""

    def done() -> Any:
        found = rows(db_url, select(jobs))
        return found[0] if found and found[0].queue_state == "done" else None

    return wait_for(done, timeout=timeout)


def test_a_channel_gets_all_its_max_attempts(db_url: str) -> None:
    with BuyersThread(count=1, latency_ms=0, error_rate=1.0) as failing:  # every post gets a 500
        prepare(db_url, _only_sunco(failing, ATTEMPTS))
        with _serve(db_url) as server, server.client() as http:
            _post(http)
            job = _settled(db_url)
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
        prepare(db_url, _only_sunco(buyer, 20, breaker="off"))
        with _serve(db_url) as server, server.client() as http:
            _post(http)
            job = _settled(db_url)
            assert job.status == "failed" and "workers were lost" not in (job.error or ""), job.error
            assert len(rows(db_url, select(attempts))) == 20  # its 20 attempts, each a 500
            buyer.set_error_rate(0.0)  # the buyer is back
            rerun = http.post(
                f"/v1/distributions/{job.id}/rerun", json={"reason": "buyer fixed"}, headers=ADMIN
            )
            assert rerun.status_code == 200, rerun.text
            job = _settled(db_url, timeout=30)
    assert job.status == "delivered", job.error


def test_failover_to_hold_after_twenty_retries_holds_the_lead(db_url: str) -> None:
    """README: ``failover: [..., {hold: {}}]``: when the channel before ends in error after its retries
    (20 here), the lead is held for pick-up."""
    with BuyersThread(count=1, latency_ms=0, error_rate=1.0) as failing:
        prepare(db_url, _only_sunco(failing, 20, failover=[{"hold": {}}]))
        with _serve(db_url) as server, server.client() as http:
            _post(http)
            job = _settled(db_url)
    delivery = rows(db_url, select(deliveries))[0]
    assert (delivery.status, job.status) == ("held", "held"), (job.error, delivery.reason)
