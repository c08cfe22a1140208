"""The reads behind the distribution log and the audit log (``leadrelay.services.ports.LogQueries``):
jobs with their lead's source, their deliveries, attempts and batches, and audit entries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, or_, select

from leadrelay.adapters.db.tables import attempts, audit_log, batches, deliveries, jobs, leads
from leadrelay.domain.log_filter import DistributionFilter

_JOBS = select(jobs, leads.c.source).join(leads, leads.c.id == jobs.c.lead_id)
# one distribution's detail: whether its lead was erased too (what its actions may do); not in the lists,
# whose plans read the leads' (source, id) index alone
_JOB = select(jobs, leads.c.source, leads.c.erased_at.label("lead_erased_at")).join(
    leads, leads.c.id == jobs.c.lead_id
)


class SqlLogQueries:
    """The distribution log and the audit log, read in one transaction."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def distributions(self, f: DistributionFilter, limit: int) -> list[Row[Any]]:
        q = _JOBS
        if f.status:
            q = q.where(jobs.c.status == f.status)
        if f.profile:
            q = q.where(jobs.c.profile == f.profile)
        if f.source:
            q = q.where(leads.c.source == f.source)
        if f.lead:
            q = q.where(jobs.c.lead_id == f.lead)
        if f.rule:
            q = q.where(jobs.c.rule == f.rule)
        if f.since:
            q = q.where(jobs.c.created_at >= f.since)
        if f.until:
            q = q.where(jobs.c.created_at < f.until)
        if f.partner:
            q = q.where(jobs.c.id.in_(select(deliveries.c.job_id).where(deliveries.c.partner == f.partner)))
        if f.cursor:
            q = q.where(jobs.c.id < f.cursor)
        if f.after:
            newer = jobs.c.id > f.after
            q = q.where(or_(newer, jobs.c.id.in_(list(f.ids))) if f.ids else newer)
        return list(self._conn.execute(q.order_by(jobs.c.id.desc()).limit(limit)))

    def delivery_states(self, job_ids: Sequence[str]) -> list[Row[Any]]:
        if not job_ids:
            return []
        query = select(deliveries.c.job_id, deliveries.c.partner, deliveries.c.status).where(
            deliveries.c.job_id.in_(list(job_ids))
        )
        return list(self._conn.execute(query))

    def distribution(self, job_id: str) -> Row[Any] | None:
        return self._conn.execute(_JOB.where(jobs.c.id == job_id)).first()

    def attempts(self, job_id: str) -> list[Row[Any]]:
        query = select(attempts).where(attempts.c.job_id == job_id).order_by(attempts.c.id)
        return list(self._conn.execute(query))

    def batches(self, batch_ids: Sequence[str]) -> list[Row[Any]]:
        if not batch_ids:
            return []
        return list(self._conn.execute(select(batches).where(batches.c.id.in_(list(batch_ids)))))

    def batch_attempts(self, batch_ids: Sequence[str]) -> list[Row[Any]]:
        if not batch_ids:
            return []
        query = select(attempts).where(attempts.c.batch_id.in_(list(batch_ids)))
        return list(self._conn.execute(query.order_by(attempts.c.number)))

    def audit_entries(self, cursor: str | None, limit: int) -> list[Row[Any]]:
        q = select(audit_log).order_by(audit_log.c.id.desc())
        if cursor:
            q = q.where(audit_log.c.id < cursor)
        return list(self._conn.execute(q.limit(limit)))
