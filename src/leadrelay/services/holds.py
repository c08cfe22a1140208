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

from leadrelay.domain.files import spreadsheet_text
from leadrelay.domain.states import DELIVERY, JOB, QUEUE, DeliveryStatus, JobStatus, QueueState
from leadrelay.errors import FieldProblem, InvalidTransition, NotFound, ValidationFailed
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.notify import Notifier
from leadrelay.services.ports import Clock, Sealer, Storage, Tx, system_clock

_FIXED = ("delivery_id", "lead_id", "partner", "profile", "held_at", "reason")
PAGE = 10_000  # the most held leads one answer (a list, a CSV file) carries: the rest come page by page


def page_after(cursor: str | None) -> tuple[datetime, str] | None:
    """The (held_at, delivery id) a page's ``next_cursor`` names; ``ValidationFailed`` naming ``cursor``."""
    if not cursor:  # none, or empty: the first page
        return None
    at, sep, delivery_id = cursor.replace(" ", "+").partition("~")  # a "+" a query string made a space
    when: datetime | None = None
    try:
        given = datetime.fromisoformat(at)
        when = given.astimezone(UTC) if given.tzinfo is not None else None  # the year 1 at +05:00 overflows
    except (ValueError, OverflowError):
        pass
    if not sep or not delivery_id or when is None:
        raise ValidationFailed([FieldProblem("cursor", "not a next_cursor a page of held leads gave")])
    return when, delivery_id


def _cursor(last: HeldLead) -> str:
    assert last.held_at is not None  # a held delivery has its time
    at = last.held_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # nothing a URL must escape
    return f"{at}~{last.delivery_id}"


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
    def __init__(
        self,
        storage: Storage,
        configs: ConfigCache,
        notifier: Notifier,
        sealer: Sealer,
        *,
        clock: Clock = system_clock,
    ) -> None:
        self.storage = storage
        self.configs = configs
        self.notifier = notifier
        self.sealer = sealer
        self.clock = clock

    def _held(
        self, tx: Tx, partner: str | None, *, values: bool, after: str | None, limit: int
    ) -> tuple[list[HeldLead], str | None]:
        """A page of held leads, and the cursor of the next (None: this was the last)."""
        out: list[HeldLead] = []
        partners = self.configs.current(tx).specs.partners if values else {}
        rows = tx.holds.held(partner, limit + 1, page_after(after))
        for row in rows[:limit]:
            data: dict[str, Any] = {}
            if values:
                data = dict(row.data)
                if row.sealed:
                    ring = self.sealer.ring_sync(row.sealed, tx=tx)
                    data.update(ring.open_json(row.sealed, row.lead_id.encode())["data"])
                partner_spec = partners.get(row.partner)
                shown = partner_spec.hold_fields(row.channel_step) if partner_spec is not None else None
                if shown is not None:
                    data = {name: data.get(name) for name in shown}
            out.append(HeldLead(row.id, row.lead_id, row.partner, row.profile, row.held_at, row.reason, data))
        return out, _cursor(out[-1]) if len(rows) > limit else None

    async def list(
        self, partner: str | None = None, *, after: str | None = None, limit: int = PAGE
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of held deliveries (of a partner), oldest first, and the next page's cursor."""
        held, more = await self.storage.run_read(
            lambda tx: self._held(tx, partner, values=False, after=after, limit=limit)
        )
        return [h.summary() for h in held], more

    async def export_csv(
        self, partner: str | None, *, actor: str, after: str | None = None, limit: int = PAGE
    ) -> tuple[str, str | None]:
        """A page of held leads (of a partner) as CSV, and the next page's cursor: the delivery's columns,
        then the lead's fields (those of the hold channel's ``fields`` when it has them)."""

        def work(tx: Tx) -> tuple[str, str | None]:
            held, more = self._held(tx, partner, values=True, after=after, limit=limit)
            fields: dict[str, None] = {}
            for h in held:
                fields.update(dict.fromkeys(h.values))
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            # a field named like a fixed column is named as the lead's (one column per name)
            writer.writerow([*_FIXED, *(f"field.{f}" if f in _FIXED else f for f in fields)])
            for h in held:
                fixed = h.summary()
                writer.writerow(
                    [*(fixed[k] or "" for k in _FIXED), *(_cell(h.values.get(f)) for f in fields)]
                )
            tx.config.audit(
                actor=actor,
                action="holds.export",
                object_kind="partner",
                object_id=partner or "*",
                at=self.clock(),
                detail={"count": len(held), "after": after},
            )
            return buffer.getvalue(), more

        return await self.storage.run(work)

    async def release(self, delivery_id: str, *, actor: str, reason: str | None = None) -> str:
        """Send a held lead again through its partner's first channel; returns the job id."""

        def work(tx: Tx) -> str:
            row = tx.holds.delivery(delivery_id)
            if row is None:
                raise NotFound(f"unknown delivery {delivery_id}")
            job = tx.jobs.load_jobs([row.job_id], lock=True)[0]
            row = tx.holds.delivery(delivery_id) or row  # read again under the job's lock: a release at
            if row.status != DeliveryStatus.HELD:  # the same time waited for it, and sees it released
                raise InvalidTransition(f"delivery {delivery_id} is {row.status}, not held")
            pending = DELIVERY.check(row.status, DeliveryStatus.PENDING)
            partner = self.configs.current(tx).specs.partners.get(row.partner)
            if partner is None or partner.channel is None:
                raise InvalidTransition(f"partner {row.partner} is missing or has no channel")
            now = self.clock()
            released = tx.holds.update_held(
                delivery_id,
                status=pending,
                channel=partner.channel.kind.value,
                channel_step=0,
                attempts=0,
                next_attempt_at=now,
                held_at=None,
                reason=None,
            )
            if not released:  # no longer held (a store without the job's lock): nothing is changed
                raise InvalidTransition(f"delivery {delivery_id} is no longer held")
            line = f"{row.partner}: released from hold by {actor}"
            if (
                job.queue_state == QueueState.CLAIMED
                and job.lease_until is not None
                and job.lease_until > now
            ):
                # a worker holds the job (sending its other deliveries): it takes the released one up
                # when it settles them; taking its lease away would have the job claimed twice
                tx.jobs.update_job(job.id, trace=[*job.trace, line], updated_at=now)
            else:
                tx.jobs.update_job(
                    job.id,
                    status=JOB.check(job.status, JobStatus.DELIVERING),
                    trace=[*job.trace, line],
                    queue_state=QUEUE.check(job.queue_state, QueueState.READY),
                    run_at=now,
                    lease_owner=None,
                    lease_until=None,
                    claims=0,
                    finished_at=None,
                    updated_at=now,
                )
            tx.leads.refresh_lead_status(job.lead_id, now)
            tx.config.audit(
                actor=actor,
                action="hold.release",
                object_kind="distribution",
                object_id=job.id,
                at=now,
                detail={"delivery": delivery_id, "partner": row.partner},
                reason=reason,
            )
            return str(job.id)

        job_id = await self.storage.run(work)
        self.notifier.jobs_added()
        return job_id


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return spreadsheet_text(str(value))
