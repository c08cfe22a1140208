"""User choice (``strategy: user_choice``; issue 10, point 5): the consumer picks the partner.

1. :func:`offer` (the worker's routing transaction): the rule's eligible partners that may still take the
   lead — not a duplicate for them, below their caps (a peek: nothing is taken) — become ``offers`` rows,
   valid for the target's ``offer_ttl``. The job stays ``received`` and is parked (queue ``waiting``): no
   worker claims it while the consumer chooses. The answer to ``?wait`` lists the open offers
   (``services.intake``).
2. :func:`select` (``POST /v1/offers/{id}/select``, one transaction under the job's lock): the offer is
   selected, its siblings expired, the partner's cap slot reserved exactly (capped, paused, checked out,
   past its hours, taken out of the rule, or its rule or profile gone since the offer: 409, nothing
   changes; the lead, so its filters, has not changed), the delivery made at the offer's price and the job
   woken for a worker to post it. A selection already made is a 409; an offer past its time a 410.
3. :func:`expire_due` (the worker's sweep, and lazily a select that finds its offer past its time): open
   offers past their time are expired and traced; a job with no open offer left, none selected, closes
   unsold ("no offer selected").

A selected partner that refuses the post (or fails) does not bring the offers back: nobody is waiting to
choose again, so the job closes (unsold, or failed after errors) when settlement routes it again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadrelay.domain.hours import closed_reason, is_open
from leadrelay.domain.model import PartnerSpec
from leadrelay.domain.offers import (
    NO_OFFER_SELECTED,
    RefusalKind,
    expired_line,
    offer_priced,
    offered_line,
    refusal,
    rule_target,
    selected_basis,
    selected_line,
)
from leadrelay.domain.routing import Evaluation
from leadrelay.domain.states import JOB_TO_ROUTE, OFFER, QUEUE, JobStatus, OfferStatus, QueueState
from leadrelay.errors import Conflict, Gone, NotFound
from leadrelay.services import partner_exclusion
from leadrelay.services.budgets import Price, reserve_money
from leadrelay.services.config_in_force import ConfigCache, LiveConfig, profile_off
from leadrelay.services.notify import Notifier
from leadrelay.services.opened_leads import open_jobs
from leadrelay.services.ports import (
    Clock,
    IdSource,
    Record,
    Sealer,
    Storage,
    Tx,
    system_clock,
    system_ids,
)
from leadrelay.services.reservations import cap_room, reserve
from leadrelay.services.steps import Chosen, StepResult, close, deliver
from leadrelay.services.writes import Writes

__all__ = ["Offers", "Selection", "expire_due", "expire_job", "offer", "select", "withdraw"]

SELECTED_REFUSED = "the selected offer's partner did not take the lead"


def offer(
    tx: Tx,
    job: Record,
    live: LiveConfig,
    now: datetime,
    w: Writes,
    ev: Evaluation,
    candidates: Sequence[str],
    trace: list[str],
    ids: IdSource,
    *,
    trials: Callable[[Sequence[str], list[str]], list[str]] | None = None,
) -> StepResult:
    """Offer the eligible partners with room to the consumer and park the job until one is selected; a job
    that has offers already (routed again) is resumed instead (:func:`resume`). ``trials``: the breakers'
    say on the partners offered (one due for a trial takes it here, or is left out when another took it)."""
    assert ev.target is not None
    stored = tx.deliveries.offers_of(job.id)
    if stored:
        return resume(tx, job, now, w, stored, trace, ev.rule)
    cfg = live.compiled
    profile = cfg.profiles[job.profile].spec
    with_channel: list[PartnerSpec] = []
    for name in candidates:
        partner = cfg.partners[name]
        if partner.channel is None:
            trace.append(f"{name}: no delivery channel (not offered)")
            continue
        with_channel.append(partner)
    open_names = partner_exclusion.not_duplicates(
        tx, job, with_channel, now, live.dedup_keys, trace, left_out="not offered"
    )
    full = cap_room(
        tx, [(cfg.partners[n], profile.partner_caps.get(n, {})) for n in open_names], job.profile, now
    )
    offered = []
    for name in open_names:
        if name in full:
            trace.append(f"{name}: {full[name]} (not offered)")
        else:
            offered.append(name)
    if trials is not None:
        offered = trials(offered, trace)
    if not offered:  # the reason names the caps only when they alone left everyone out
        why = (
            "every eligible partner is at its cap" if len(full) == len(candidates) else "no eligible partner"
        )
        return close(w, job, JobStatus.UNSOLD, now, trace, error=why, rule=ev.rule)
    ttl = ev.target.offer_ttl_s
    expires_at = now + timedelta(seconds=ttl)
    rows: list[dict[str, Any]] = []
    for place, name in enumerate(offered, 1):
        partner = cfg.partners[name]
        rows.append(
            {
                "id": ids("ofr"),
                "job_id": job.id,
                "lead_id": job.lead_id,
                "partner": name,
                "place": place,
                "display_name": partner.display_name or name,
                "logo_url": partner.logo_url,
                "price": offer_priced(name, ev.target, profile, partner.price)[0],
                "show_price": partner.show_price,
                "status": OFFER.check_initial(OfferStatus.OPEN),
                "expires_at": expires_at,
                "selected_at": None,
                "expired_at": None,
                "delivery_id": None,
                "superseded": False,
                "created_at": now,
            }
        )
    tx.deliveries.insert_offers(rows)
    trace.append(offered_line(offered, ttl, expires_at))
    _park(w, job, now, trace, ev.rule)
    return StepResult(done=True, lead_id=job.lead_id)  # done for this worker: the consumer chooses


def _park(w: Writes, job: Record, now: datetime, trace: list[str], rule: str | None) -> None:
    waiting = QUEUE.check(job.queue_state, QueueState.WAITING)
    w.update_job(
        job.id,
        rule=rule,
        trace=trace,
        error=None,
        queue_state=waiting,
        lease_owner=None,
        lease_until=None,
        updated_at=now,
    )


def resume(
    tx: Tx,
    job: Record,
    now: datetime,
    w: Writes,
    stored: Sequence[Record],
    trace: list[str],
    rule: str | None,
) -> StepResult:
    """A job with offers routed again: parked again while an offer is open; closed when the selected
    partner did not take the lead (its delivery failed) or when every offer expired."""
    if any(o.status == OfferStatus.SELECTED for o in stored):
        status = JobStatus.FAILED if tx.jobs.job_had_errors(job.id) else JobStatus.UNSOLD
        return close(
            w, job, status, now, [*trace, f"user choice: {SELECTED_REFUSED}"], error=SELECTED_REFUSED
        )
    due = [o for o in stored if o.status == OfferStatus.OPEN and o.expires_at <= now]
    _expire(tx, due, now)
    if due:
        trace.append(expired_line([o.partner for o in due]))
    if any(o.status == OfferStatus.OPEN and o.expires_at > now for o in stored):
        _park(w, job, now, trace, rule)
        return StepResult(done=True, lead_id=job.lead_id)
    return close(w, job, JobStatus.UNSOLD, now, trace, error=NO_OFFER_SELECTED, rule=rule)


def withdraw(tx: Tx, job_id: str, now: datetime) -> None:
    """A rerun offers afresh: the job's open offers expire (a selection of one is a 410) and every offer so
    far is kept in the job's history only."""
    _expire(tx, [o for o in tx.deliveries.offers_of(job_id) if o.status == OfferStatus.OPEN], now)
    tx.deliveries.supersede_offers(job_id)


