"""Caps and rotations stay exact when several `leadrelay worker` processes share one database.

Real processes: an API-only `leadrelay serve --workers 0` and separate `leadrelay worker` processes, all on
one PostgreSQL database (or one SQLite file), delivering to simulated buyers on loopback.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import Connection, select

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import cap_counters, deliveries, jobs, leads
from leadrelay.simulate.buyers import BuyersThread
from tests import forked
from tests.support import (
    free_port,
    lead,
    leadrelay_cmd,
    prepare,
    process,
    reader,
    source_headers,
    wait_for,
    wait_http,
)

pytestmark = pytest.mark.slow

T = TypeVar("T")
FINAL = ("delivered", "failed", "unsold", "cancelled")
CAP_REACHED = "cap day 10/10 reached"


@pytest.fixture(params=["postgres", "sqlite"])
def any_url(request: pytest.FixtureRequest) -> str:
    """The database for a multi-process run: a fresh PostgreSQL database or a fresh SQLite file."""
    return str(request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url"))


def read(url: str, fn: Callable[[Connection], T]) -> T:
    return reader(url).read(fn)


def config(
    buyer_url: Callable[[str], str], partners: list[str], strategy: str, **caps: int
) -> dict[str, Any]:
    """One entity, one source, and one profile whose default target is ``partners`` under ``strategy``.

    ``caps`` gives a partner a day cap (``capped=10``)."""

    def partner(name: str) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "timezone": "UTC",
            "channel": {"webhook": {"url": buyer_url(name), "timeout": "10s", "max_attempts": 3}},
        }
        if name in caps:
            doc["caps"] = {"day": caps[name]}
        return doc

    return {
        "entities": {
            "solar": {
                "fields": {
                    "first_name": {"type": "string", "required": True},
                    "email": {"type": "email"},
                    "phone": {"type": "phone", "required": True},
                    "zip": {"type": "postal_code", "required": True},
                    "state": {"type": "state"},
                    "monthly_bill": {"type": "number"},
                }
            }
        },
        "sources": {"web": {"entities": ["solar"], "show_buyer": True}},  # answers name the buyer
        "partners": {name: partner(name) for name in partners},
        "profiles": {
            "solar-main": {
                "entity": "solar",
                "rules": [],
                "default": {"partners": partners, "strategy": strategy},
            }
        },
    }


def nth_lead(i: int) -> dict[str, Any]:
    """A distinct, valid lead (its own person, so no dedup could ever merge two of them)."""
    return lead(first_name=f"Ada{i}", email=f"ada{i}@example.com", phone=f"(512) 555-{1000 + i:04d}")


def leadrelay_env(url: str, **env: str) -> dict[str, str]:
    return {"LEADRELAY_DATABASE_URL": url, "LEADRELAY_POLL_INTERVAL": "0.02", **env}


@contextmanager
def api_server(url: str, tmp_path: Path) -> Iterator[str]:
    """`leadrelay serve --workers 0`: the API alone, as a process; yields its base URL."""
    port = free_port()
    args = leadrelay_cmd("serve", "--workers", "0", "--port", str(port))
    with process(args, leadrelay_env(url), log=tmp_path / "serve.log") as proc:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health", proc=proc)
        yield base


@contextmanager
def worker_process(url: str, tmp_path: Path, name: str, **env: str) -> Iterator[forked.Process]:
    """`leadrelay worker` as a process, once it says it is running (its log is ``<name>.log``)."""
    log = tmp_path / f"{name}.log"
    with process(leadrelay_cmd("worker"), leadrelay_env(url, **env), log=log) as proc:
        wait_for(lambda: proc.poll() is not None or "worker running" in log.read_text(), timeout=20)
        assert proc.poll() is None, log.read_text()
        yield proc


@dataclass
class Cluster:
    base: str  # the API's URL
    worker_pids: set[int]


@contextmanager
def cluster(url: str, tmp_path: Path, *, workers: int, **env: str) -> Iterator[Cluster]:
    """An API-only server process and ``workers`` worker processes, all on ``url``."""
    with ExitStack() as stack:
        base = stack.enter_context(api_server(url, tmp_path))
        procs = [
            stack.enter_context(worker_process(url, tmp_path, f"worker{n}", **env)) for n in range(workers)
        ]
        yield Cluster(base, {p.pid for p in procs})


_PG_CLAIM_LOG = (
    "CREATE TABLE test_claim_log (job_id text NOT NULL, owner text)",
    "CREATE FUNCTION test_log_claim() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN INSERT INTO test_claim_log VALUES (NEW.id, NEW.lease_owner); RETURN NEW; END $$",
    "CREATE TRIGGER test_claim AFTER UPDATE ON jobs FOR EACH ROW WHEN (NEW.queue_state = 'claimed' AND "
    "(OLD.queue_state <> 'claimed' OR NEW.lease_owner IS DISTINCT FROM OLD.lease_owner)) "
    "EXECUTE FUNCTION test_log_claim()",
)
_SQLITE_CLAIM_LOG = (
    "CREATE TABLE test_claim_log (job_id TEXT NOT NULL, owner TEXT)",
    "CREATE TRIGGER test_claim AFTER UPDATE ON jobs WHEN NEW.queue_state = 'claimed' AND "
    "(OLD.queue_state <> 'claimed' OR NEW.lease_owner IS NOT OLD.lease_owner) "
    "BEGIN INSERT INTO test_claim_log VALUES (NEW.id, NEW.lease_owner); END",
)


def record_claims(url: str) -> None:
    """Arrange the test database so that every claim of a job (it becomes claimed, or another worker takes
    its lease over) is logged with the claiming worker: who took which job, which the queue forgets once a
    job is done."""

    def install(conn: Connection) -> None:
        for ddl in _PG_CLAIM_LOG if conn.dialect.name == "postgresql" else _SQLITE_CLAIM_LOG:
            conn.exec_driver_sql(ddl)

    db = Database(url)
    try:
        db.transaction(install)
    finally:
        db.dispose()


def claims(url: str) -> list[tuple[str, int]]:
    """Every claim so far: (job id, process id of the claiming worker); owners are "host:pid:tag"."""
    rows = read(url, lambda c: list(c.exec_driver_sql("SELECT job_id, owner FROM test_claim_log")))
    return [(job_id, int(owner.split(":")[-2])) for job_id, owner in rows]


def post_concurrently(base: str, count: int, *, concurrency: int = 16) -> list[str]:
    """POST ``count`` leads with at most ``concurrency`` in flight; returns the lead ids (all accepted)."""

    async def main() -> list[str]:
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(base_url=base, timeout=30, headers=source_headers()) as client:

            async def one(i: int) -> str:
                async with gate:
                    r = await client.post("/v1/leads", json=nth_lead(i))
                assert r.status_code == 202, r.text
                assert r.json()["status"] == "queued"
                return str(r.json()["lead_id"])

            return await asyncio.gather(*(one(i) for i in range(count)))

    return asyncio.run(main())


def job_rows(url: str) -> list[Any]:
    return read(url, lambda c: list(c.execute(select(jobs))))


def wait_all_final(url: str, count: int, *, timeout: float = 60.0) -> list[Any]:
    """Wait (bounded) until ``count`` jobs exist and every one is final and released by the queue."""

    def done() -> list[Any] | None:
        rows = job_rows(url)
        finished = [r for r in rows if r.status in FINAL and r.queue_state == "done"]
        return rows if len(rows) == count and len(finished) == count else None

    return wait_for(done, timeout=timeout, interval=0.2)  # type: ignore[no-any-return]


def delivery_rows(url: str) -> list[Any]:
    return read(url, lambda c: list(c.execute(select(deliveries))))


def buyer(buyers: BuyersThread, name: str) -> dict[str, int]:
    empty = {"received": 0, "accepted": 0, "rejected": 0, "errors": 0, "duplicates": 0, "tests": 0}
    return dict(buyers.stats()["buyers"].get(name, empty))


# ---------------------------------------------------------------- caps


@pytest.mark.parametrize("overflow", [True, False], ids=["with-overflow", "without-overflow"])
def test_day_cap_of_10_is_exact_with_120_concurrent_leads_and_two_worker_processes(
    any_url: str, tmp_path: Path, overflow: bool
) -> None:
    total = 120
    with BuyersThread(count=0, latency_ms=20, accept_rate=1.0) as buyers:
        partners = ["capped", "overflow"] if overflow else ["capped"]
        prepare(any_url, config(buyers.url, partners, "priority", capped=10))
        record_claims(any_url)
        with cluster(any_url, tmp_path, workers=2, LEADRELAY_WORKER_CONCURRENCY="4") as run:
            lead_ids = post_concurrently(run.base, total)
            rows = wait_all_final(any_url, total)
        assert {pid for _, pid in claims(any_url)} == run.worker_pids  # both processes took jobs
        capped, spill = buyer(buyers, "capped"), buyer(buyers, "overflow")
        accepted_keys = [x["key"] for name in partners for x in buyers.leads(name)]

    # no lead lost: 120 distinct leads, one job each, every job final
    assert len(set(lead_ids)) == total
    assert sorted(r.lead_id for r in rows) == sorted(lead_ids)
    assert all(r.queue_state == "done" and r.lease_owner is None for r in rows)

    dl = delivery_rows(any_url)
    delivered = Counter(d.partner for d in dl if d.status == "delivered")
    assert delivered["capped"] == 10
    assert capped["accepted"] == 10
    assert capped["duplicates"] == 0 and capped["received"] == 10
    used = read(any_url, lambda c: list(c.execute(select(cap_counters.c.used))))
    assert [u.used for u in used] == [10]
    # each delivered lead was posted once, with its delivery's key
    assert sorted(accepted_keys) == sorted(d.idempotency_key for d in dl if d.status == "delivered")
    assert len({d.lead_id for d in dl}) == len(dl)  # one delivery per lead: no lead went out twice

    statuses = Counter(r.status for r in rows)
    if overflow:
        assert delivered["overflow"] == total - 10
        assert spill["accepted"] == total - 10
        assert spill["duplicates"] == 0 and spill["received"] == total - 10
        assert statuses == {"delivered": total}
        assert len(dl) == total
    else:
        assert statuses == {"delivered": 10, "unsold": total - 10}
        assert len(dl) == 10
        for r in rows:
            if r.status == "unsold":
                said = [r.error or "", *r.trace]
                assert any(CAP_REACHED in line for line in said), (r.error, r.trace)
        unsold_leads = read(any_url, lambda c: list(c.execute(select(leads.c.status))))
        assert Counter(x.status for x in unsold_leads) == {"delivered": 10, "unsold": total - 10}


# ---------------------------------------------------------------- round robin


@pytest.mark.slow_start(8)
def test_round_robin_rotation_is_shared_by_two_worker_processes(pg_url: str, tmp_path: Path) -> None:
    total = 40
    with BuyersThread(count=0, latency_ms=50, accept_rate=1.0) as buyers:
        prepare(pg_url, config(buyers.url, ["left", "right"], "round_robin"))
        sold_to: list[str] = []
        record_claims(pg_url)
        with cluster(pg_url, tmp_path, workers=2) as run, httpx.Client(base_url=run.base, timeout=30) as http:
            for i in range(total):
                r = http.post("/v1/leads?wait=10", json=nth_lead(i), headers=source_headers())
                assert r.status_code == 200, r.text
                assert r.json()["status"] == "delivered", r.json()
                sold_to.append(r.json()["partner"])
        stats = {name: buyer(buyers, name) for name in ("left", "right")}
    # both processes routed leads, so the rotation really was shared between them
    assert {pid for _, pid in claims(pg_url)} == run.worker_pids

    assert Counter(sold_to) == {"left": 20, "right": 20}
    # one after another, one shared counter: the partners strictly alternate
    assert all(a != b for a, b in pairwise(sold_to)), sold_to
    assert {name: s["accepted"] for name, s in stats.items()} == {"left": 20, "right": 20}
    assert all(s["duplicates"] == 0 for s in stats.values())
    delivered = Counter(d.partner for d in delivery_rows(pg_url) if d.status == "delivered")
    assert delivered == {"left": 20, "right": 20}


# ---------------------------------------------------------------- auctions


@pytest.mark.slow_start(8)
def test_caps_stay_exact_with_auctions_on_two_worker_processes(pg_url: str, tmp_path: Path) -> None:
    """120 leads auctioned at once by two worker processes on PostgreSQL: "rich" bids 20 with a day cap of
    10, "cheap" bids 5 without one. Every cap peek before a ping may be stale (the other process is
    auctioning too); the award's reservation is what counts: rich sells exactly 10, at 20, and the rest
    goes to cheap at 5 — no lead lost, none sold twice."""
    from leadrelay.simulate.bidding import BiddingOptions, Latency

    total = 120
    bids = {
        "rich": BiddingOptions(Latency("fixed", 20), bid_min=20, bid_max=20),
        "cheap": BiddingOptions(Latency("fixed", 20), bid_min=5, bid_max=5),
    }
    with BuyersThread(count=0, latency_ms=10, accept_rate=1.0, bidders=bids) as buyers:
        doc = config(buyers.url, ["rich", "cheap"], "auction", rich=10)
        for name, partner in doc["partners"].items():
            partner["ping"] = {"url": buyers.ping_url(name), "timeout": "1s"}
        doc["profiles"]["solar-main"]["default"]["deadline"] = "2s"
        prepare(pg_url, doc)
        record_claims(pg_url)
        with cluster(pg_url, tmp_path, workers=2, LEADRELAY_WORKER_CONCURRENCY="8") as run:
            lead_ids = post_concurrently(run.base, total)
            rows = wait_all_final(pg_url, total)
        assert {pid for _, pid in claims(pg_url)} == run.worker_pids  # both processes auctioned
        rich, cheap = buyer(buyers, "rich"), buyer(buyers, "cheap")

    assert sorted(r.lead_id for r in rows) == sorted(lead_ids)
    assert Counter(r.status for r in rows) == {"delivered": total}
    dl = delivery_rows(pg_url)
    sold = Counter((d.partner, d.price) for d in dl if d.status == "delivered")
    assert sold == {("rich", 20.0): 10, ("cheap", 5.0): total - 10}
    assert len({d.lead_id for d in dl}) == len(dl) == total  # one post per lead: none sold twice
    assert rich["accepted"] == 10 and rich["duplicates"] == 0
    assert cheap["accepted"] == total - 10 and cheap["duplicates"] == 0
    used = read(pg_url, lambda c: {(u.partner, u.used) for u in c.execute(select(cap_counters))})
    assert used == {("rich", 10)}
