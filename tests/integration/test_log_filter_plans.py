"""The distribution log filtered by a rare routing rule, job status or profile reads an index range of
``jobs`` (``ix_jobs_rule_id``, ``ix_jobs_status_id``, ``ix_jobs_profile_id``, migration 0027), and by a
rare source or partner the index of ``leads`` or ``deliveries``, never a scan of every job: the plan of
the very statement ``SqlLogQueries.distributions`` runs, on SQLite (``EXPLAIN QUERY PLAN``) and PostgreSQL
(``EXPLAIN`` after ``ANALYZE``), over a few thousand jobs of which one has the value asked for. Dropping
one of the 0027 indexes fails its case on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, event

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.log_queries import SqlLogQueries
from leadrelay.adapters.db.tables import deliveries, jobs, leads
from leadrelay.domain.log_filter import DistributionFilter
from leadrelay.domain.states import JobStatus
from tests.fakes import delivery_row, job_row, lead_row

JOBS, LEADS = 3000, 300
RARE = "job_00000"


def _seed(conn: Connection) -> None:
    conn.execute(leads.insert(), [lead_row(f"lead_{i:05d}") for i in range(1, LEADS)])
    conn.execute(leads.insert(), [lead_row("lead_rare", source="rare")])
    rows = [
        job_row(
            f"job_{i:05d}",
            f"lead_{i % LEADS:05d}" if i % LEADS else ("lead_rare" if i == 0 else "lead_00001"),
            profile="main" if i else "rare",
            rule=f"rule_{i % 3}" if i else "rare",
            status=JobStatus.DELIVERED if i % 2 else JobStatus.UNSOLD,
        )
        for i in range(JOBS)
    ]
    rows[0]["status"] = JobStatus.FAILED
    conn.execute(jobs.insert(), rows)
    sold = [
        delivery_row(f"dlv_{i:05d}", row["id"], row["lead_id"], "rare" if i == 0 else "sunco")
        for i, row in enumerate(rows)
    ]
    conn.execute(deliveries.insert(), sold)


def _plan(db: Database, wanted: DistributionFilter) -> str:
    """The plan of the statement ``distributions`` runs for this filter (checked to find the rare job)."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        seen.append((statement, parameters))

    with db.engine.connect() as conn:
        event.listen(conn, "before_cursor_execute", capture)
        found = SqlLogQueries(conn).distributions(wanted, 50)
        event.remove(conn, "before_cursor_execute", capture)
        assert [row.id for row in found] == [RARE]
        statement, parameters = seen[-1]
        explain = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
        return "\n".join(str(row[-1]) for row in conn.exec_driver_sql(explain + statement, parameters))


@pytest.mark.parametrize(
    ("wanted", "indexes"),
    [
        (DistributionFilter(rule="rare"), ("ix_jobs_rule_id",)),
        (DistributionFilter(status=JobStatus.FAILED), ("ix_jobs_status_id",)),
        (DistributionFilter(profile="rare"), ("ix_jobs_profile_id",)),
        # a source's leads (either index starting with the source), then their jobs by ix_jobs_lead_id
        (DistributionFilter(source="rare"), ("ix_leads_source_id", "uq_leads_source_idempotency_key")),
        (DistributionFilter(partner="rare"), ("ix_deliveries_partner",)),  # its _id (0024) or the plain one
    ],
    ids=["rule", "status", "profile", "source", "partner"],
)
def test_the_log_filtered_by_a_rare_value_reads_an_index_of_jobs(
    db_url: str, wanted: DistributionFilter, indexes: tuple[str, ...]
) -> None:
    db = Database(db_url)
    try:
        db.transaction(_seed)
        db.transaction(lambda c: c.exec_driver_sql("ANALYZE"))
        plan = _plan(db, wanted)
        assert any(index in plan for index in indexes), plan
        if db.dialect == "sqlite":
            assert "SCAN jobs" not in plan, plan
        else:
            assert "Seq Scan on jobs" not in plan, plan
    finally:
        db.dispose()