def _expire(tx: Tx, offers: Sequence[Record], now: datetime) -> None:
    for o in offers:
        tx.deliveries.update_offer(o.id, status=OFFER.check(o.status, OfferStatus.EXPIRED), expired_at=now)


def expire_job(tx: Tx, job: Record, now: datetime, w: Writes) -> bool:
    """Expire a parked job's offers past their time (traced); close it unsold when no offer is left open
    and none was selected. Returns whether the job was closed. A job no longer parked for a choice (a
    worker holds it, or it moved on) only has its offers expired."""
    stored = tx.deliveries.offers_of(job.id)
    due = [o for o in stored if o.status == OfferStatus.OPEN and o.expires_at <= now]
    if not due:
        return False
    _expire(tx, due, now)
    trace = [*job.trace, expired_line([o.partner for o in due])]
    parked = job.status in JOB_TO_ROUTE and job.queue_state == QueueState.WAITING
    if not parked:
        return False
    still_open = any(o.status == OfferStatus.OPEN and o.expires_at > now for o in stored)
    selected = any(o.status == OfferStatus.SELECTED for o in stored)
    if still_open or selected:
        w.update_job(job.id, trace=trace, updated_at=now)
        return False
    close(w, job, JobStatus.UNSOLD, now, trace, error=NO_OFFER_SELECTED)
    return True


