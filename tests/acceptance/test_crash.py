"""Crash and shutdown of `leadrelay worker` processes while deliveries are in flight.

kill -9 loses nothing and the buyer accepts every lead exactly once (the key per job and partner is
stable, so a re-sent delivery is a duplicate the buyer drops); SIGTERM stops claiming, lets in-flight
deliveries finish within the grace period and gives every unfinished job back to the queue; a worker whose
database went away for a moment goes back to work once it is reachable again.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from leadrelay.adapters.db.tables import attempts, leads
from leadrelay.simulate.buyers import BuyersThread
from tests.acceptance.test_concurrency import (
    api_server,
    claims,
    config,
    delivery_rows,
    job_rows,
    post_concurrently,
    read,
    record_claims,
    wait_all_final,
    worker_process,
)
from tests.conftest import POSTGRES_URL
from tests.support import prepare, wait_for

pytestmark = pytest.mark.slow

PARTNERS = ["alpha", "beta"]


@pytest.fixture(params=["postgres", "sqlite"])
def any_url(request: pytest.FixtureRequest) -> str:
    """A fresh PostgreSQL database or a fresh SQLite file, shared by the processes of one test."""
    return str(request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url"))


def prepare_crash_config(url: str, buyers: BuyersThread) -> None:
    """Leads go round robin to two buyers; every claim is logged with the claiming worker."""
    prepare(url, config(buyers.url, PARTNERS, "round_robin"))
    record_claims(url)


def buyer_totals(buyers: BuyersThread) -> dict[str, int]:
    """The buyers' counters summed over ``PARTNERS``."""
    stats = buyers.stats()["buyers"]
    keys = ("received", "accepted", "duplicates", "errors", "rejected")
    return {k: sum(stats.get(name, {}).get(k, 0) for name in PARTNERS) for k in keys}


def accepted_keys(buyers: BuyersThread) -> Counter[str]:
    """How many times each Idempotency-Key was accepted (a first acceptance, not a repeated answer)."""
    return Counter(str(x["key"]) for name in PARTNERS for x in buyers.leads(name))


def attempts_recorded(url: str) -> int:
    return read(url, lambda c: int(c.execute(select(func.count()).select_from(attempts)).scalar_one()))


def assert_every_job_delivered_once(url: str, buyers: BuyersThread, total: int) -> list[Any]:
    """All jobs delivered and let go by the queue; the buyer accepted each job's key exactly once."""
    rows = job_rows(url)
    assert len(rows) == total
    assert Counter(r.status for r in rows) == {"delivered": total}
    assert all(r.queue_state == "done" and r.lease_owner is None and r.lease_until is None for r in rows)
    dl = delivery_rows(url)
    assert sorted(d.job_id for d in dl) == sorted(r.id for r in rows)  # one delivery per job, none extra
    assert all(d.status == "delivered" for d in dl)
    keys = accepted_keys(buyers)
    assert keys == Counter(d.idempotency_key for d in dl)  # each key accepted once, no stray acceptance
    assert buyer_totals(buyers)["accepted"] == total
    lead_statuses = read(url, lambda c: list(c.execute(select(leads.c.status)).scalars()))
    assert Counter(lead_statuses) == {"delivered": total}
    return dl


# ---------------------------------------------------------------- kill -9


def test_kill_9_mid_delivery_loses_nothing_and_each_lead_is_accepted_once(
    any_url: str, tmp_path: Path
) -> None:
    total = 60
    env = {"LEADRELAY_LEASE_SECONDS": "2", "LEADRELAY_WORKER_CONCURRENCY": "10"}
    # the buyer takes 0.8 s: the doomed worker's 10 posts at a time need about 5 s for the 60 leads, so
    # that posts are in flight when the kill comes on a loaded machine too (at 0.3 s, a CI run loaded by
    # other work once found none left: the worker had nearly finished before the test looked)
    with BuyersThread(count=0, latency_ms=800, accept_rate=1.0) as buyers:
        prepare_crash_config(any_url, buyers)
        with api_server(any_url, tmp_path) as base:
            with worker_process(any_url, tmp_path, "doomed", **env) as doomed:
                post_concurrently(base, total)

                def in_flight() -> bool:  # the buyer holds requests whose answers are not recorded yet
                    return buyer_totals(buyers)["received"] > attempts_recorded(any_url)

                wait_for(in_flight, timeout=20, interval=0.02)
                os.kill(doomed.pid, signal.SIGKILL)
                assert doomed.wait(timeout=10) == -signal.SIGKILL
            # the process is gone: what the buyer accepted but leadrelay never recorded was lost in flight
            lost = buyer_totals(buyers)["accepted"] - sum(
                1 for d in delivery_rows(any_url) if d.status == "delivered"
            )
            assert lost > 0, "the kill should have hit deliveries in flight"
            stranded = [r.id for r in job_rows(any_url) if r.queue_state == "claimed"]
            assert stranded  # jobs still held by the dead worker, its leases not yet expired

            with worker_process(any_url, tmp_path, "rescuer", **env) as rescuer:
                wait_all_final(any_url, total, timeout=60)
            dl = assert_every_job_delivered_once(any_url, buyers, total)
            totals = buyer_totals(buyers)

    # the lost deliveries were sent again with the same key: the buyer answered them as duplicates
    assert totals["duplicates"] >= lost
    assert totals["received"] == total + totals["duplicates"]
    by_job: dict[str, set[int]] = {}
    for job_id, pid in claims(any_url):
        by_job.setdefault(job_id, set()).add(pid)
    assert all(
        by_job[job_id] == {doomed.pid, rescuer.pid} for job_id in stranded
    )  # reclaimed after the lease
    assert all(d.attempts >= 1 for d in dl)


