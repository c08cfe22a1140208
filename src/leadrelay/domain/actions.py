"""Whether an action on a distribution (PRODUCT.md §4: resend, rerun, cancel) is allowed now, and if not,
why, in words an operator reads: the services refuse with these reasons, and the log's detail view (API
and console) shows each action enabled, or disabled with the same reason, before anyone clicks.

Pure: the job and its deliveries as plain values, the time and the partners' cancellation periods given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadrelay.domain.privacy import ERASED_REASON
from leadrelay.domain.states import JOB_OPEN, DeliveryStatus, JobStatus, QueueState

DEFAULT_CANCEL_PERIOD = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class JobView:
    """What the checks read of a job."""

    id: str
    status: str
    queue_state: str
    run_at: datetime
    lease_until: datetime | None
    erased: bool = False  # its lead's personal data erased: nothing more is sent of it


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """What the checks read of one of its deliveries."""

    partner: str
    status: str
    invoiced: bool
    delivered_at: datetime | None
    returned: str | None = None  # its approved return ("ret_… approved"), if any


@dataclass(frozen=True, slots=True)
class Availability:
    """One action: allowed, or the reason it is not; ``partners``: who it goes to (resend) or undoes
    (cancel), for the confirmation that names them."""

    allowed: bool
    reason: str | None = None
    partners: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "reason": self.reason, "partners": list(self.partners)}


def human_period(period: timedelta) -> str:
    """'7 days', '12 hours', '90 seconds'."""
    seconds = int(period.total_seconds())
    if seconds % 86_400 == 0:
        days = seconds // 86_400
        return f"{days} day" + ("s" if days != 1 else "")
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hours"
    return f"{seconds} seconds"


def _delivered(deliveries: Sequence[DeliveryView]) -> tuple[str, ...]:
    return tuple(d.partner for d in deliveries if d.status == DeliveryStatus.DELIVERED)


def erased_refusal(action: str, job_id: str) -> str:
    """Why ``action`` is refused for a job whose lead's personal data was erased."""
    return f"cannot {action} {job_id}: its lead's {ERASED_REASON}; nothing more is sent"


def can_resend(
    job: JobView, deliveries: Sequence[DeliveryView], open_resends: Sequence[str] = ()
) -> Availability:
    """Only a delivered job, to the partners it was delivered to, and not while an earlier resend of it
    (or of a resend of it) is still on its way: a second click, or two operators at once, would send the
    buyer the lead twice."""
    if job.erased:
        return Availability(False, erased_refusal("resend", job.id))
    if job.status != JobStatus.DELIVERED:
        hint = " (use rerun)" if job.status in (JobStatus.FAILED, JobStatus.UNSOLD) else ""
        return Availability(
            False, f"resend is only for delivered distributions; {job.id} is {job.status}{hint}"
        )
    if open_resends:
        return Availability(
            False,
            f"the lead of {job.id} is being resent ({', '.join(open_resends)}); "
            "resend again once that has finished",
        )
    return Availability(True, partners=_delivered(deliveries))


def can_rerun(job: JobView, deliveries: Sequence[DeliveryView], now: datetime) -> Availability:
    """A failed or unsold job, or one stuck open (no live lease, no retry due later, not parked), that
    nobody bought."""
    if job.erased:
        return Availability(False, erased_refusal("rerun", job.id))
    lease_live = job.queue_state == QueueState.CLAIMED and (job.lease_until or now) > now
    waiting = job.queue_state == QueueState.READY and job.run_at > now  # a retry scheduled for later
    parked = job.queue_state == QueueState.WAITING  # its lead is in (or waits for) a batch, or an offer
    stuck = job.status in JOB_OPEN and not lease_live and not waiting and not parked
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
        return Availability(False, f"rerun is for failed or stuck distributions; {job.id}: {why}")
    sold = _delivered(deliveries)
    if sold:
        return Availability(
            False,
            f"rerun is for failed or stuck distributions; {job.id} was already delivered to "
            f"{', '.join(sold)} (use resend, or cancel first)",
        )
    return Availability(True)


def can_cancel(
    job: JobView,
    deliveries: Sequence[DeliveryView],
    now: datetime,
    cancel_periods: Mapping[str, timedelta],
    open_resends: Sequence[str] = (),
) -> Availability:
    """A delivered job whose sales are not invoiced, within each partner's cancellation period (7 days
    where the partner is no longer configured), and not while a resend of the lead to its partners is on
    its way: the resend would be billed, once delivered, as the sale that stands, without the funds the
    cancel gives back (another lead may have taken them)."""
    if job.status != JobStatus.DELIVERED:
        return Availability(False, f"cancel is only for delivered distributions; {job.id} is {job.status}")
    if open_resends:
        return Availability(
            False,
            f"the lead of {job.id} is being resent ({', '.join(open_resends)}); "
            "cancel once that has finished",
        )
    sold = [d for d in deliveries if d.status == DeliveryStatus.DELIVERED]
    for d in sold:
        if d.invoiced:
            return Availability(False, f"cannot cancel: the delivery to {d.partner} is already invoiced")
        if d.returned:  # the return undoes the sale (and may have redistributed the lead) already
            return Availability(
                False, f"cannot cancel: the delivery to {d.partner} was returned ({d.returned})"
            )
        period = cancel_periods.get(d.partner, DEFAULT_CANCEL_PERIOD)
        if d.delivered_at is not None and now - d.delivered_at > period:
            return Availability(
                False,
                f"cannot cancel: the cancellation period of {d.partner} ({human_period(period)}) has passed",
            )
    return Availability(True, partners=tuple(d.partner for d in sold))


def available_actions(
    job: JobView,
    deliveries: Sequence[DeliveryView],
    now: datetime,
    cancel_periods: Mapping[str, timedelta],
    open_resends: Sequence[str] = (),
) -> dict[str, Availability]:
    """Every action of the log's three-dots menu, allowed or with its reason."""
    return {
        "resend": can_resend(job, deliveries, open_resends),
        "rerun": can_rerun(job, deliveries, now),
        "cancel": can_cancel(job, deliveries, now, cancel_periods, open_resends),
    }
