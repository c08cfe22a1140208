"""Distribution jobs: route (rules → eligible partners → cap reservation → deliveries) and finish
(record attempts → retry, fall back to the next partner, or close the job).

Both run for a batch of jobs inside one database transaction, called by the worker through group commits;
cap slots and rotations are taken at once (``services.reservations``: later jobs of the batch must see
them), every other write is collected in a ``Writes`` (``services.writes``) and executed together at the end
of the step. The job's status and the queue's claim state (kept apart from it) move through the transitions
of ``leadrelay.domain.states`` (docs/states.md).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from leadrelay.domain.auction import POST_RESERVE_S
from leadrelay.domain.ledger import PriceBasis
from leadrelay.domain.model import FileChannel, ProfileSpec, Strategy, Target
from leadrelay.domain.privacy import ERASED_REASON
from leadrelay.domain.routing import Evaluation, evaluate, rotation_key
from leadrelay.domain.selection import needs_rotation, order_candidates
from leadrelay.domain.states import JOB, JOB_TO_ROUTE, DeliveryStatus, JobKind, JobStatus
from leadrelay.services import auction, partner_exclusion, user_choice
from leadrelay.services.budgets import Price, reserve_money
from leadrelay.services.config_in_force import LiveConfig, profile_off
from leadrelay.services.health import BreakerGate
from leadrelay.services.opened_leads import redact_lines, sensitive_of
from leadrelay.services.ports import IdSource, Record, Tx, system_ids
from leadrelay.services.reservations import Rotations, least_loaded, reserve
from leadrelay.services.steps import (
    Chosen,
    StepResult,
    close,
    deliver,
    new_delivery,
    wait_for_batches,
    waiting_line,
)
from leadrelay.services.writes import Writes


def plan(job: Record, live: LiveConfig, now: datetime) -> Evaluation | None:
    """The routing evaluation of a job about to be routed (pure), or None when it is not rule-routed."""
    profile = live.profile_in_force(job.profile)
    if job.kind != JobKind.ROUTE or job.status not in JOB_TO_ROUTE or profile is None:
        return None
    return evaluate(job.lead_values, profile, live.compiled, now, exclude=set(job.excluded))


def route_job(
    tx: Tx,
    job: Record,
    live: LiveConfig,
    now: datetime,
    w: Writes,
    *,
    planned: Evaluation | None = None,
    rotations: Rotations | None = None,
    ids: IdSource = system_ids,
    unavailable: frozenset[str] | None = None,
    breakers: BreakerGate | None = None,
    reserve_s: float = POST_RESERVE_S,
) -> StepResult:
    """Route a claimed job in status received/routing: evaluate rules, reserve caps, create deliveries.
    ``planned``: its evaluation, when the batch already made it; ``rotations``: the batch's numbers;
    ``ids``: where the new deliveries' ids come from; ``unavailable``: the partners checked out, when the
    batch already read them (else read here); ``breakers``: the batch's circuit breakers, which skip a
    partner whose breaker is open and let a trial lead through after its cool-down (None: not checked);
    ``reserve_s``: what an auction keeps after its pings for the award and the post when the source waits
    (``domain.auction.PostReserve``)."""
    trace: list[str] = list(job.trace)
    cfg = live.compiled
    if job.lead_erased_at is not None:  # nothing is sent of an erased lead (a rerun, resend, redistribution)
        return close(
            w, job, JobStatus.UNSOLD, now, [*trace, f"not routed: {ERASED_REASON}"], error=ERASED_REASON
        )
    if job.kind in (JobKind.RESEND, JobKind.TEST):
        return _direct(tx, job, live, now, trace, w, ids)
    profile = live.profile_in_force(job.profile)
    if profile is None:
        why = profile_off(job.profile)
        return close(w, job, JobStatus.UNSOLD, now, [*trace, why], error=why)
    if profile.spec.entity != job.entity:  # changed since the lead came in: its rules, buyers are another's
        why = f"profile {job.profile} is now for entity {profile.spec.entity}, not this {job.entity} lead"
        return close(w, job, JobStatus.UNSOLD, now, [*trace, why], error=why)
    entity = live.specs.entities.get(job.entity)
    if listed := partner_exclusion.listed_again(tx, job, entity, profile.spec, now):
        return close(w, job, JobStatus.UNSOLD, now, [*trace, listed], error=listed)
    excluded = set(job.excluded)
    ev = planned or evaluate(job.lead_values, profile, cfg, now, exclude=excluded)
    trace.extend(redact_lines(job, ev.trace(cfg, sensitive_of(job))))
    candidates = screen(
        tx, job, live, now, ev, trace, rotations=rotations, unavailable=unavailable, breakers=breakers
    )
    if not candidates:
        choice = excluded and ev.target is not None and ev.target.strategy is Strategy.USER_CHOICE
        if choice and (stored := tx.deliveries.offers_of(job.id)):  # a selection refused: its offers end it
            return user_choice.resume(tx, job, now, w, stored, trace, ev.rule)
        reason = ev.reason or "no eligible partner"
        if excluded:
            reason = f"{reason} (already tried: {', '.join(sorted(excluded))})"
        status = JobStatus.FAILED if excluded and tx.jobs.job_had_errors(job.id) else JobStatus.UNSOLD
        return close(w, job, status, now, trace, error=reason, rule=ev.rule)
    return place(
        tx, job, live, now, w, ev, candidates, trace, ids=ids, breakers=breakers, reserve_s=reserve_s
    )


def screen(
    tx: Tx,
    job: Record,
    live: LiveConfig,
    now: datetime,
    ev: Evaluation,
    trace: list[str],
    *,
    rotations: Rotations | None = None,
    unavailable: frozenset[str] | None = None,
    breakers: BreakerGate | None = None,
) -> list[str]:
    """The candidates of an evaluation still eligible now, in the order the target's strategy offers them:
    less the partners checked out, those whose breaker is open, those a partner suppression list names;
    ordered by the rule's rotation or the partners' loads. Each partner left out gets its trace line."""
    cfg = live.compiled
    candidates = ev.candidates
    target = ev.target
    if candidates:
        away = tx.caps.unavailable_partners() if unavailable is None else unavailable
        if away and not away.isdisjoint(candidates):
            trace.extend(f"{name}: partner unavailable (checked out)" for name in candidates if name in away)
            candidates = [name for name in candidates if name not in away]
    if candidates and breakers is not None:
        candidates = breakers.admit(candidates, trace)
    if candidates:
        listed = partner_exclusion.suppressed_partners(
            tx, job, live.specs.entities.get(job.entity), [cfg.partners[name] for name in candidates]
        )
        if listed:
            trace.extend(listed.values())
            candidates = [name for name in candidates if name not in listed]
    if target is not None and len(candidates) > 1 and needs_rotation(target):
        key = rotation_key(job.profile, ev.rule)
        rotation = rotations.next(key) if rotations is not None else tx.caps.next_rotation(key)
        candidates = order_candidates(candidates, target, rotation)
    if target is not None and target.strategy is Strategy.LEAST_LOADED and len(candidates) > 1:
        candidates, loads = least_loaded(tx, live, candidates, now)
        trace.append(loads)
    return candidates


def place(
    tx: Tx,
    job: Record,
    live: LiveConfig,
    now: datetime,
    w: Writes,
    ev: Evaluation,
    candidates: list[str],
    trace: list[str],
    *,
    ids: IdSource = system_ids,
    breakers: BreakerGate | None = None,
    reserve_s: float = POST_RESERVE_S,
) -> StepResult:
    """Offer the lead to the screened candidates (not empty), in order, by the target's strategy: an
    auction or waterfall, offers to the consumer, or the first (broadcast: every) partner not a duplicate
    for it, below its caps and with money for it; then its deliveries, or unsold."""
    cfg = live.compiled
    profile = cfg.profiles[job.profile]
    target = ev.target
    if target is not None and target.strategy in (Strategy.AUCTION, Strategy.WATERFALL):
        # a partner due for its trial takes it when a tier pings it (below its cap, not a duplicate)
        trials = breakers.claim_all if breakers is not None else None
        return auction.open_or_resume(
            tx, job, live, now, w, ev, candidates, trace, ids, reserve_s=reserve_s, trials=trials
        )
    if target is not None and target.strategy is Strategy.USER_CHOICE:
        # a partner due for its trial takes it when it is offered (its offer is the trial lead)
        trials = breakers.claim_all if breakers is not None else None
        return user_choice.offer(tx, job, live, now, w, ev, candidates, trace, ids, trials=trials)
    broadcast = target is not None and target.strategy is Strategy.BROADCAST
    chosen: list[Chosen] = []
    held_back = False  # a candidate left out for something other than its caps (dedup, money, a trial)
    for i, name in enumerate(candidates):
        if chosen and not broadcast:
            trace.append(f"{name}: eligible, not needed ({'; '.join(candidates[:i])} first)")
            continue
        partner = cfg.partners[name]
        if partner.dedup is not None and (
            seen := partner_exclusion.duplicate_for(tx, job, partner, now, live.dedup_keys)
        ):
            trace.append(seen)
            held_back = True
            continue
        windows, capped = reserve(
            tx,
            partner,
            profile.spec.partner_caps.get(name, {}),
            job.profile,
            now,
            count_load=name in cfg.load_counted,
        )
        if capped is not None:
            trace.append(f"{name}: {capped}")
            continue
        priced = _priced(Chosen(name, windows), target, profile.spec)
        held, short = reserve_money(tx, job, partner, profile.spec, Price(rule=priced.price), now)
        if short is not None:
            tx.caps.release_caps(name, windows)
            trace.append(f"{name}: {short}")
            held_back = True
            continue
        # a trial is spent only on a lead the partner really gets (below its caps, with money for it)
        if breakers is not None and not breakers.claim(name, trace):  # a trial another lead took
            tx.caps.release_caps(name, [*windows, *held])  # the slots, and the money ("money" windows)
            held_back = True
            continue
        windows.extend(held)
        windows.extend(partner_exclusion.mark_sent(tx, job, partner, now, live.dedup_keys))
        chosen.append(priced)
        strategy = target.strategy.value if target is not None else "priority"
        trace.append(f"{name}: chosen ({strategy})")
    if not chosen:
        why = "no eligible partner" if held_back else "every eligible partner is at its cap"
        return close(w, job, JobStatus.UNSOLD, now, trace, error=why, rule=ev.rule)
    return deliver(
        tx, job, cfg.partners, chosen, now, w, ids, trace, rule=ev.rule, email_to=profile.spec.email_to
    )


def _priced(c: Chosen, target: Target | None, profile: ProfileSpec) -> Chosen:
    """The chosen partner with the rule's price for it, else the profile's (the price is then fixed
    before the post: the buyer's answer wins over it only where the partner allows it)."""
    if target is not None and c.name in target.prices:
        return replace(c, price=target.prices[c.name], basis=PriceBasis.RULE)
    if c.name in profile.partner_prices:
        return replace(c, price=profile.partner_prices[c.name], basis=PriceBasis.PROFILE)
    return c


def _sale_resent(tx: Tx, job: Record, partner: str) -> tuple[float | None, str | None, str | None]:
    """A resend of a sale is made at its fixed price (an auction's bid, a rule's or profile's price) and
    carries the bid's reference again; (None, None, None) for anything else (its price comes from the
    buyer's answer or the list price, as any post's)."""
    if job.kind != JobKind.RESEND or job.parent_id is None:
        return None, None, None
    for d in tx.deliveries.job_deliveries(job.parent_id):
        fixed = d.ping_reference is not None or d.price_basis in (
            PriceBasis.BID,
            PriceBasis.RULE,
            PriceBasis.PROFILE,
        )
        # the sale resent (cancelled since, perhaps), not a delivery the buyer refused: a rerun's other
        # delivery to the partner may have had another price and bid
        sold = d.status in (DeliveryStatus.DELIVERED, DeliveryStatus.CANCELLED)
        if d.partner == partner and fixed and sold:
            return d.price, d.price_basis, d.ping_reference
    return None, None, None


def _direct(
    tx: Tx, job: Record, live: LiveConfig, now: datetime, trace: list[str], w: Writes, ids: IdSource
) -> StepResult:
    """Resend and test jobs go straight to one partner: no rules, no selection, no caps."""
    partner = live.compiled.partners.get(job.target_partner or "")
    if partner is None or partner.channel is None:
        why = f"partner {job.target_partner} is missing or has no delivery channel"
        return close(w, job, JobStatus.FAILED, now, [*trace, why], error=why)
    trace.append(f"{partner.name}: {job.kind} straight to the partner (selection bypassed)")
    price, basis, reference = _sale_resent(tx, job, partner.name)
    send = new_delivery(
        tx, job, partner, [], now, w, ids, price=price, price_basis=basis, ping_reference=reference
    )
    if send is None and isinstance(partner.channel, FileChannel):
        line = "a batch of its own, sent now" if job.kind == JobKind.TEST else waiting_line(partner.channel)
        status = JOB.check(job.status, JobStatus.DELIVERING)
        w.update_job(job.id, status=status, trace=[*trace, f"{partner.name}: {line}"], updated_at=now)
        wait_for_batches(w, job, now)
        return StepResult(done=True, lead_id=job.lead_id)
    if send is None:
        return close(w, job, JobStatus.HELD, now, [*trace, f"{partner.name}: held for pick-up"], error=None)
    status = JOB.check(job.status, JobStatus.DELIVERING)
    w.update_job(job.id, status=status, trace=trace, error=None, updated_at=now)
    return StepResult(sends=[send], lead_id=job.lead_id)
