"""Actions on a distribution (PRODUCT.md §4): resend, rerun, cancel. Each is audited."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from leadrelay.domain.fields.sample import build_test_lead
from leadrelay.domain.ledger import EntryKind
from leadrelay.domain.states import (
    DELIVERY,
    DELIVERY_UNDER_WAY,
    JOB,
    JOB_OPEN,
    QUEUE,
    DeliveryStatus,
    JobStatus,
    LeadStatus,
    QueueState,
)
from leadrelay.errors import InvalidTransition, NotFound
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.intake import new_job_row
from leadrelay.services.ledger import post_reversals, resend_takes_over
from leadrelay.services.notify import Notifier
from leadrelay.services.ports import Clock, IdSource, Record, Sealer, Storage, Tx, system_clock, system_ids


def _job(tx: Tx, job_id: str) -> Record:
    """The job, locked until the action commits (PostgreSQL; SQLite's write lock is taken already), so
    two concurrent actions on it run one after the other and the second sees the first's result."""
    found = tx.jobs.load_jobs([job_id], lock=True)
    if not found:
        raise NotFound(f"unknown distribution {job_id}")
    return found[0]


def _audit(
    tx: Tx, actor: str, action: str, job_id: str, now: datetime, reason: str | None, **detail: Any
) -> None:
    tx.config.audit(
        actor=actor,
        action=action,
        object_kind="distribution",
        object_id=job_id,
        at=now,
        detail=detail,
        reason=reason,
    )


def _human(period: timedelta) -> str:
    seconds = int(period.total_seconds())
    if seconds % 86_400 == 0:
        days = seconds // 86_400
        return f"{days} day" + ("s" if days != 1 else "")
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hours"
    return f"{seconds} seconds"


class Actions:
    def __init__(
        self,
        storage: Storage,
        configs: ConfigCache,
        notifier: Notifier,
        sealer: Sealer | None = None,
        *,
        clock: Clock = system_clock,
        ids: IdSource = system_ids,
    ) -> None:
        self.storage = storage
        self.configs = configs
        self.notifier = notifier
        self.sealer = sealer  # seals the sensitive fields of a test lead
        self.clock = clock
        self.ids = ids

    async def resend(self, job_id: str, *, actor: str, reason: str | None = None) -> list[str]:
        """Only for a delivered job: a new job, linked to it, straight to the same partner through the
        partner's current channel; selection and dedup are bypassed. The original stays unchanged.
        (A broadcast delivered to several partners gets one new job per partner.)"""

        def work(tx: Tx) -> list[str]:
            job = _job(tx, job_id)
            if job.status != JobStatus.DELIVERED:
                raise InvalidTransition(
                    f"resend is only for delivered distributions; {job_id} is {job.status}"
                    + (" (use rerun)" if job.status in (JobStatus.FAILED, JobStatus.UNSOLD) else "")
                )
            delivered = [
                d for d in tx.deliveries.job_deliveries(job_id) if d.status == DeliveryStatus.DELIVERED
            ]
            now = self.clock()
            new_ids = []
            for d in delivered:
                row = new_job_row(
                    job.lead_id,
                    job.profile,
                    now,
                    id=self.ids("job"),
                    kind="resend",
                    parent_id=job_id,
                    target_partner=d.partner,
                    trace=[f"resend of {job_id} by {actor}"],
                )
                tx.jobs.insert_jobs([row])
                new_ids.append(row["id"])
            tx.leads.refresh_lead_status(job.lead_id, now)
            _audit(
                tx,
                actor,
                "distribution.resend",
                job_id,
                now,
                reason,
                new_jobs=new_ids,
                partners=[d.partner for d in delivered],
            )
            return [str(i) for i in new_ids]

        new_jobs = await self.storage.run(work)
        self.notifier.jobs_added()
        return new_jobs

    async def rerun(self, job_id: str, *, actor: str, reason: str | None = None) -> None:
        """For a failed or stuck job: reset the same job to received, clear its error, route again."""

        def work(tx: Tx) -> None:
            job = _job(tx, job_id)
            now = self.clock()
            open_ = job.status in JOB_OPEN
            lease_live = job.queue_state == QueueState.CLAIMED and (job.lease_until or now) > now
            waiting = job.queue_state == QueueState.READY and job.run_at > now  # a retry scheduled for later
            parked = job.queue_state == QueueState.WAITING  # its lead is in (or waits for) a batch
            stuck = open_ and not lease_live and not waiting and not parked
            if job.status not in (JobStatus.FAILED, JobStatus.UNSOLD) and not stuck:
                if lease_live:
                    why = "it is being processed by a worker right now"
                elif parked:
                    why = (
                        "its lead waits for the partner's next batch file or digest (see GET /v1/batches),"
                        " or for the consumer's choice of an offer (strategy user_choice)"
                    )
                elif waiting:
                    why = f"it is waiting for a scheduled retry at {job.run_at.isoformat()}"
                elif job.status == JobStatus.DELIVERED:
                    why = "it was delivered (use resend)"
                else:
                    why = f"it is {job.status}"
                raise InvalidTransition(f"rerun is for failed or stuck distributions; {job_id}: {why}")
            found = tx.deliveries.job_deliveries(job_id)
            sold = [d.partner for d in found if d.status == DeliveryStatus.DELIVERED]
            if sold:
                raise InvalidTransition(
                    f"rerun is for failed or stuck distributions; {job_id} was already delivered to "
                    f"{', '.join(sold)} (use resend, or cancel first)"
                )
            for d in found:
                if d.status in DELIVERY_UNDER_WAY:  # a batched one leaves its batch unsent
                    failed = DELIVERY.check(d.status, DeliveryStatus.FAILED)
                    tx.deliveries.update_delivery(d.id, status=failed, reason="superseded by rerun")
                    tx.caps.release_caps(d.partner, d.cap_windows)
            tx.deliveries.supersede_bids(job_id)  # an auctioned lead is auctioned afresh
            tx.jobs.update_job(
                job_id,
                status=JOB.check(job.status, JobStatus.RECEIVED),
                error=None,
                excluded=[],
                queue_state=QUEUE.check(job.queue_state, QueueState.READY),
                run_at=now,
                lease_owner=None,
                lease_until=None,
                finished_at=None,
                updated_at=now,
                trace=[*job.trace, f"rerun by {actor}" + (f": {reason}" if reason else "")],
            )
            tx.leads.refresh_lead_status(job.lead_id, now)
            _audit(tx, actor, "distribution.rerun", job_id, now, reason, previous_status=job.status)

        await self.storage.run(work)
        self.notifier.jobs_added()

    async def cancel(self, job_id: str, *, actor: str, reason: str | None = None) -> str | None:
        """Only for a delivered, not invoiced job within the partner's cancellation period. With the
        profile's automatic redistribution on, a new job routes the lead to the next eligible partner."""
        live = await self.configs.get(self.storage)

        def work(tx: Tx) -> str | None:
            job = _job(tx, job_id)
            if job.status != JobStatus.DELIVERED:
                raise InvalidTransition(
                    f"cancel is only for delivered distributions; {job_id} is {job.status}"
                )
            now = self.clock()
            delivered = [
                d for d in tx.deliveries.job_deliveries(job_id) if d.status == DeliveryStatus.DELIVERED
            ]
            for d in delivered:
                if d.invoiced:
                    raise InvalidTransition(f"cannot cancel: the delivery to {d.partner} is already invoiced")
                partner = live.specs.partners.get(d.partner)
                period = timedelta(seconds=partner.cancel_period_s if partner is not None else 7 * 86_400)
                if d.delivered_at is not None and now - d.delivered_at > period:
                    raise InvalidTransition(
                        f"cannot cancel: the cancellation period of {d.partner} ({_human(period)}) has passed"
                    )
            for d in delivered:
                cancelled = DELIVERY.check(d.status, DeliveryStatus.CANCELLED)
                tx.deliveries.update_delivery(d.id, status=cancelled, cancelled_at=now, cancel_reason=reason)
                tx.caps.release_caps(d.partner, d.cap_windows)
            # the sales are undone in the ledger with the cancel (new entries: nothing is edited)
            post_reversals(
                tx,
                live,
                [d.id for d in delivered],
                EntryKind.CANCELLATION,
                now,
                self.ids,
                actor=actor,
                memo=reason,
            )
            resend_takes_over(tx, live, delivered, now, self.ids)
            tx.jobs.update_job(
                job_id,
                status=JOB.check(job.status, JobStatus.CANCELLED),
                updated_at=now,
                trace=[*job.trace, f"cancelled by {actor}" + (f": {reason}" if reason else "")],
            )
            new_job: str | None = None
            profile = live.specs.profiles.get(job.profile)
            if profile is not None and profile.auto_redistribute and job.kind == "route":
                row = new_job_row(
                    job.lead_id,
                    job.profile,
                    now,
                    id=self.ids("job"),
                    parent_id=job_id,
                    excluded=sorted({*job.excluded, *(d.partner for d in delivered)}),
                    trace=[f"redistribution after cancel of {job_id}"],
                )
                tx.jobs.insert_jobs([row])
                new_job = row["id"]
            tx.leads.refresh_lead_status(job.lead_id, now)
            _audit(tx, actor, "distribution.cancel", job_id, now, reason, redistributed_as=new_job)
            return new_job

        new_job = await self.storage.run(work)
        if new_job:
            self.notifier.jobs_added()
        return new_job

    async def test_delivery(
        self,
        partner: str,
        *,
        actor: str,
        entity: str | None = None,
        lead: Mapping[str, Any] | None = None,
    ) -> str:
        """A clearly marked test lead through the partner's channel; never counts toward caps or reports.

        The lead is ``lead`` (checked against the entity) or a sample of the entity's fields, for the
        entity of the profiles that route to the partner (``entity`` when there are several)."""
        live = await self.configs.get(self.storage)
        spec = live.specs.partners.get(partner)
        if spec is None:
            raise NotFound(f"unknown partner {partner!r}")
        if spec.channel is None:
            raise InvalidTransition(f"partner {partner} has no delivery channel")
        now = self.clock()
        test = build_test_lead(
            partner, live.specs.entities, live.specs.profiles.values(), now.date(), entity=entity, lead=lead
        )
        lead_id = self.ids("lead")
        values, raw, sealed = dict(test.values), dict(test.raw), None
        if test.entity is not None and test.entity.sensitive:
            secret = {k: values.pop(k) for k in test.entity.sensitive if k in values}
            secret_raw = {k: raw.pop(k) for k in test.entity.sensitive if k in raw}
            if secret or secret_raw:
                if self.sealer is None:
                    raise InvalidTransition("sensitive fields need the secret key (LEADRELAY_SECRET_KEY)")
                ring = await self.sealer.ring()
                sealed = ring.seal_json({"data": secret, "raw": secret_raw}, lead_id.encode())

        def work(tx: Tx) -> str:
            tx.leads.insert_leads(
                [
                    {
                        "id": lead_id,
                        "entity": test.entity_name,
                        "source": "_test",
                        "status": LeadStatus.QUEUED,
                        "data": values,
                        "raw": raw,
                        "sealed": sealed,
                        "problems": None,
                        "idempotency_key": None,
                        "request_hash": None,
                        "is_test": True,
                        "created_at": now,
                        "updated_at": now,
                    }
                ],
            )
            row = new_job_row(
                lead_id,
                "_test",
                now,
                id=self.ids("job"),
                kind="test",
                target_partner=partner,
                trace=[f"test delivery by {actor}"],
            )
            tx.jobs.insert_jobs([row])
            detail = {"partner": partner, "entity": test.entity_name}
            _audit(tx, actor, "partner.test_delivery", row["id"], now, None, **detail)
            return str(row["id"])

        job_id = await self.storage.run(work)
        self.notifier.jobs_added()
        return job_id
