"""Reading the record: the distribution log (jobs with trace, deliveries, attempts) and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import attempts, audit_log, batch_attempts, batches, deliveries, jobs, leads
from leadrelay.errors import NotFound


@dataclass(frozen=True, slots=True)
class DistributionFilter:
    status: str | None = None
    partner: str | None = None
    profile: str | None = None
    source: str | None = None
    lead: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursor: str | None = None  # the last id of the previous page (newest first)
    limit: int = 50


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _job_summary(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "lead_id": row.lead_id,
        "profile": row.profile,
        "kind": row.kind,
        "status": row.status,
        "rule": row.rule,
        "error": row.error,
        "parent_id": row.parent_id,
        "source": row.source,
        "created_at": _iso(row.created_at),
        "finished_at": _iso(row.finished_at),
    }


def list_distributions(conn: Connection, f: DistributionFilter) -> dict[str, Any]:
    q = select(jobs, leads.c.source).join(leads, leads.c.id == jobs.c.lead_id)
    if f.status:
        q = q.where(jobs.c.status == f.status)
    if f.profile:
        q = q.where(jobs.c.profile == f.profile)
    if f.source:
        q = q.where(leads.c.source == f.source)
    if f.lead:
        q = q.where(jobs.c.lead_id == f.lead)
    if f.since:
        q = q.where(jobs.c.created_at >= f.since)
    if f.until:
        q = q.where(jobs.c.created_at < f.until)
    if f.partner:
        q = q.where(jobs.c.id.in_(select(deliveries.c.job_id).where(deliveries.c.partner == f.partner)))
    if f.cursor:
        q = q.where(jobs.c.id < f.cursor)
    limit = max(1, min(f.limit, 500))
    rows = list(conn.execute(q.order_by(jobs.c.id.desc()).limit(limit + 1)))
    page = rows[:limit]
    by_job: dict[str, list[str]] = {}
    if page:
        for d in conn.execute(
            select(deliveries.c.job_id, deliveries.c.partner, deliveries.c.status).where(
                deliveries.c.job_id.in_([r.id for r in page])
            )
        ):
            by_job.setdefault(d.job_id, []).append(f"{d.partner}:{d.status}")
    items = []
    for r in page:
        item = _job_summary(r)
        item["deliveries"] = by_job.get(r.id, [])
        items.append(item)
    return {"items": items, "next_cursor": page[-1].id if len(rows) > limit else None}


def get_distribution(conn: Connection, job_id: str) -> dict[str, Any]:
    row = conn.execute(
        select(jobs, leads.c.source).join(leads, leads.c.id == jobs.c.lead_id).where(jobs.c.id == job_id)
    ).first()
    if row is None:
        raise NotFound(f"unknown distribution {job_id}")
    out = _job_summary(row)
    out["trace"] = row.trace
    out["excluded"] = row.excluded
    out["deliveries"] = []
    att_by_delivery: dict[str, list[dict[str, Any]]] = {}
    for a in conn.execute(select(attempts).where(attempts.c.job_id == job_id).order_by(attempts.c.id)):
        att_by_delivery.setdefault(a.delivery_id, []).append(
            {
                "id": a.id,
                "number": a.number,
                "started_at": _iso(a.started_at),
                "duration_ms": round(a.duration_ms, 2),
                "outcome": a.outcome,
                "reason": a.reason,
                "status_code": a.status_code,
                "request": a.request,
                "response_body": a.response_body,
            }
        )
    found = list(
        conn.execute(select(deliveries).where(deliveries.c.job_id == job_id).order_by(deliveries.c.id))
    )
    in_batches = _batches(conn, [d.batch_id for d in found if d.batch_id])
    for d in found:
        out["deliveries"].append(
            {
                "id": d.id,
                "partner": d.partner,
                "channel": d.channel,
                "status": d.status,
                "price": d.price,
                "reference": d.reference,
                "reason": d.reason,
                "invoiced": d.invoiced,
                "test": d.is_test,
                "idempotency_key": d.idempotency_key,
                "delivered_at": _iso(d.delivered_at),
                "cancelled_at": _iso(d.cancelled_at),
                "attempts": att_by_delivery.get(d.id, []),
                "batch": in_batches.get(d.batch_id) if d.batch_id else None,
            }
        )
    return out


def _batches(conn: Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The batches (file or digest) some deliveries went into, with every attempt to deliver them."""
    if not ids:
        return {}
    tries: dict[str, list[dict[str, Any]]] = {}
    query = select(batch_attempts).where(batch_attempts.c.batch_id.in_(ids))
    for a in conn.execute(query.order_by(batch_attempts.c.number)):
        tries.setdefault(a.batch_id, []).append(
            {
                "number": a.number,
                "started_at": _iso(a.started_at),
                "duration_ms": round(a.duration_ms, 2),
                "outcome": a.outcome,
                "location": a.location,
                "bytes": a.bytes,
                "reason": a.reason,
            }
        )
    return {
        b.id: {
            "id": b.id,
            "status": b.status,
            "trigger": b.trigger,
            "filename": b.filename,
            "lead_count": b.lead_count,
            "location": b.location,
            "reason": b.reason,
            "sent_at": _iso(b.sent_at),
            "attempts": tries.get(b.id, []),
        }
        for b in conn.execute(select(batches).where(batches.c.id.in_(ids)))
    }


def list_audit(conn: Connection, *, cursor: str | None = None, limit: int = 100) -> dict[str, Any]:
    q = select(audit_log).order_by(audit_log.c.id.desc())
    if cursor:
        q = q.where(audit_log.c.id < cursor)
    limit = max(1, min(limit, 500))
    rows = list(conn.execute(q.limit(limit + 1)))
    page = rows[:limit]
    items = [
        {
            "id": r.id,
            "at": _iso(r.at),
            "actor": r.actor,
            "action": r.action,
            "object_kind": r.object_kind,
            "object_id": r.object_id,
            "reason": r.reason,
            "detail": r.detail,
        }
        for r in page
    ]
    return {"items": items, "next_cursor": page[-1].id if len(rows) > limit else None}


class LogView:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def distributions(self, f: DistributionFilter) -> dict[str, Any]:
        return await self.db.run_read(lambda c: list_distributions(c, f))

    async def distribution(self, job_id: str) -> dict[str, Any]:
        return await self.db.run_read(lambda c: get_distribution(c, job_id))

    async def audit(self, cursor: str | None, limit: int) -> dict[str, Any]:
        return await self.db.run_read(lambda c: list_audit(c, cursor=cursor, limit=limit))