def expire_due(tx: Tx, now: datetime, limit: int = 200) -> list[str]:
    """The sweep: expire the offers past their time of up to ``limit`` jobs (their rows locked), closing
    those left with no offer to select. Returns the leads of the jobs closed."""
    job_ids = tx.deliveries.jobs_with_expired_offers(now, limit)
    if not job_ids:
        return []
    w = Writes()
    closed = [job.lead_id for job in tx.jobs.load_jobs(job_ids, lock=True) if expire_job(tx, job, now, w)]
    w.flush(tx, now)
    return closed


@dataclass(frozen=True, slots=True)
class Selection:
    """What a select did: the lead and job, and whether a worker has a post to send now."""

    lead_id: str
    job_id: str
    partner: str
    woken: bool


def _taken_elsewhere(chosen: Record, why: str) -> Conflict:
    """A 409 that leaves the lead's offers open: this partner cannot take it now, another may."""
    return Conflict(f"partner {chosen.display_name} {why}; choose another offer")


def select(
    tx: Tx,
    offer_id: str,
    source: str,
    live: LiveConfig,
    now: datetime,
    sealer: Sealer,
    ids: IdSource,
) -> Selection | Gone:
    """Select an offer for the source's lead (see the module docstring). Raises ``NotFound`` (no such
    offer for this source) or ``Conflict`` (already selected, the partner at its cap since, the job moved
    on); returns ``Gone`` for an offer past its time, once its job's due offers are expired (and the job
    closed when none is left) in this transaction, which the caller commits."""
    found = tx.deliveries.get_offer(offer_id)
    if found is None:
        raise NotFound(f"unknown offer {offer_id}")
    rows = tx.jobs.load_jobs([found.job_id], lock=True)  # one selection per job at a time
    if not rows or rows[0].source != source:
        raise NotFound(f"unknown offer {offer_id}")
    if found.superseded:  # a rerun offered the lead afresh
        return Gone(f"offer {offer_id} was withdrawn when the lead was offered again; choose a new offer")
    siblings = tx.deliveries.offers_of(found.job_id)  # read again under the lock
    chosen = next(o for o in siblings if o.id == offer_id)
    others = [o for o in siblings if o.id != offer_id]
    refused = refusal(offer_id, chosen.status, chosen.expires_at, [o.status for o in others], now)
    if refused is not None and refused.kind is RefusalKind.TAKEN:
        raise Conflict(refused.detail)
    if refused is not None:
        w = Writes()
        expire_job(tx, rows[0], now, w)
        w.flush(tx, now)
        return Gone(refused.detail)
    (job,) = open_jobs(tx, rows, sealer)
    if job.status not in JOB_TO_ROUTE or job.queue_state != QueueState.WAITING:
        raise Conflict(f"the lead's distribution is {job.status} and no longer waits for a choice")
    cfg = live.compiled
    compiled = live.profile_in_force(job.profile)
    if compiled is None:  # switched off or deleted since the offer: its offers stay open, nothing is sold
        raise Conflict(f"{profile_off(job.profile)}: no offer of this lead can be taken now")
    target = rule_target(compiled.spec, job.rule)
    if target is None:  # the rule was removed or renamed since the offer: nothing of it can be sold
        raise Conflict(
            f"rule {job.rule} is no longer in profile {job.profile}: no offer of this lead can be taken now"
        )
    partner = cfg.partners.get(chosen.partner)
    if partner is None or partner.channel is None:
        raise _taken_elsewhere(chosen, "can no longer take leads")
    if partner.name not in target.partners:
        raise _taken_elsewhere(chosen, f"is no longer among rule {job.rule}'s partners")
    if partner.paused or partner.name in tx.caps.unavailable_partners():
        raise _taken_elsewhere(chosen, "is not taking leads now")
    if not is_open(partner.hours, zone := cfg.zones[partner.timezone], now):  # its day ended meanwhile
        raise _taken_elsewhere(
            chosen, f"cannot take the lead now ({closed_reason(zone, now, partner.timezone)})"
        )
    if partner.dedup is not None and partner_exclusion.duplicate_for(tx, job, partner, now, live.dedup_keys):
        raise _taken_elsewhere(chosen, "already received this person")
    count_load = partner.name in cfg.load_counted  # a least_loaded rule counts it (an uncapped partner)
    caps = compiled.spec.partner_caps.get(partner.name, {})
    windows, capped = reserve(tx, partner, caps, job.profile, now, count_load=count_load)
    if capped is not None:  # raising rolls the transaction back: the offers stay open
        raise _taken_elsewhere(chosen, f"cannot take the lead now ({capped})")
    held, short = reserve_money(tx, job, partner, compiled.spec, Price(bid=chosen.price), now)
    if short is not None:
        raise _taken_elsewhere(chosen, f"cannot take the lead now ({short})")
    windows.extend(held)
    windows.extend(partner_exclusion.mark_sent(tx, job, partner, now, live.dedup_keys))
    basis = selected_basis(chosen.price, target, compiled.spec, partner)
    delivery_id = ids("dlv")
    tx.deliveries.update_offer(
        chosen.id,
        status=OFFER.check(chosen.status, OfferStatus.SELECTED),
        selected_at=now,
        delivery_id=delivery_id,
    )
    closed = [o for o in others if o.status == OfferStatus.OPEN]
    _expire(tx, closed, now)
    trace = [*job.trace, selected_line(partner.name, chosen.id, [o.partner for o in closed])]
    trace.append(f"{partner.name}: chosen (user choice, price {_money(chosen.price)})")
    w = Writes()
    result = deliver(
        tx,
        job,
        cfg.partners,
        [Chosen(partner.name, windows, chosen.price, None, delivery_id, basis)],
        now,
        w,
        ids,
        trace,
        rule=job.rule,
        email_to=compiled.spec.email_to,
    )
    if result.sends:  # the worker posts it: wake the job
        w.update_job(job.id, queue_state=QUEUE.check(job.queue_state, QueueState.READY), run_at=now)
    w.flush(tx, now)
    return Selection(job.lead_id, job.id, partner.name, bool(result.sends))


def _money(price: float | None) -> str:
    return f"{price:.2f}" if price is not None else "none"


class Offers:
    """``POST /v1/offers/{id}/select`` over the storage (the sweep is the worker's)."""

    def __init__(
        self,
        storage: Storage,
        configs: ConfigCache,
        notifier: Notifier,
        sealer: Sealer,
        *,
        clock: Clock = system_clock,
        ids: IdSource = system_ids,
    ) -> None:
        self._storage = storage
        self._configs = configs
        self._notifier = notifier
        self._sealer = sealer
        self._clock = clock
        self._ids = ids

    async def select(self, offer_id: str, source: str) -> Selection:
        live = await self._configs.get(self._storage)

        def work(tx: Tx) -> Selection | Gone:
            return select(tx, offer_id, source, live, self._clock(), self._sealer, self._ids)

        done = await self._storage.run(work)
        if isinstance(done, Gone):
            raise done
        if done.woken:
            self._notifier.jobs_added()
        else:
            self._notifier.lead_done(done.lead_id)
        return done
