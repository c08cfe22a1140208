"""Leads held for pick-up by the ``hold`` channel: list them, export them as CSV, release them.

A held delivery keeps its cap slot (the lead is the partner's); releasing it sends it again through the
partner's first channel (and, if that fails, down its failover chain once more). The CSV carries the
lead's values, opened sensitive ones included: it is what the partner picks up; a hold channel's
``fields`` limits them to those fields, in that order (a field the lead lacks is an empty cell). Every
export and release is audited.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from leadrelay.adapters.crypto import Sealer
from leadrelay.adapters.db import config_store, store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import deliveries, jobs, leads
from leadrelay.adapters.db.unit_of_work import SqlTx
from leadrelay.domain.states import DELIVERY, JOB, QUEUE, DeliveryStatus, JobStatus, QueueState
from leadrelay.errors import InvalidTransition, NotFound
from leadrelay.services.configstate import ConfigCache
from leadrelay.services.notify import Notifier

_FIXED = ("delivery_id", "lead_id", "partner", "profile", "held_at", "reason")
_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class HeldLead:
    delivery_id: str
    lead_id: str
    partner: str
    profile: str
    held_at: datetime | None
    reason: str | None
    values: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "lead_id": self.lead_id,
            "partner": self.partner,
            "profile": self.profile,
            "held_at": self.held_at.isoformat() if self.held_at else None,
            "reason": self.reason,
        }


class Holds:
    def __init__(self, db: Database, configs: ConfigCache, notifier: Notifier, sealer: Sealer) -> None:
        self.db = db
        self.configs = configs
        self.notifier = notifier
        self.sealer = sealer

    def _held(self, conn: Connection, partner: str | None, *, values: bool) -> list[HeldLead]:
        query = (
            select(deliveries, leads.c.data, leads.c.sealed)
            .join(leads, leads.c.id == deliveries.c.lead_id)
            .where(deliveries.c.status == DeliveryStatus.HELD)
            .order_by(deliveries.c.held_at, deliveries.c.id)
            .limit(_LIMIT)
        )
        if partner is not None:
            query = query.where(deliveries.c.partner == partner)
        out: list[HeldLead] = []
        partners = self.configs.current(SqlTx(conn)).specs.partners if values else {}
        for row in conn.execute(query):
            data: dict[str, Any] = {}
            if values:
                data = dict(row.data)
                if row.sealed:
                    ring = self.sealer.ring_sync(row.sealed, conn=conn)
                    data.update(ring.open_json(row.sealed, row.lead_id.encode())["data"])
                partner_spec = partners.get(row.partner)
                shown = partner_spec.hold_fields(row.channel_step) if partner_spec is not None else None
                if shown is not None:
                    data = {name: data.get(name) for name in shown}
            out.append(HeldLead(row.id, row.lead_id, row.partner, row.profile, row.held_at, row.reason, data))
        return out

    async def list(self, partner: str | None = None) -> list[dict[str, Any]]:
        held = await self.db.run_read(lambda c: self._held(c, partner, values=False))
        return [h.summary() for h in held]

    async def export_csv(self, partner: str | None, *, actor: str) -> str:
        """Every held lead (of a partner) as CSV: the delivery's columns, then the lead's fields (those of
        the hold channel's ``fields`` when it has them)."""

        def tx(conn: Connection) -> str:
            held = self._held(conn, partner, values=True)
            fields: dict[str, None] = {}
            for h in held:
                fields.update(dict.fromkeys(h.values))
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerow([*_FIXED, *fields])
            for h in held:
                fixed = h.summary()
                writer.writerow(
                    [*(fixed[k] or "" for k in _FIXED), *(_cell(h.values.get(f)) for f in fields)]
                )
            config_store.audit(
                conn,
                actor=actor,
                action="holds.export",
                object_kind="partner",
                object_id=partner or "*",
                at=datetime.now(UTC),
                detail={"count": len(held)},
            )
            return buffer.getvalue()

        return await self.db.run(tx)

    async def release(self, delivery_id: str, *, actor: str, reason: str | None = None) -> str:
        """Send a held lead again through its partner's first channel; returns the job id."""

        def tx(conn: Connection) -> str:
            row = conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).first()
            if row is None:
                raise NotFound(f"unknown delivery {delivery_id}")
            job = store.load_jobs(conn, [row.job_id], lock=True)[0]
            if row.status != DeliveryStatus.HELD:
                raise InvalidTransition(f"delivery {delivery_id} is {row.status}, not held")
            pending = DELIVERY.check(row.status, DeliveryStatus.PENDING)
            partner = self.configs.current(SqlTx(conn)).specs.partners.get(row.partner)
            if partner is None or partner.channel is None:
                raise InvalidTransition(f"partner {row.partner} is missing or has no channel")
            now = datetime.now(UTC)
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id, deliveries.c.status == row.status)
                .values(
                    status=pending,
                    channel=partner.channel.kind.value,
                    channel_step=0,
                    attempts=0,
                    next_attempt_at=now,
                    held_at=None,
                    reason=None,
                )
            )
            trace = [*job.trace, f"{row.partner}: released from hold by {actor}"]
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job.id)
                .values(
                    status=JOB.check(job.status, JobStatus.DELIVERING),
                    trace=trace,
                    queue_state=QUEUE.check(job.queue_state, QueueState.READY),
                    run_at=now,
                    lease_owner=None,
                    lease_until=None,
                    finished_at=None,
                    updated_at=now,
                )
            )
            store.refresh_lead_status(conn, job.lead_id, now)
            config_store.audit(
                conn,
                actor=actor,
                action="hold.release",
                object_kind="distribution",
                object_id=job.id,
                at=now,
                detail={"delivery": delivery_id, "partner": row.partner},
                reason=reason,
            )
            return str(job.id)

        job_id = await self.db.run(tx)
        self.notifier.jobs_added()
        return job_id


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