# ---------------------------------------------------------------- SIGTERM


@pytest.mark.slow_start(8)
def test_sigterm_finishes_in_flight_deliveries_and_gives_the_rest_back(any_url: str, tmp_path: Path) -> None:
    total, grace = 20, 5.0
    env = {"LEADRELAY_SHUTDOWN_GRACE": str(grace), "LEADRELAY_WORKER_CONCURRENCY": "5"}
    with BuyersThread(count=0, latency_ms=1000, accept_rate=1.0) as buyers:
        prepare_crash_config(any_url, buyers)
        with api_server(any_url, tmp_path) as base:
            with worker_process(any_url, tmp_path, "first", **env) as first:
                post_concurrently(base, total)
                wait_for(lambda: buyer_totals(buyers)["received"] > 0, timeout=20, interval=0.02)
                started = time.monotonic()
                first.send_signal(signal.SIGTERM)
                code = first.wait(timeout=grace + 10)
                took = time.monotonic() - started
            assert code == 0, (tmp_path / "first.log").read_text()
            assert took < grace + 3

            # every delivery the buyer got before the stop was finished and recorded as delivered
            after_stop = buyer_totals(buyers)
            rows = job_rows(any_url)
            dl = delivery_rows(any_url)
            delivered = [d for d in dl if d.status == "delivered"]
            assert after_stop["accepted"] >= 1
            assert len(delivered) == after_stop["accepted"] == after_stop["received"]
            assert sorted(d.idempotency_key for d in delivered) == sorted(accepted_keys(buyers))
            # nothing is left claimed by the stopped worker: unfinished jobs are ready for another one
            assert [r.id for r in rows if r.queue_state == "claimed"] == []
            unfinished = [r for r in rows if r.status != "delivered"]
            assert unfinished, "the worker should have stopped with jobs left"
            assert all(r.queue_state == "ready" and r.lease_owner is None for r in unfinished)
            assert Counter(r.status for r in rows)["delivered"] == len(delivered)

            with worker_process(any_url, tmp_path, "second", **env):
                wait_all_final(any_url, total, timeout=60)
            assert_every_job_delivered_once(any_url, buyers, total)
            # the stopped worker recorded what it sent, so nothing was sent twice
            assert buyer_totals(buyers)["duplicates"] == 0


@pytest.mark.slow_start(8)
def test_sigterm_past_the_grace_period_gives_in_flight_jobs_back(any_url: str, tmp_path: Path) -> None:
    """Deliveries slower than the grace period are abandoned, and their jobs go back to the queue at once
    (not left claimed until the lease runs out); the next worker delivers them under the same key."""
    total, grace = 6, 1.0
    env = {"LEADRELAY_SHUTDOWN_GRACE": str(grace), "LEADRELAY_LEASE_SECONDS": "120"}
    with BuyersThread(count=0, latency_ms=4000, accept_rate=1.0) as buyers:
        prepare_crash_config(any_url, buyers)
        with api_server(any_url, tmp_path) as base:
            with worker_process(any_url, tmp_path, "first", **env) as first:
                post_concurrently(base, total)
                wait_for(lambda: buyer_totals(buyers)["received"] == total, timeout=20, interval=0.02)
                started = time.monotonic()
                first.send_signal(signal.SIGTERM)
                code = first.wait(timeout=grace + 10)
                took = time.monotonic() - started
            assert code == 0, (tmp_path / "first.log").read_text()
            assert took < grace + 3

            rows = job_rows(any_url)
            assert [r.id for r in rows if r.status == "delivered"] == []
            assert [(r.id, r.queue_state, r.lease_owner) for r in rows if r.queue_state != "ready"] == []

            started = time.monotonic()
            with worker_process(any_url, tmp_path, "second", **env):
                wait_all_final(any_url, total, timeout=30)
            assert time.monotonic() - started < 30  # far sooner than the 120 s lease
            assert_every_job_delivered_once(any_url, buyers, total)
            assert buyer_totals(buyers)["duplicates"] == total  # re-sent with the same keys


# ---------------------------------------------------------------- the database goes away for a moment


def test_worker_keeps_working_after_the_database_was_unreachable(pg_url: str, tmp_path: Path) -> None:
    """PostgreSQL refuses connections for a few seconds (a restart, a failover): the worker process must
    come back to work by itself once the database is back, not stay alive doing nothing."""
    name = pg_url.rpartition("/")[2]
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as buyers:
        prepare_crash_config(pg_url, buyers)
        with api_server(pg_url, tmp_path) as base, worker_process(pg_url, tmp_path, "worker"):
            post_concurrently(base, 2)
            wait_all_final(pg_url, 2, timeout=20)
            with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                try:
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
                    )
                    time.sleep(2)  # the worker polls every 20 ms: it meets the outage many times
                finally:
                    admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            post_concurrently(base, 3)
            wait_all_final(pg_url, 5, timeout=30)
        assert buyer_totals(buyers)["accepted"] == 5
