"""What one step of a job produces and the writes every routing path shares: the sends to attempt now
(``SendItem``), the auction to run (``Auction``), the new deliveries, and closing a job.

``services.distribution`` routes by rules and strategies, ``services.auction`` by bids, and
``services.settlement`` records outcomes; all three create deliveries and close jobs through here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from leadrelay.domain.attempts import LeadView
from leadrelay.domain.auction import Offer
from leadrelay.domain.files import EmailDestination
from leadrelay.domain.ledger import PriceBasis
from leadrelay.domain.model import (
    ChannelSpec,
    EmailChannel,
    FileChannel,
    HoldChannel,
    PartnerSpec,
    Target,
    WebhookChannel,
)
from leadrelay.domain.states import DELIVERY, JOB, QUEUE, DeliveryStatus, JobKind, JobStatus, QueueState
from leadrelay.services.config_in_force import LiveConfig
from leadrelay.services.opened_leads import redactor_of, sensitive_of
from leadrelay.services.ports import IdSource, Record, Tx
from leadrelay.services.writes import Writes


@dataclass(frozen=True, slots=True)
class SendItem:
    """One delivery to attempt now, outside any transaction."""

    job_id: str
    delivery_id: str
    partner: str
    spec: ChannelSpec
    lead: LeadView
    attempt: int  # the number this attempt will have (1-based)
    cap_windows: tuple[tuple[str, str], ...] = ()  # released if the delivery finally fails
    step: int = 0  # the partner's failover step: 0 is its own channel
    status: DeliveryStatus = DeliveryStatus.PENDING  # the delivery's status while it is attempted
    price: float | None = None  # the sale's price fixed before the post (a bid, a rule's price), else None
    price_basis: str | None = None  # where ``price`` came from (``domain.ledger.PriceBasis``)


@dataclass(slots=True)
class StepResult:
    """What the worker does next with a job it holds."""

    sends: list[SendItem] = field(default_factory=list)
    done: bool = False  # the job reached a final status (or is no longer ours)
    lead_id: str | None = None
    reroute: bool = False  # every delivery failed: route again, skipping the partners tried
    auction: Auction | None = None  # ping these partners, then award the lead (``services.auction``)


@dataclass(frozen=True, slots=True)
class Ping:
    """One partner's ping in an auction, sent outside any transaction."""

    partner: str
    spec: WebhookChannel
    lead: LeadView  # what the ping may carry (``domain.ping.ping_view``)
    floor: float | None
    list_price: float | None  # an accepted bid without a price is at the partner's list price


@dataclass(frozen=True, slots=True)
class Auction:
    """The pings an auction (or a waterfall's tier) sends at once, each within its own timeout and all
    within ``deadline_s``, and what the award needs: the post-only partners' list-price offers, the tier's
    partners in order (ties; a priority tier's order), every eligible partner of the target (the next
    tiers'), the trace so far, when the waterfall began and how many posts the lead had before;
    ``opened_at``: when the deadline was set (the routing transaction's time); ``for_answer``: the deadline
    was shortened so that a waiting source gets the sale in its answer (its pings end when set to end,
    ``auction_pings.ping_window``; a ping it cuts is charged to the buyer's health only as
    ``auction_pings.observed_pings`` says)."""

    pings: tuple[Ping, ...]
    fixed: tuple[Offer, ...]
    priority: tuple[str, ...]
    candidates: tuple[str, ...]
    target: Target
    rule: str | None
    trace: tuple[str, ...]
    deadline_s: float
    started: datetime
    tier: int = 0
    posted: int = 0
    opened_at: datetime | None = None
    for_answer: bool = False


