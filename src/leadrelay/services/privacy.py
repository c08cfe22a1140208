"""Erasure and retention of personal data, and the lead record as an operator may see it.

Erasing a lead removes what identifies the person — its submitted and normalized values, its sealed
(encrypted) values, the requests and responses recorded for its delivery attempts, the values quoted in its
routing trace, its dedup marks — and keeps the business record: the lead's id, entity,
source, status and timestamps, its jobs, and its deliveries with partners, prices, references and dates,
so invoices and reports stay true. A retention setting erases every lead older than N days the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, func, or_, select, update

from leadrelay.adapters.crypto import Sealer
from leadrelay.adapters.db import batch_store, config_store, dedup_store, store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import attempts, batches, deliveries, jobs, leads
from leadrelay.adapters.db.unit_of_work import SqlTx
from leadrelay.domain.fields import EXTENSION, normalize_field, number_only
from leadrelay.domain.model import EntitySpec
from leadrelay.domain.privacy import REDACTED, Redactor
from leadrelay.domain.states import (
    DELIVERY,
    DELIVERY_UNDER_WAY,
    JOB,
    JOB_TO_ROUTE,
    QUEUE,
    DeliveryStatus,
    JobStatus,
    QueueState,
)
from leadrelay.errors import FieldProblem, NotFound, ValidationFailed
from leadrelay.services.configstate import ConfigCache

_BATCH = 500
ERASED_REASON = "personal data erased"


def _all_values(row: Row[Any], sealer: Sealer, conn: Connection) -> list[Any]:
    values: list[Any] = [*(row.data or {}).values(), *(row.raw or {}).values()]
    if row.sealed:
        doc = sealer.ring_sync(row.sealed, conn=conn).open_json(row.sealed, row.id.encode())
        values.extend([*doc["data"].values(), *doc["raw"].values()])
    return values


def erase_leads(conn: Connection, lead_ids: Sequence[str], sealer: Sealer, now: datetime) -> int:
    """Erase these leads' personal data in this transaction; returns how many were erased (not before)."""
    rows = list(
        conn.execute(select(leads).where(leads.c.id.in_(list(lead_ids)), leads.c.erased_at.is_(None)))
    )
    for row in rows:
        red = Redactor.of(sensitive=_all_values(row, sealer, conn))
        for job in conn.execute(
            select(jobs.c.id, jobs.c.trace, jobs.c.error).where(jobs.c.lead_id == row.id)
        ):
            trace = red.lines(job.trace)
            error = red.text(job.error)
            conn.execute(update(jobs).where(jobs.c.id == job.id).values(trace=trace, error=error))
        conn.execute(  # a lead still waiting to be routed has nothing left to route with
            update(jobs)
            .where(
                jobs.c.lead_id == row.id,
                jobs.c.status.in_(sorted(JOB_TO_ROUTE & JOB.sources(JobStatus.UNSOLD))),
                jobs.c.queue_state.in_(sorted(QUEUE.sources(QueueState.DONE))),
            )
            .values(
                status=JobStatus.UNSOLD,
                error=ERASED_REASON,
                queue_state=QueueState.DONE,
                finished_at=now,
                updated_at=now,
            )
        )
        _out_of_batches(conn, row.id, now)
        for att in conn.execute(
            select(attempts.c.id, attempts.c.reason)
            .join(jobs, jobs.c.id == attempts.c.job_id)
            .where(jobs.c.lead_id == row.id)
        ):
            reason = red.text(att.reason)
            conn.execute(
                update(attempts)
                .where(attempts.c.id == att.id)
                .values(request={"erased": True}, response_body=None, reason=reason)
            )
        for d in conn.execute(
            select(deliveries.c.id, deliveries.c.reason).where(deliveries.c.lead_id == row.id)
        ):
            if d.reason and (reason := red.text(d.reason)) != d.reason:  # a buyer's reason may quote the lead
                conn.execute(update(deliveries).where(deliveries.c.id == d.id).values(reason=reason))
    ids = [row.id for row in rows]
    if not ids:
        return 0
    conn.execute(
        update(leads)
        .where(leads.c.id.in_(ids))
        .values(data={}, raw={}, sealed=None, flags=None, erased_at=now, updated_at=now)
    )
    dedup_store.forget_leads(conn, ids)
    return len(ids)


