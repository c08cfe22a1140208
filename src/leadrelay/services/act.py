"""Actions on a distribution (PRODUCT.md §4): resend, rerun, cancel. Each is audited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from leadrelay.domain.actions import (
    Availability,
    DeliveryView,
    JobView,
    can_cancel,
    can_rerun,
    can_resend,
    erased_refusal,
)
from leadrelay.domain.after_sale_states import ReturnStatus
from leadrelay.domain.fields.sample import build_test_lead
from leadrelay.domain.ledger import EntryKind
from leadrelay.domain.states import (
    DELIVERY,
    DELIVERY_UNDER_WAY,
    JOB,
    JOB_OPEN,
    QUEUE,
    DeliveryStatus,
    JobKind,
    JobStatus,
    LeadStatus,
    QueueState,
)
from leadrelay.errors import InvalidTransition, NotFound
from leadrelay.services import user_choice
from leadrelay.services.config_in_force import ConfigCache, LiveConfig
from leadrelay.services.intake_writes import new_job_row
from leadrelay.services.ledger import post_reversals, resend_takes_over, resent_sales
from leadrelay.services.notify import Notifier
from leadrelay.services.partner_exclusion import lead_holders
from leadrelay.services.ports import Clock, IdSource, Record, Sealer, Storage, Tx, system_clock, system_ids
from leadrelay.services.returns import deny_open_returns


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


def job_view(job: Record) -> JobView:
    erased = getattr(job, "lead_erased_at", None) is not None
    return JobView(job.id, job.status, job.queue_state, job.run_at, job.lease_until, erased)


def delivery_views(deliveries: Sequence[Record], tx: Tx | None = None) -> list[DeliveryView]:
    """The checks' view of the deliveries; with ``tx``, their approved returns too (a return still
    requested does not stop a cancel: the operator may cancel instead, and the cancel denies the return)."""
    returned: dict[str, str] = {}
    sold = [d.id for d in deliveries if d.status == DeliveryStatus.DELIVERED]
    if tx is not None and sold:
        returned = {
            r.delivery_id: f"{r.id} {r.status}"
            for r in tx.returns.of_deliveries(sold)
            if r.status == ReturnStatus.APPROVED
        }
    return [
        DeliveryView(d.partner, d.status, bool(d.invoiced), d.delivered_at, returned.get(d.id))
        for d in deliveries
    ]


def _not_erased(job: Record, action: str) -> None:
    if job.lead_erased_at is not None:
        raise InvalidTransition(erased_refusal(action, job.id))


def _allowed(availability: Availability) -> None:
    if not availability.allowed:
        raise InvalidTransition(availability.reason or "not allowed")


def cancel_periods(live: LiveConfig) -> dict[str, timedelta]:
    """Each configured partner's cancellation period."""
    return {name: timedelta(seconds=p.cancel_period_s) for name, p in live.specs.partners.items()}


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
            found = tx.deliveries.job_deliveries(job_id)
            delivered = [d for d in found if d.status == DeliveryStatus.DELIVERED]
            # resends of the lead's other jobs (a resend of a resend) wait too: one lock per lead
            tx.dedup.lock_keys([("resend", job.lead_id)])
            resends = tx.jobs.open_resends(job.lead_id, [d.partner for d in delivered])
            _allowed(can_resend(job_view(job), delivery_views(found), resends))
            _not_erased(job, "resend")
            # a resend goes through the partner's current channel: one deleted (or left without one) has none
            partners = self.configs.current(tx).specs.partners
            gone = sorted(
                {d.partner for d in delivered if getattr(partners.get(d.partner), "channel", None) is None}
            )
            if gone:
                raise InvalidTransition(
                    f"cannot resend {job_id}: partner {', '.join(gone)} is missing or has no channel"
                )
            now = self.clock()
            new_ids = []
            for d in delivered:
                row = new_job_row(
                    job.lead_id,
                    job.profile,
                    now,
                    id=self.ids("job"),
                    kind=JobKind.RESEND,
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
            found = tx.deliveries.job_deliveries(job_id)
            _allowed(can_rerun(job_view(job), delivery_views(found), now))
            _not_erased(job, "rerun")
            line = f"rerun by {actor}" + (f": {reason}" if reason else "")
            under_way = [d for d in found if d.status in DELIVERY_UNDER_WAY]
            if job.status in JOB_OPEN and under_way:  # stuck: its worker was lost, a post perhaps out
                # resumed, not routed afresh: the buyer may have the lead already (the same key tells it)
                partners = ", ".join(sorted({d.partner for d in under_way}))
                tx.jobs.update_job(
                    job_id,
                    queue_state=QUEUE.check(job.queue_state, QueueState.READY),
                    run_at=now,
                    lease_owner=None,
                    lease_until=None,
                    claims=0,
                    updated_at=now,
                    trace=[*job.trace, f"{line} (its delivery under way resumed: {partners})"],
                )
                _audit(tx, actor, "distribution.rerun", job_id, now, reason, previous_status=job.status)
                return
            for d in found:
                if d.status in DELIVERY_UNDER_WAY:  # a batched one leaves its batch unsent
                    failed = DELIVERY.check(d.status, DeliveryStatus.FAILED)
                    tx.deliveries.update_delivery(d.id, status=failed, reason="superseded by rerun")
                    tx.caps.release_caps(d.partner, d.cap_windows)
            tx.deliveries.supersede_bids(job_id)  # an auctioned lead is auctioned afresh
            user_choice.withdraw(tx, job_id, now)  # and a user-choice lead offered afresh
            tx.jobs.update_job(
                job_id,
                status=JOB.check(job.status, JobStatus.RECEIVED),
                error=None,
                # tried again: the partners it failed with; not those another job sold it to (or that
                # cancelled or returned it: a redistribution's), nor one holding it for pick-up here
                excluded=sorted(lead_holders(tx, job.lead_id, besides_job=job.id)),
                queue_state=QUEUE.check(job.queue_state, QueueState.READY),
                run_at=now,
                lease_owner=None,
                lease_until=None,
                claims=0,  # the poison guard counts afresh
                finished_at=None,
                updated_at=now,
                trace=[*job.trace, line],
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
            now = self.clock()
            tx.dedup.lock_keys([("resend", job.lead_id)])  # as a resend takes it: one at a time per lead
            # the deliveries read under their locks, as a return (asked for or approved) and an invoice's
            # issue take them: a return or an issue under way ends first, and this cancel then sees it
            found = tx.deliveries.job_deliveries(job_id, lock=True)
            delivered = [d for d in found if d.status == DeliveryStatus.DELIVERED]
            resends = tx.jobs.open_resends(job.lead_id, [d.partner for d in delivered])
            # a return still asked for is denied by the cancel: its row locked after the deliveries', in
            # the order an approval takes them (undone with the rest if the cancel is refused below)
            sold = [d.id for d in delivered]
            deny_open_returns(tx, sold, actor=actor, now=now, note="the sale was cancelled")
            views = delivery_views(found, tx)
            _allowed(can_cancel(job_view(job), views, now, cancel_periods(live), resends))
            taken_over = resent_sales(tx, delivered)
            for d in delivered:
                cancelled = DELIVERY.check(d.status, DeliveryStatus.CANCELLED)
                tx.deliveries.update_delivery(d.id, status=cancelled, cancelled_at=now, cancel_reason=reason)
                if d.id not in taken_over:  # a resend billed in its place keeps its slots, money and mark
                    tx.caps.release_caps(d.partner, d.cap_windows)
            if job.kind == JobKind.RESEND and job.parent_id:  # the sale it took over kept them for it
                partners = {d.partner for d in delivered}
                for kept in tx.deliveries.job_deliveries(job.parent_id):
                    if kept.partner in partners and kept.status == DeliveryStatus.CANCELLED:
                        tx.caps.release_caps(kept.partner, kept.cap_windows)
            for d in found:  # a broadcast's copy held for another partner's pick-up goes with the cancel
                if d.status == DeliveryStatus.HELD:
                    failed = DELIVERY.check(d.status, DeliveryStatus.FAILED)
                    tx.deliveries.update_delivery(
                        d.id, status=failed, reason="its distribution was cancelled"
                    )
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
            redistribute = profile is not None and profile.auto_redistribute and job.kind == JobKind.ROUTE
            if redistribute and job.lead_erased_at is None:
                row = new_job_row(
                    job.lead_id,
                    job.profile,
                    now,
                    id=self.ids("job"),
                    parent_id=job_id,
                    # never to a partner that has the lead (a broadcast's others) or cancelled it
                    excluded=sorted({*job.excluded, *lead_holders(tx, job.lead_id)}),
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
                kind=JobKind.TEST,
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
