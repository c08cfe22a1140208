"""The one lease mechanism (``adapters/db/leases.py``) on both databases, for jobs and for batches: what is
claimable, a lease that ran out taken over (a batch counts its lost send as an attempt), heartbeats, and a
lease ended only by the owner that still holds it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from leadrelay.adapters.db import batch_store, leases, store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import batches, jobs
from leadrelay.domain.states import BatchStatus, QueueState

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)
MINUTE = timedelta(minutes=1)


def insert(db: Database, table: Any, rows: list[dict[str, Any]]) -> None:
    """One INSERT per row: the rows set different columns."""
    db.transaction(lambda c: [c.execute(table.insert().values(row)) for row in rows])


def job(job_id: str, state: QueueState, run_at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "lead_id": f"lead_{job_id}",
        "profile": "p",
        "kind": "route",
        "status": "received",
        "trace": [],
        "excluded": [],
        "queue_state": state,
        "run_at": run_at,
        "claims": 0,
        "created_at": NOW,
        "updated_at": NOW,
        **extra,
    }


def batch(batch_id: str, status: BatchStatus, due: datetime | None, **extra: Any) -> dict[str, Any]:
    return {
        "id": batch_id,
        "partner": "sunco",
        "channel": "email",
        "channel_step": 0,
        "status": status,
        "trigger": "test",
        "filename": f"{batch_id}.csv",
        "lead_count": 1,
        "attempts": 0,
        "next_attempt_at": due,
        "is_test": False,
        "created_at": NOW,
        **extra,
    }


def test_jobs_ready_and_due_or_with_a_lease_that_ran_out_are_claimed(db_url: str) -> None:
    db = Database(db_url)
    try:
        rows = [
            job("job_a", QueueState.READY, NOW - MINUTE),
            job("job_b", QueueState.READY, NOW + MINUTE),  # not due
            job("job_c", QueueState.CLAIMED, NOW, lease_owner="lost", lease_until=NOW - MINUTE, claims=1),
            job("job_d", QueueState.CLAIMED, NOW, lease_owner="alive", lease_until=NOW + MINUTE, claims=1),
            job("job_e", QueueState.WAITING, NOW - MINUTE),
        ]
        insert(db, jobs, rows)
        got = db.transaction(lambda c: store.claim_jobs(c, "me", 10, NOW, NOW + MINUTE))
        assert sorted(got) == ["job_a", "job_c"]
        assert db.transaction(lambda c: store.claim_jobs(c, "other", 10, NOW, NOW + MINUTE)) == []
        after = {r.id: r for r in db.read(lambda c: list(c.execute(select(jobs))))}
        assert (after["job_a"].lease_owner, after["job_a"].claims) == ("me", 0)  # only a takeover counts
        assert (after["job_c"].lease_owner, after["job_c"].claims) == ("me", 2)
        assert after["job_a"].queue_state == QueueState.CLAIMED and after["job_a"].updated_at == NOW

        db.transaction(lambda c: store.extend_leases(c, "me", ["job_a", "job_d"], LATER + MINUTE))
        after = {r.id: r for r in db.read(lambda c: list(c.execute(select(jobs))))}
        assert after["job_a"].lease_until == LATER + MINUTE
        assert after["job_d"].lease_until == NOW + MINUTE  # not mine

        assert db.transaction(lambda c: store.release_jobs(c, "me", ["job_a", "job_d"], LATER)) == 1
        released = db.read(lambda c: c.execute(select(jobs).where(jobs.c.id == "job_a")).one())
        assert released.queue_state == QueueState.READY and released.lease_owner is None
        assert released.run_at == LATER and released.updated_at == LATER
    finally:
        db.dispose()


def test_only_the_given_jobs_are_claimed(db_url: str) -> None:
    db = Database(db_url)
    try:
        rows = [job(f"job_{n}", QueueState.READY, NOW - MINUTE) for n in "abc"]
        insert(db, jobs, rows)
        got = db.transaction(lambda c: store.claim_jobs(c, "me", 10, NOW, LATER, only=["job_b"]))
        assert got == ["job_b"]
    finally:
        db.dispose()


def test_batches_share_the_lease_and_a_lost_send_counts_as_an_attempt(db_url: str) -> None:
    db = Database(db_url)
    try:
        rows = [
            batch("bat_a", BatchStatus.READY, NOW - MINUTE),
            batch("bat_b", BatchStatus.RETRY, NOW - MINUTE, attempts=1),
            batch("bat_c", BatchStatus.RETRY, NOW + MINUTE, attempts=1),  # not due
            batch(
                "bat_d", BatchStatus.SENDING, NOW, attempts=2, lease_owner="lost", lease_until=NOW - MINUTE
            ),
            batch("bat_e", BatchStatus.SENDING, NOW, lease_owner="alive", lease_until=NOW + MINUTE),
            batch("bat_f", BatchStatus.SENT, None),
        ]
        insert(db, batches, rows)
        assert db.read(lambda c: batch_store.any_due(c, NOW))
        got = db.transaction(lambda c: batch_store.claim(c, "me", 10, NOW, LATER))
        assert {r.id: r.attempts for r in got} == {"bat_a": 0, "bat_b": 1, "bat_d": 3}
        assert {(r.status, r.lease_owner, r.lease_until) for r in got} == {(BatchStatus.SENDING, "me", LATER)}
        assert not db.read(lambda c: batch_store.any_due(c, NOW))

        # the lost sender comes back: its lease is gone, so it ends nothing
        lost = db.transaction(
            lambda c: leases.end(c, leases.BATCH_LEASE, "lost", ["bat_d"], BatchStatus.SENT)
        )
        mine = db.transaction(
            lambda c: leases.end(c, leases.BATCH_LEASE, "me", ["bat_d"], BatchStatus.SENT, attempts=4)
        )
        assert (lost, mine) == (0, 1)
        done = db.read(lambda c: c.execute(select(batches).where(batches.c.id == "bat_d")).one())
        assert (done.status, done.lease_owner, done.lease_until, done.attempts) == (
            BatchStatus.SENT,
            None,
            None,
            4,
        )
    finally:
        db.dispose()