def select_values(values: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    if fields is None:
        return dict(values)
    return {k: values[k] for k in fields if k in values}


def lead_view(
    job: Record,
    partner: str,
    spec: ChannelSpec,
    key: str,
    *,
    ping_reference: str | None = None,
    ping_price: float | None = None,
) -> LeadView:
    values = select_values(job.lead_values, spec.fields)
    test = bool(job.is_test) or job.kind == JobKind.TEST
    if test:
        values["test"] = True
    sensitive = sensitive_of(job)
    return LeadView(
        job.lead_id,
        job.entity,
        partner,
        values,
        key,
        test=test,
        sensitive=sensitive.intersection(values) if sensitive else sensitive,
        redactor=redactor_of(job),
        ping_reference=ping_reference,
        ping_price=ping_price,
    )


def waiting_line(spec: FileChannel) -> str:
    what = "email digest" if isinstance(spec.destination, EmailDestination) else "batch file"
    return f"waiting for the next {what} ({spec.schedule.describe()})"


def wait_for_batches(w: Writes, job: Record, now: datetime) -> None:
    """Park a job whose deliveries wait for batches: no worker claims it until a batch is sent."""
    waiting = QUEUE.check(job.queue_state, QueueState.WAITING)
    w.update_job(job.id, queue_state=waiting, lease_owner=None, lease_until=None, updated_at=now)


@dataclass(frozen=True, slots=True)
class Chosen:
    """A partner a lead goes to: the cap windows taken for it, and an auction's bid when there was one."""

    name: str
    windows: list[list[str]]
    price: float | None = None
    ping_reference: str | None = None
    delivery_id: str | None = None  # the id its delivery is to have (None: a new one)
    basis: PriceBasis = PriceBasis.BID  # where ``price`` came from: a bid, or the rule's or profile's price


def deliver(
    tx: Tx,
    job: Record,
    partners: Mapping[str, PartnerSpec],
    chosen: Sequence[Chosen],
    now: datetime,
    w: Writes,
    ids: IdSource,
    trace: list[str],
    *,
    rule: str | None,
    email_to: tuple[str, ...] = (),
) -> StepResult:
    """Create the chosen partners' deliveries and move the job on: delivering (sends now, or waiting for
    batches), or held when every chosen partner holds its leads."""
    result = StepResult(lead_id=job.lead_id)
    batched = False
    for c in chosen:
        partner = partners[c.name]
        send = new_delivery(
            tx,
            job,
            partner,
            c.windows,
            now,
            w,
            ids,
            email_to,
            price=c.price,
            price_basis=c.basis if c.price is not None else None,
            ping_reference=c.ping_reference,
            delivery_id=c.delivery_id,
        )
        if send is not None:
            result.sends.append(send)
        elif isinstance(partner.channel, FileChannel):
            batched = True
            trace.append(f"{c.name}: {waiting_line(partner.channel)}")
        else:
            trace.append(f"{c.name}: held for pick-up (hold channel)")
    if not result.sends and not batched:  # every chosen partner holds its leads
        return close(w, job, JobStatus.HELD, now, trace, error=None, rule=rule)
    status = JOB.check(job.status, JobStatus.DELIVERING)
    w.update_job(job.id, status=status, rule=rule, trace=trace, error=None, updated_at=now)
    if not result.sends:
        wait_for_batches(w, job, now)
    return result


def new_delivery(
    tx: Tx,
    job: Record,
    partner: PartnerSpec,
    windows: list[list[str]],
    now: datetime,
    w: Writes,
    ids: IdSource,
    profile_email_to: tuple[str, ...] = (),
    *,
    price: float | None = None,
    ping_reference: str | None = None,
    delivery_id: str | None = None,
    price_basis: str | None = None,
) -> SendItem | None:
    """Create the delivery; None when the partner's channel is ``hold`` (stored for pick-up, no send) or
    batched (waiting for the partner's next file or digest; a test lead gets a batch of its own now).
    ``price`` and ``ping_reference``: an auction's winning bid, the sale's price and what the post
    carries as ``{{ ping.reference }}``."""
    assert partner.channel is not None
    held = isinstance(partner.channel, HoldChannel)
    delivery_id = delivery_id or ids("dlv")
    key = f"{job.id}:{partner.name}"  # stable per job and partner: a buyer can drop a double post
    batch_id = None
    if isinstance(partner.channel, FileChannel):
        if job.kind == JobKind.TEST:
            batch_id = tx.batches.insert_batch(
                partner, partner.channel, 0, [], "test delivery", now, test=True
            )
        status = DeliveryStatus.BATCHED
    else:
        status = DeliveryStatus.HELD if held else DeliveryStatus.PENDING
    DELIVERY.check_initial(status)
    w.insert_delivery(
        {
            "id": delivery_id,
            "job_id": job.id,
            "lead_id": job.lead_id,
            "partner": partner.name,
            "profile": job.profile,
            "channel": partner.channel.kind.value,
            "channel_step": 0,
            "status": status,
            "idempotency_key": key,
            "attempts": 0,
            "next_attempt_at": now if status is DeliveryStatus.PENDING else None,
            "cap_windows": windows,
            "price": price,
            "price_basis": (price_basis or PriceBasis.BID) if price is not None else None,
            "reference": None,
            "reason": None,
            "invoiced": False,
            "is_test": bool(job.is_test) or job.kind == JobKind.TEST,
            "created_at": now,
            "delivered_at": None,
            "held_at": now if held else None,
            "cancelled_at": None,
            "cancel_reason": None,
            "batch_id": batch_id,
            "ping_reference": ping_reference,
        }
    )
    if status is not DeliveryStatus.PENDING:
        return None
    spec = channel_for(partner, profile_email_to)
    assert spec is not None
    view = lead_view(job, partner.name, spec, key, ping_reference=ping_reference, ping_price=price)
    basis = (price_basis or PriceBasis.BID) if price is not None else None
    return SendItem(
        job.id, delivery_id, partner.name, spec, view, 1, windows_of(windows), price=price, price_basis=basis
    )


def channel_for(
    partner: PartnerSpec, profile_email_to: tuple[str, ...] = (), step: int = 0
) -> ChannelSpec | None:
    """The partner's current channel at a failover step (None past the end of its chain); a profile may
    send its email to other recipients (not a digest's: a digest holds leads of every profile)."""
    spec = partner.channel_at(step)
    if profile_email_to and isinstance(spec, EmailChannel):
        return replace(spec, to=profile_email_to)
    return spec


def email_to(live: LiveConfig, profile: str) -> tuple[str, ...]:
    compiled = live.compiled.profiles.get(profile)
    return compiled.spec.email_to if compiled is not None else ()


def windows_of(windows: Sequence[Sequence[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((w[0], w[1]) for w in windows)


def close(
    w: Writes,
    job: Record,
    status: JobStatus,
    now: datetime,
    trace: list[str],
    *,
    error: str | None,
    rule: str | None = None,
) -> StepResult:
    """Close a job we hold: its final status (checked against its transitions), out of the queue."""
    values: dict[str, Any] = {
        "status": JOB.check(job.status, status),
        "trace": trace,
        "error": error,
        "queue_state": QUEUE.check(job.queue_state, QueueState.DONE),
        "lease_owner": None,
        "lease_until": None,
        "finished_at": now,
        "updated_at": now,
    }
    if rule is not None:
        values["rule"] = rule
    w.update_job(job.id, **values)
    w.refresh_lead(job.lead_id)
    return StepResult(done=True, lead_id=job.lead_id)
