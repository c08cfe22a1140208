"""One bad job in a batch is closed as failed; the others go on. A database error fails the batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Row, select
from sqlalchemy.exc import OperationalError

from leadrelay.adapters.db import store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import jobs
from leadrelay.adapters.db.unit_of_work import SqlTx
from leadrelay.entrypoints.worker_isolation import all_or_each
from leadrelay.services.intake_writes import new_job_row
from leadrelay.services.steps import StepResult
from leadrelay.services.writes import Writes


def _seed(db: Database, n: int) -> list[str]:
    now = datetime.now(UTC)
    leads_, jobs_ = [], []
    for i in range(n):
        lead_id = f"lead_{i}"
        leads_.append(
            {
                "id": lead_id,
                "entity": "solar",
                "source": "web",
                "status": "queued",
                "data": {},
                "raw": {},
                "problems": None,
                "idempotency_key": None,
                "request_hash": None,
                "is_test": False,
                "created_at": now,
                "updated_at": now,
            }
        )
        jobs_.append(new_job_row(lead_id, "p", now, id=f"job_{i}", queue_state="claimed", lease_owner="me"))
    db.transaction(lambda c: (store.insert_leads(c, leads_), store.insert_jobs(c, jobs_)))
    return [j["id"] for j in jobs_]


def _rows(conn: Connection, ids: Sequence[str]) -> list[Row[Any]]:
    return list(conn.execute(select(jobs).where(jobs.c.id.in_(list(ids))).order_by(jobs.c.id)))


def test_only_the_bad_job_fails(db_url: str) -> None:
    db = Database(db_url)
    try:
        ids = _seed(db, 3)
        now = datetime.now(UTC)

        def run_in(conn: Connection) -> list[StepResult]:
            def run(batch: Sequence[Row[Any]]) -> list[StepResult]:
                w = Writes()
                for job in batch:
                    if job.id == "job_1":
                        raise ValueError("a bug")
                    w.update_job(job.id, status="delivering")
                w.flush(tx, now)
                return [StepResult(lead_id=job.lead_id) for job in batch]

            tx = SqlTx(conn)
            return all_or_each(tx, _rows(conn, ids), run, "routing", lambda job: [], now)

        steps = db.transaction(run_in)
        assert [s.done for s in steps] == [False, True, False]
        rows = {r.id: r for r in db.read(lambda c: _rows(c, ids))}
        assert rows["job_0"].status == rows["job_2"].status == "delivering"
        assert rows["job_1"].status == "failed"
        assert rows["job_1"].error == "internal error while routing (ValueError; see the worker log)"
        assert rows["job_1"].queue_state == "done"
    finally:
        db.dispose()


def test_a_database_error_fails_the_whole_batch(db_url: str) -> None:
    db = Database(db_url)
    try:
        ids = _seed(db, 2)

        def run_in(conn: Connection) -> list[StepResult]:
            def run(batch: Sequence[Row[Any]]) -> list[StepResult]:
                raise OperationalError("SELECT 1", {}, Exception("deadlock detected"))

            return all_or_each(
                SqlTx(conn), _rows(conn, ids), run, "routing", lambda job: [], datetime.now(UTC)
            )

        with pytest.raises(OperationalError), db.engine.begin() as conn:
            run_in(conn)
        assert {r.status for r in db.read(lambda c: _rows(c, ids))} == {"received"}
    finally:
        db.dispose()


def test_a_job_refused_by_storage_is_undone_and_fails_alone(db_url: str) -> None:
    """The batch's writes before the refusal are undone (on PostgreSQL the refusal also aborts the
    transaction until the savepoint is rolled back); redone one by one, only the refused job fails."""
    db = Database(db_url)
    try:
        ids = _seed(db, 3)
        now = datetime.now(UTC)

        def run_in(conn: Connection) -> list[StepResult]:
            def run(batch: Sequence[Row[Any]]) -> list[StepResult]:
                for job in batch:  # written at once, not deferred: the refusal comes after other writes
                    store.update_job(conn, job.id, status="delivering", trace=[f"routed {len(batch)}"])
                    if job.id == "job_1":
                        store.update_job(conn, job.id, status="no such status")  # the CHECK refuses it
                return [StepResult(lead_id=job.lead_id) for job in batch]

            return all_or_each(SqlTx(conn), _rows(conn, ids), run, "routing", lambda job: [], now)

        steps = db.transaction(run_in)
        assert [s.done for s in steps] == [False, True, False]
        rows = {r.id: r for r in db.read(lambda c: _rows(c, ids))}
        assert rows["job_0"].status == rows["job_2"].status == "delivering"
        assert rows["job_0"].trace == rows["job_2"].trace == ["routed 1"]  # the batch's own writes undone
        assert rows["job_1"].status == "failed"
        assert rows["job_1"].error.startswith("internal error while routing: storage refused it (")
        assert rows["job_1"].queue_state == "done"
    finally:
        db.dispose()
