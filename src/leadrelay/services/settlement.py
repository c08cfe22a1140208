"""Delivery outcomes: record attempts, retry, fail over to the partner's next channel, hold, settle the job.

Runs for a batch of jobs inside one transaction (the worker's group commit). A delivery whose channel ends
in *error* after its retries moves to the partner's next channel (webhook → email → hold, say) and starts
its attempts again; a *failure* (the buyer said no) is final. ``hold`` stores the lead for pick-up: the
delivery is ``held`` (its cap slot kept) until an operator releases it through the first channel again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from leadrelay.domain.attempts import AttemptResult, Outcome
from leadrelay.domain.derived_states import settle_job
from leadrelay.domain.ledger import PriceBasis, sale_amount, unbilled_answer_line
from leadrelay.domain.model import FileChannel, HoldChannel
from leadrelay.domain.postback_relay import RelayEvent
from leadrelay.domain.retry import GiveUp, RetryPolicy
from leadrelay.domain.states import (
    DELIVERY,
    DELIVERY_UNDER_WAY,
    JOB,
    JOB_OPEN,
    QUEUE,
    DeliveryStatus,
    JobKind,
    JobStatus,
    QueueState,
)
from leadrelay.services.budgets import MONEY_SCOPE, holds_money
from leadrelay.services.config_in_force import LiveConfig
from leadrelay.services.ledger import lock_per_lead_payouts, pays_anything, post_sales
from leadrelay.services.opened_leads import redact_result
from leadrelay.services.ports import IdSource, RandomSource, Record, Tx, system_ids, system_random
from leadrelay.services.postback_relay import enqueue, relays_sold
from leadrelay.services.privacy import erased_attempt
from leadrelay.services.steps import (
    SendItem,
    StepResult,
    channel_for,
    close,
    email_to,
    lead_view,
    wait_for_batches,
    windows_of,
)
from leadrelay.services.writes import Writes

DEFAULT_RETRY = RetryPolicy()


def pending_sends(
    tx: Tx, job: Record, dl: Sequence[Record], live: LiveConfig, now: datetime, w: Writes
) -> StepResult:
    """A job already delivering (retry due, or reclaimed after a crash): its unfinished deliveries."""
    result = StepResult(lead_id=job.lead_id)
    current = list(dl)
    for i, d in enumerate(dl):
        if d.status not in (DeliveryStatus.PENDING, DeliveryStatus.RETRY):
            continue
        if d.next_attempt_at is not None and d.next_attempt_at > now:
            continue
        partner = live.compiled.partners.get(d.partner)
        spec = None if partner is None else channel_for(partner, email_to(live, job.profile), d.channel_step)
        if spec is None:
            reason = "partner or its channel removed from configuration"
            failed = DELIVERY.check(d.status, DeliveryStatus.FAILED)
            w.update_delivery(d.id, status=failed, reason=reason, next_attempt_at=None)
            tx.caps.release_caps(d.partner, d.cap_windows)
            current[i] = _Changed(d, status=failed, reason=reason)
            continue
        if isinstance(spec, HoldChannel):  # a failover reached hold (or a crash came between)
            held = DELIVERY.check(d.status, DeliveryStatus.HELD)
            w.update_delivery(d.id, status=held, held_at=now, next_attempt_at=None)
            current[i] = _Changed(d, status=held)
            continue
        if isinstance(spec, FileChannel):  # a failover reached a batched channel: wait for its next batch
            batch_id = None
            if job.kind == JobKind.TEST:  # a test lead never joins a real batch: it gets one of its own, now
                assert partner is not None
                batch_id = tx.batches.insert_batch(
                    partner, spec, d.channel_step, [d.id], "test delivery", now, test=True
                )
            batched = DELIVERY.check(d.status, DeliveryStatus.BATCHED)
            w.update_delivery(d.id, status=batched, next_attempt_at=None)
            current[i] = _Changed(d, status=batched, batch_id=batch_id)
            continue
        # an auction's post carries its bid again (``{{ ping.reference }}``), and is sold at it
        view = lead_view(
            job, d.partner, spec, d.idempotency_key, ping_reference=d.ping_reference, ping_price=d.price
        )
        windows = windows_of(d.cap_windows)
        step = d.channel_step
        result.sends.append(
            SendItem(
                job.id,
                d.id,
                d.partner,
                spec,
                view,
                d.attempts + 1,
                windows,
                step,
                d.status,
                d.price,
                d.price_basis,
            )
        )
    if not result.sends:
        return settle(job, current, now, w)
    w.update_job(job.id, updated_at=now)
    return result


class _Changed:
    """A delivery row as it is after this step's writes: the changed columns, the row's for the rest
    (stored rows are read-only)."""

    __slots__ = ("_changes", "_row")

    def __init__(self, row: Record, **changes: Any) -> None:
        self._row = row
        self._changes = changes

    def __getattr__(self, name: str) -> Any:
        try:
            return self._changes[name]
        except KeyError:
            return getattr(self._row, name)


def fail_job(tx: Tx, w: Writes, job: Record, dl: Sequence[Record], reason: str, now: datetime) -> StepResult:
    """Close a job that cannot be processed (a bug or bad stored data), keeping the reason for a rerun;
    its unfinished deliveries fail too and give their cap slots back. A job already closed (a rerun or
    an action raced us) keeps its status: it only leaves the queue."""
    if job.status not in JOB_OPEN:
        done = QUEUE.check(job.queue_state, QueueState.DONE)
        w.update_job(job.id, queue_state=done, lease_owner=None, lease_until=None, updated_at=now)
        return StepResult(done=True, lead_id=job.lead_id)
    for d in dl:
        if d.status in DELIVERY_UNDER_WAY:  # a batched one leaves its batch unsent
            failed = DELIVERY.check(d.status, DeliveryStatus.FAILED)
            w.update_delivery(d.id, status=failed, reason=reason, next_attempt_at=None)
            tx.caps.release_caps(d.partner, d.cap_windows)
    return close(w, job, JobStatus.FAILED, now, [*job.trace, reason], error=reason)


Outcomes = Sequence[tuple[SendItem, AttemptResult]]


def finish_batch(
    tx: Tx,
    items: Sequence[tuple[Record, Outcomes]],
    owner: str,
    live: LiveConfig,
    now: datetime,
    *,
    retry: RetryPolicy = DEFAULT_RETRY,
    ids: IdSource = system_ids,
    rand: RandomSource = system_random,
) -> list[StepResult]:
    """Record every attempt; then, per job we still hold, retry later, fall back, or close it. ``retry``
    is the retry schedule; each channel's ``max_attempts`` replaces the template's. ``ids``: where the
    attempts' ids come from; ``rand``: the retry delays' jitter."""
    # per-lead payouts: the leads' locks before any wallet row a failed delivery gives back (the order
    # every transaction that posts or undoes a sale takes them in)
    quoted = lock_per_lead_payouts(tx, live, {job.lead_id for job, _ in items})
    w = Writes()
    owned: list[tuple[Record, set[str]]] = []
    results: dict[str, StepResult] = {}
    notes: dict[str, list[str]] = {}  # job id -> trace lines of failovers and unbilled prices
    sold: list[tuple[SendItem, AttemptResult]] = []  # sales to post to the ledger
    for job, sent in items:
        ours = job.lease_owner == owner and job.queue_state == QueueState.CLAIMED
        # the one gate: nothing a buyer answered is written before the lead's sensitive values and the
        # partner's secrets are taken out of it (the attempt, the delivery's reason, the job's trace)
        outcomes = [(item, redact_result(job, res)) for item, res in sent]
        # erased while it was being sent: the erasure took the job over and settled it (services/privacy.py);
        # the buyer's answer is kept as the erasure leaves an attempt
        if not ours and _erased(tx, job.lead_id):
            outcomes = [(item, erased_attempt(res, item.lead.values)) for item, res in outcomes]
        for item, res in outcomes:
            w.insert_attempt(
                {
                    "id": ids("att"),
                    "delivery_id": item.delivery_id,
                    "job_id": item.job_id,
                    "number": item.attempt,
                    "started_at": now - timedelta(milliseconds=res.duration_ms),
                    "duration_ms": res.duration_ms,
                    "request": dict(res.request),
                    "status_code": res.status_code,
                    "response_body": res.response_body,
                    "outcome": res.outcome.value,
                    "reason": res.reason,
                }
            )
        if not ours:  # the new lease owner (or the erasure) decides
            results[job.id] = StepResult(done=True, lead_id=job.lead_id)
            continue
        owned.append((job, {item.delivery_id for item, _ in outcomes}))
        for item, res in outcomes:
            note = _record_outcome(tx, w, item, res, live, now, retry, rand)
            if note:
                notes.setdefault(job.id, []).append(note)
            if res.outcome is Outcome.SUCCESS and not item.lead.test:
                sold.append((item, res))
            if (
                res.outcome is Outcome.SUCCESS
                and not item.lead.test
                and relays_sold(live)
                and not (job.kind == JobKind.RESEND and _sale_stands(tx, job.lead_id, item))
            ):
                enqueue(  # the lead's source is told of the sale (when it subscribes to it)
                    tx,
                    live,
                    ids,
                    now,
                    lead_id=job.lead_id,
                    delivery_id=item.delivery_id,
                    partner=item.partner,
                    event=RelayEvent.SOLD,
                )
    w.flush(tx, now)
    if sold and (
        pays_anything(live)
        or quoted  # a lead paid on the terms its supplier ping quoted
        or holds_money(live)
        or any(scope == MONEY_SCOPE for item, _ in sold for scope, _ in item.cap_windows)
        or any(_price(i, r, live)["price"] is not None for i, r in sold)
    ):
        post_sales(tx, live, [item.delivery_id for item, _ in sold], now, ids, quoted=quoted)  # at once
    if owned:
        dl = tx.deliveries.deliveries_of([job.id for job, _ in owned])
        for job, finished in owned:
            results[job.id] = settle(job, dl[job.id], now, w, finished, notes.get(job.id, ()))
        w.flush(tx, now)
    return [results[job.id] for job, _ in items]


def _erased(tx: Tx, lead_id: str) -> bool:
    """Whether the lead was erased (read afresh, after the job's lock: on PostgreSQL the job's row as
    locked may be newer than the lead's row read with it)."""
    lead = tx.leads.get_lead(lead_id)
    return lead is not None and lead.erased_at is not None


def _record_outcome(
    tx: Tx,
    w: Writes,
    item: SendItem,
    res: AttemptResult,
    live: LiveConfig,
    now: datetime,
    retry: RetryPolicy = DEFAULT_RETRY,
    rand: RandomSource = system_random,
) -> str | None:
    """Record one attempt's outcome on its delivery; returns a trace line when it failed over, or when
    the buyer's answer named a price its sales take that is none to bill (negative, huge)."""
    if res.outcome is Outcome.SUCCESS:
        price = _price(item, res, live)
        w.update_delivery(
            item.delivery_id,
            status=DELIVERY.check(item.status, DeliveryStatus.DELIVERED),
            attempts=item.attempt,
            **price,
            redirect_url=res.redirect_url,
            reference=res.reference,
            reason=None,
            delivered_at=now,
            next_attempt_at=None,
        )
        spec = live.compiled.partners.get(item.partner)
        taken = spec is not None and spec.price_from_answer
        return unbilled_answer_line(item.partner, res.price, taken, price["price"], price["price_basis"])
    policy = replace(retry, max_attempts=item.spec.max_attempts)
    decision = policy.decide(res, item.attempt, rand())
    if isinstance(decision, GiveUp) and res.outcome is Outcome.ERROR:
        partner = live.compiled.partners.get(item.partner)
        after = partner.channel_at(item.step + 1) if partner is not None else None
        if after is not None:  # the channel is down: the partner's next one takes over
            w.update_delivery(
                item.delivery_id,
                status=DELIVERY.check(item.status, DeliveryStatus.PENDING),
                channel=after.kind.value,
                channel_step=item.step + 1,
                attempts=0,
                reason=decision.reason,
                next_attempt_at=now,
            )
            return (
                f"{item.partner}: {item.spec.kind.value} gave up after {item.attempt} attempt(s)"
                f" ({decision.reason}); failover to {after.kind.value}"
            )
    if isinstance(decision, GiveUp):
        w.update_delivery(
            item.delivery_id,
            status=DELIVERY.check(item.status, DeliveryStatus.FAILED),
            attempts=item.attempt,
            reason=decision.reason,
            next_attempt_at=None,
        )
        tx.caps.release_caps(item.partner, item.cap_windows)  # a failed delivery gives its slot back
    else:
        w.update_delivery(
            item.delivery_id,
            status=DELIVERY.check(item.status, DeliveryStatus.RETRY),
            attempts=item.attempt,
            reason=res.reason,
            next_attempt_at=now + timedelta(seconds=decision.delay_s),
        )
    return None


def _price(item: SendItem, res: AttemptResult, live: LiveConfig) -> dict[str, Any]:
    """A sale's price and where it came from: the bid it won at (an auction's), else the price in the
    buyer's answer where the partner allows it (``price_from_answer``), else the price fixed when the
    delivery was made (the rule's or the profile's), else the partner's list price."""
    spec = live.compiled.partners.get(item.partner)
    if item.price is not None and item.price_basis in (None, PriceBasis.BID):
        return {"price": item.price, "price_basis": PriceBasis.BID}
    # the buyer names this price: one that is no price to bill (negative, huge, not a number) is not used
    billed = sale_amount(res.price)
    if billed is not None and spec is not None and spec.price_from_answer:  # to the cent, as it is billed
        return {"price": float(billed), "price_basis": PriceBasis.ANSWER}
    if item.price is not None:
        return {"price": item.price, "price_basis": item.price_basis}
    if spec is not None and spec.price is not None:
        return {"price": spec.price, "price_basis": PriceBasis.LIST}
    return {"price": None, "price_basis": None}


def settle(
    job: Record,
    dl: Sequence[Record],
    now: datetime,
    w: Writes,
    finished: set[str] | None = None,
    notes: Sequence[str] = (),
) -> StepResult:
    """Look at all deliveries of the job and move it on (``domain.derived_states.settle_job`` decides where).
    ``finished``: the deliveries whose attempt just ended (their failures get a trace line); None means
    all of them. ``notes``: failover lines."""
    settlement = settle_job([d.status for d in dl], reroute=job.kind == JobKind.ROUTE)
    trace = [*job.trace, *notes]
    failed = [d for d in dl if d.status == DeliveryStatus.FAILED and (finished is None or d.id in finished)]
    trace.extend(f"{d.partner}: not delivered: {d.reason}" for d in failed)
    if settlement.queue is QueueState.READY:  # a delivery is due again
        waiting = [
            d.next_attempt_at for d in dl if d.status in (DeliveryStatus.PENDING, DeliveryStatus.RETRY)
        ]
        due = min((t for t in waiting if t is not None), default=now)
        w.update_job(
            job.id,
            queue_state=QUEUE.check(job.queue_state, QueueState.READY),
            run_at=due,
            lease_owner=None,
            lease_until=None,
            trace=trace,
            updated_at=now,
        )
        return StepResult(done=True, lead_id=job.lead_id)
    if settlement.queue is QueueState.WAITING:  # parked until the batches are sent (the sender wakes it)
        w.update_job(job.id, status=JOB.check(job.status, settlement.status), trace=trace, updated_at=now)
        wait_for_batches(w, job, now)
        return StepResult(done=True, lead_id=job.lead_id)
    if settlement.status is JobStatus.DELIVERED:
        trace.extend(_delivered_line(d) for d in dl if d.status == DeliveryStatus.DELIVERED)
        return close(w, job, settlement.status, now, trace, error=None)
    if settlement.status is JobStatus.HELD:
        held = [d for d in dl if d.status == DeliveryStatus.HELD]
        trace.extend(f"{d.partner}: held for pick-up" for d in held if finished is None or d.id in finished)
        return close(w, job, settlement.status, now, trace, error=None)
    all_failed = [d for d in dl if d.status == DeliveryStatus.FAILED]
    if settlement.status is JobStatus.ROUTING:  # every delivery failed: route again without them
        excluded = sorted({*job.excluded, *(d.partner for d in all_failed)})
        status = JOB.check(job.status, settlement.status)
        w.update_job(job.id, status=status, excluded=excluded, trace=trace, updated_at=now)
        return StepResult(reroute=True, lead_id=job.lead_id)
    reason = all_failed[-1].reason if all_failed else "nothing to deliver"
    return close(w, job, settlement.status, now, trace, error=reason)


def _delivered_line(d: Record) -> str:
    by = f" by {d.channel} (failover)" if d.channel_step else ""
    return f"{d.partner}: delivered{by}" + (f" (ref {d.reference})" if d.reference else "")


def _sale_stands(tx: Tx, lead_id: str, item: SendItem) -> bool:
    """Whether the lead's sale to this resend's partner still stands (another delivery of the lead to it
    is delivered): the resend is the lead sent again, not a second sale (as the ledger bills it), so the
    source is not told of one."""
    standing = tx.erasure.lead_deliveries(lead_id, [DeliveryStatus.DELIVERED])
    return any(d.partner == item.partner and d.id != item.delivery_id for d in standing)