def _out_of_batches(conn: Connection, lead_id: str, now: datetime) -> None:
    """A lead waiting for a batch file or digest (or in one not sent yet) is not sent with its data erased:
    its delivery fails and gives its cap slot back, and its parked job is closed (delivered when another
    partner already has the lead, else unsold)."""
    waiting = list(
        conn.execute(
            select(deliveries).where(
                deliveries.c.lead_id == lead_id, deliveries.c.status == DeliveryStatus.BATCHED
            )
        )
    )
    if not waiting:
        return
    batch_store.lock_jobs(conn, [d.job_id for d in waiting])
    for d in waiting:
        failed = DELIVERY.check(d.status, DeliveryStatus.FAILED)
        store.update_delivery(conn, d.id, status=failed, reason=f"{ERASED_REASON} before its batch was sent")
        store.release_caps(conn, d.partner, d.cap_windows)
        if d.batch_id is not None:
            conn.execute(
                update(batches).where(batches.c.id == d.batch_id).values(lead_count=batches.c.lead_count - 1)
            )
    for job_id in {d.job_id for d in waiting}:
        left = store.job_deliveries(conn, job_id)
        if any(o.status in DELIVERY_UNDER_WAY for o in left):
            continue  # another delivery is under way: the job is settled when it ends
        sold = any(o.status == DeliveryStatus.DELIVERED for o in left)
        status = JobStatus.DELIVERED if sold else JobStatus.UNSOLD
        conn.execute(
            update(jobs)
            .where(
                jobs.c.id == job_id,
                jobs.c.queue_state == QueueState.WAITING,
                jobs.c.status.in_(sorted(JOB.sources(status))),
            )
            .values(
                status=status,
                error=None if sold else ERASED_REASON,
                queue_state=QUEUE.check(QueueState.WAITING, QueueState.DONE),
                finished_at=now,
                updated_at=now,
            )
        )
    store.refresh_lead_status(conn, lead_id, now)


def leads_of_person(
    conn: Connection, entities: Mapping[str, EntitySpec], wanted: Mapping[str, str]
) -> list[str]:
    """The leads whose email or phone fields hold these normalized values (``{"email": …, "phone": …}``).

    A scan, on purpose: erasure requests are rare, and an index of every lead's contacts would cost
    every intake a write. Emails compare case-insensitively, phones without their extension (a wanted
    ``+15125551212`` finds ``+15125551212;ext=12`` too); sensitive (encrypted) fields are not searched.
    """
    found: set[str] = set()
    for name, entity in entities.items():
        matches = []
        for field_name, spec in entity.fields.items():
            value = wanted.get(spec.type.value)
            if value is None or spec.sensitive:
                continue
            stored = leads.c.data[field_name].as_string()
            if spec.type.value == "email":
                matches.append(func.lower(stored) == value.lower())
            elif spec.type.value == "phone":
                number = number_only(value)
                matches.extend([stored == number, stored.startswith(number + EXTENSION, autoescape=True)])
            else:
                matches.append(stored == value)
        if matches:
            query = select(leads.c.id).where(
                leads.c.entity == name, leads.c.erased_at.is_(None), or_(*matches)
            )
            found.update(conn.execute(query).scalars())
    return sorted(found)


def person_of(email: str | None, phone: str | None, region: str = "US") -> dict[str, str]:
    """The normalized email and phone to look for; a value that is not valid is a 422 naming it."""
    problems: list[FieldProblem] = []
    wanted: dict[str, str] = {}
    for kind, value in (("email", email), ("phone", phone)):
        if value is None:
            continue
        field = normalize_field(kind, value, **({"region": region} if kind == "phone" else {}))
        if not field.valid or field.normal is None:
            problems.append(FieldProblem(kind, field.error or f"not a valid {kind}"))
        else:
            wanted[kind] = field.normal
    if problems:
        raise ValidationFailed(problems)
    if not wanted:
        raise ValidationFailed([FieldProblem("email", "give an email or a phone")])
    return wanted


