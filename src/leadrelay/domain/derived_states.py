"""What a set of facts means for a state (the machines are ``domain.states``): a job's settlement from its
deliveries' statuses, a lead's status from its jobs' statuses, and what a source is told of it. Every
writer of those columns goes through these functions.

Pure: standard library only.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from leadrelay.domain.states import JOB_OPEN, DeliveryStatus, JobStatus, LeadStatus, QueueState

__all__ = ["Settlement", "lead_status", "public_lead_status", "settle_job"]


@dataclass(frozen=True, slots=True)
class Settlement:
    """Where a job goes once its deliveries have moved: its status and its queue state.

    ``queue`` is READY (a delivery is due again: run at the earliest), WAITING (parked until a batch is
    sent), CLAIMED (route again, in the same claim) or DONE (closed).
    """

    status: JobStatus
    queue: QueueState

    @property
    def closed(self) -> bool:
        return self.queue is QueueState.DONE


# a stored value (or a member) to its member, faster than calling the enum; an unknown value falls through
# to the call, which raises ValueError as before
_DELIVERY_STATUSES: dict[str, DeliveryStatus] = {m.value: m for m in DeliveryStatus}
_JOB_STATUSES: dict[str, JobStatus] = {m.value: m for m in JobStatus}


def settle_job(deliveries: Iterable[DeliveryStatus | str], *, reroute: bool) -> Settlement:
    """A delivering job's settlement from its deliveries' statuses. ``reroute``: when every delivery
    failed, route again (a rule-routed job) rather than fail.

    A delivery to attempt (pending, retry) keeps the job delivering and queued; else one waiting for a
    batch parks it; else any delivered delivers it; else any held holds it; else it failed.
    """
    got = {_DELIVERY_STATUSES.get(s) or DeliveryStatus(s) for s in deliveries}
    if got & {DeliveryStatus.PENDING, DeliveryStatus.RETRY}:
        return Settlement(JobStatus.DELIVERING, QueueState.READY)
    if DeliveryStatus.BATCHED in got:
        return Settlement(JobStatus.DELIVERING, QueueState.WAITING)
    if DeliveryStatus.DELIVERED in got:
        return Settlement(JobStatus.DELIVERED, QueueState.DONE)
    if DeliveryStatus.HELD in got:
        return Settlement(JobStatus.HELD, QueueState.DONE)
    if reroute and DeliveryStatus.FAILED in got:
        return Settlement(JobStatus.ROUTING, QueueState.CLAIMED)
    return Settlement(JobStatus.FAILED, QueueState.DONE)


def lead_status(jobs: Collection[JobStatus | str]) -> LeadStatus:
    """A lead's status from its jobs' statuses: delivered when any job is; queued while one is open;
    then held, failed, cancelled (all of them), duplicate or suppressed (closed at intake by every
    profile), else unsold (no job at all included)."""
    got = {_JOB_STATUSES.get(s) or JobStatus(s) for s in jobs}
    if JobStatus.DELIVERED in got:
        return LeadStatus.DELIVERED
    if got & JOB_OPEN:
        return LeadStatus.QUEUED
    if JobStatus.HELD in got:  # waiting for pick-up or release
        return LeadStatus.HELD
    if JobStatus.FAILED in got:
        return LeadStatus.FAILED
    if got == {JobStatus.CANCELLED}:
        return LeadStatus.CANCELLED
    if got and got <= {JobStatus.DUPLICATE, JobStatus.SUPPRESSED}:
        return LeadStatus.SUPPRESSED if got == {JobStatus.SUPPRESSED} else LeadStatus.DUPLICATE
    return LeadStatus.UNSOLD


_PUBLIC = {LeadStatus.FAILED: LeadStatus.UNSOLD, LeadStatus.SUPPRESSED: LeadStatus.UNSOLD}


def public_lead_status(status: LeadStatus | str) -> LeadStatus:
    """What a source is told: a technical failure and a suppressed lead are ``unsold``; a held lead is
    not sold yet, so ``queued``."""
    got = LeadStatus(status)
    if got is LeadStatus.HELD:
        return LeadStatus.QUEUED
    return _PUBLIC.get(got, got)
