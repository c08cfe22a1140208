"""The console's lead pages' reads (``leadrelay.services.ports.LeadPages``): every one an index lookup
(leads by primary key, jobs by ``lead_id``, audit entries by ``object_id``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, Row, select

from leadrelay.adapters.db.tables import audit_log, jobs, leads


class SqlLeadPages:
    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def summaries(self, lead_ids: Collection[str]) -> list[Row[Any]]:
        if not lead_ids:
            return []
        c = leads.c
        q = (
            select(c.id, c.entity, c.source, c.status, c.is_test, c.created_at, c.erased_at)
            .where(c.id.in_(sorted(set(lead_ids))))
            .order_by(c.id.desc())
        )
        return list(self._conn.execute(q))

    def jobs_of(self, lead_id: str) -> list[Row[Any]]:
        c = jobs.c
        q = (
            select(
                c.id,
                c.profile,
                c.kind,
                c.status,
                c.target_partner,
                c.rule,
                c.error,
                c.created_at,
                c.finished_at,
            )
            .where(c.lead_id == lead_id)
            .order_by(c.created_at, c.id)
        )
        return list(self._conn.execute(q))

    def audit_of(self, object_ids: Sequence[str], limit: int) -> list[Row[Any]]:
        if not object_ids:
            return []
        q = (
            select(audit_log)
            .where(audit_log.c.object_id.in_(sorted(set(object_ids))))
            .order_by(audit_log.c.id.desc())
            .limit(limit)
        )
        return list(self._conn.execute(q))

    def leads_after(self, after: str | None, limit: int) -> list[Row[Any]]:
        c = leads.c
        q = select(c.id, c.entity, c.data, c.sealed).where(c.erased_at.is_(None))
        if after is not None:
            q = q.where(c.id > after)
        return list(self._conn.execute(q.order_by(c.id).limit(limit)))