class Privacy:
    def __init__(self, db: Database, sealer: Sealer, configs: ConfigCache) -> None:
        self.db = db
        self.sealer = sealer
        self.configs = configs

    async def erase_lead(self, lead_id: str, *, actor: str, reason: str | None = None) -> bool:
        """Erase one lead; False when it was erased before. Unknown lead: NotFound."""

        def tx(conn: Connection) -> bool:
            if conn.execute(select(leads.c.id).where(leads.c.id == lead_id)).first() is None:
                raise NotFound(f"unknown lead {lead_id}")
            now = datetime.now(UTC)
            erased = erase_leads(conn, [lead_id], self.sealer, now) == 1
            _audit(conn, actor, lead_id, now, reason, erased=erased, by="id")
            return erased

        erased = await self.db.run(tx)
        await self.db.forget_old_pages_soon()
        return erased

    async def erase_person(
        self, *, email: str | None = None, phone: str | None = None, region: str = "US", actor: str
    ) -> list[str]:
        """Erase every lead with this email or phone; returns the lead ids found (erased now or before)."""
        wanted = person_of(email, phone, region)

        def tx(conn: Connection) -> list[str]:
            found = leads_of_person(conn, self.configs.current(SqlTx(conn)).specs.entities, wanted)
            now = datetime.now(UTC)
            erased = erase_leads(conn, found, self.sealer, now) if found else 0
            by = "+".join(k for k, v in (("email", email), ("phone", phone)) if v is not None)
            _audit(conn, actor, ",".join(found)[:128] or "-", now, None, erased=erased, by=by, leads=found)
            return found

        found = await self.db.run(tx)
        await self.db.forget_old_pages_soon()
        return found

    def purge_sync(self, older_than: timedelta, *, actor: str = "retention") -> int:
        """Erase the leads received before now - ``older_than``, in batches (bounded memory)."""
        total = 0
        cutoff = datetime.now(UTC) - older_than
        while True:

            def tx(conn: Connection) -> int:
                ids = list(
                    conn.execute(
                        select(leads.c.id)
                        .where(leads.c.created_at < cutoff, leads.c.erased_at.is_(None))
                        .order_by(leads.c.id)
                        .limit(_BATCH)
                    ).scalars()
                )
                if not ids:
                    return 0
                now = datetime.now(UTC)
                count = erase_leads(conn, ids, self.sealer, now)
                _audit(conn, actor, f"{ids[0]}..{ids[-1]}", now, None, erased=count, by="retention")
                return count

            count = self.db.transaction(tx)
            total += count
            if count == 0:
                if total:
                    self.db.forget_old_pages()
                return total

    def lead_record(self, lead_id: str, *, reveal: bool, actor: str) -> dict[str, Any]:
        """The stored lead; sensitive values as ``***`` unless ``reveal`` (which is audited)."""

        def tx(conn: Connection) -> dict[str, Any]:
            row = conn.execute(select(leads).where(leads.c.id == lead_id)).first()
            if row is None:
                raise NotFound(f"unknown lead {lead_id}")
            data, raw = dict(row.data), dict(row.raw)
            sealed_names: list[str] = []
            if row.sealed:
                doc = self.sealer.ring_sync(row.sealed, conn=conn).open_json(row.sealed, row.id.encode())
                sealed_names = sorted({*doc["data"], *doc["raw"]})
                if reveal:
                    data.update(doc["data"])
                    raw.update(doc["raw"])
                    _audit(conn, actor, lead_id, datetime.now(UTC), None, action="lead.reveal")
                else:
                    data.update(dict.fromkeys(doc["data"], REDACTED))
                    raw.update(dict.fromkeys(doc["raw"], REDACTED))
            return {
                "id": row.id,
                "entity": row.entity,
                "source": row.source,
                "status": row.status,
                "data": data,
                "raw": raw,
                "sensitive": sealed_names,
                "flags": row.flags or {},
                "problems": row.problems or [],
                "duplicate_of": row.duplicate_of,
                "is_test": row.is_test,
                "created_at": row.created_at.isoformat(),
                "erased_at": row.erased_at.isoformat() if row.erased_at else None,
            }

        return self.db.transaction(tx) if reveal else self.db.read(tx)


def _audit(
    conn: Connection,
    actor: str,
    object_id: str,
    now: datetime,
    reason: str | None,
    action: str = "lead.erase",
    **detail: Any,
) -> None:
    config_store.audit(
        conn,
        actor=actor,
        action=action,
        object_kind="lead",
        object_id=object_id,
        at=now,
        detail=detail,
        reason=reason,
    )
