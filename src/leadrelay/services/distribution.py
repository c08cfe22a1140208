"""Distribution jobs: route (rules → eligible partners → cap reservation → deliveries) and finish
(record attempts → retry, fall back to the next partner, or close the job).

Both run for a batch of jobs inside one database transaction, called by the worker through group commits;
cap slots and rotations are taken at once (``services.reservations``: later jobs of the batch must see
them), every other write is collected in a ``Writes`` (``services.writes``) and executed together at the end
of the step. The job's status and the queue's claim state (kept apart from it) move through the transitions
of ``leadrelay.domain.states`` (docs/states.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from leadrelay.domain.attempts import LeadView
from leadrelay.domain.files import EmailDestination
from leadrelay.domain.model import (
    ChannelSpec,
    EmailChannel,
    FileChannel,
    HoldChannel,
    PartnerSpec,
    Strategy,
)
from leadrelay.domain.routing import Evaluation, evaluate, rotation_key
from leadrelay.domain.selection import needs_rotation, order_candidates
from leadrelay.domain.states import (
    DELIVERY,
    JOB,
    JOB_TO_ROUTE,
    QUEUE,
    DeliveryStatus,
    JobStatus,
    QueueState,
)
from leadrelay.services import partner_exclusion
from leadrelay.services.config_in_force import LiveConfig
from leadrelay.services.health import BreakerGate
from leadrelay.services.opened_leads import redact_lines, redactor_of, sensitive_of
from leadrelay.services.ports import IdSource, Record, Tx, system_ids
from leadrelay.services.reservations import Rotations, least_loaded, reserve
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


@dataclass(slots=True)
class StepResult:
    """What the worker does next with a job it holds."""

    sends: list[SendItem] = field(default_factory=list)
    done: bool = False  # the job reached a final status (or is no longer ours)
    lead_id: str | None = None
    reroute: bool = False  # every delivery failed: route again, skipping the partners tried


def select_values(values: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    if fields is None:
        return dict(values)
    return {k: values[k] for k in fields if k in values}


def lead_view(job: Record, partner: str, spec: ChannelSpec, key: str) -> LeadView:
    values = select_values(job.lead_values, spec.fields)
    test = bool(job.is_test) or job.kind == "test"
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
    )


def plan(job: Record, live: LiveConfig, now: datetime) -> Evaluation | None:
    """The routing evaluation of a job about to be routed (pure), or None when it is not rule-routed."""
    profile = live.compiled.profiles.get(job.profile)
    if job.kind != "route" or job.status not in JOB_TO_ROUTE or profile is None:
        return None
    if not profile.spec.enabled:
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
) -> StepResult:
    """Route a claimed job in status received/routing: evaluate rules, reserve caps, create deliveries.
    ``planned``: its evaluation, when the batch already made it; ``rotations``: the batch's numbers;
    ``ids``: where the new deliveries' ids come from; ``unavailable``: the partners checked out, when the
    batch already read them (else read here); ``breakers``: the batch's circuit breakers, which skip a
    partner whose breaker is open and let a trial lead through after its cool-down (None: not checked)."""
    trace: list[str] = list(job.trace)
    cfg = live.compiled
    if job.kind in ("resend", "test"):
        return _direct(tx, job, live, now, trace, w, ids)
    profile = cfg.profiles.get(job.profile)
    if profile is None or not profile.spec.enabled:
        why = f"profile {job.profile} is missing or disabled"
        return close(w, job, JobStatus.UNSOLD, now, [*trace, why], error=why)
    excluded = set(job.excluded)
    ev = planned or evaluate(job.lead_values, profile, cfg, now, exclude=excluded)
    trace.extend(redact_lines(job, ev.trace(cfg)))
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
    if not candidates:
        reason = ev.reason or "no eligible partner"
        if excluded:
            reason = f"{reason} (already tried: {', '.join(sorted(excluded))})"
        status = JobStatus.FAILED if excluded and tx.jobs.job_had_errors(job.id) else JobStatus.UNSOLD
        return close(w, job, status, now, trace, error=reason, rule=ev.rule)
    broadcast = target is not None and target.strategy is Strategy.BROADCAST
    chosen: list[tuple[str, list[list[str]]]] = []
    for i, name in enumerate(candidates):
        if chosen and not broadcast:
            trace.append(f"{name}: eligible, not needed ({'; '.join(candidates[:i])} first)")
            continue
        partner = cfg.partners[name]
        if partner.dedup is not None and (
            seen := partner_exclusion.duplicate_for(tx, job, partner, now, live.dedup_keys)
        ):
            trace.append(seen)
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
        windows.extend(partner_exclusion.mark_sent(tx, job, partner, now, live.dedup_keys))
        chosen.append((name, windows))
        strategy = target.strategy.value if target is not None else "priority"
        trace.append(f"{name}: chosen ({strategy})")
    if not chosen:
        why = "every eligible partner is at its cap"
        return close(w, job, JobStatus.UNSOLD, now, trace, error=why, rule=ev.rule)
    result = StepResult(lead_id=job.lead_id)
    batched = False
    for name, windows in chosen:
        partner = cfg.partners[name]
        send = _new_delivery(tx, job, partner, windows, now, w, ids, profile.spec.email_to)
        if send is not None:
            result.sends.append(send)
        elif isinstance(partner.channel, FileChannel):
            batched = True
            trace.append(f"{name}: {waiting_line(partner.channel)}")
        else:
            trace.append(f"{name}: held for pick-up (hold channel)")
    if not result.sends and not batched:  # every chosen partner holds its leads
        return close(w, job, JobStatus.HELD, now, trace, error=None, rule=ev.rule)
    status = JOB.check(job.status, JobStatus.DELIVERING)
    w.update_job(job.id, status=status, rule=ev.rule, trace=trace, error=None, updated_at=now)
    if not result.sends:
        wait_for_batches(w, job, now)
    return result


def waiting_line(spec: FileChannel) -> str:
    what = "email digest" if isinstance(spec.destination, EmailDestination) else "batch file"
    return f"waiting for the next {what} ({spec.schedule.describe()})"


def wait_for_batches(w: Writes, job: Record, now: datetime) -> None:
    """Park a job whose deliveries wait for batches: no worker claims it until a batch is sent."""
    waiting = QUEUE.check(job.queue_state, QueueState.WAITING)
    w.update_job(job.id, queue_state=waiting, lease_owner=None, lease_until=None, updated_at=now)


def _direct(
    tx: Tx, job: Record, live: LiveConfig, now: datetime, trace: list[str], w: Writes, ids: IdSource
) -> StepResult:
    """Resend and test jobs go straight to one partner: no rules, no selection, no caps."""
    partner = live.compiled.partners.get(job.target_partner or "")
    if partner is None or partner.channel is None:
        why = f"partner {job.target_partner} is missing or has no delivery channel"
        return close(w, job, JobStatus.FAILED, now, [*trace, why], error=why)
    trace.append(f"{partner.name}: {job.kind} straight to the partner (selection bypassed)")
    send = _new_delivery(tx, job, partner, [], now, w, ids)
    if send is None and isinstance(partner.channel, FileChannel):
        line = "a batch of its own, sent now" if job.kind == "test" else waiting_line(partner.channel)
        status = JOB.check(job.status, JobStatus.DELIVERING)
        w.update_job(job.id, status=status, trace=[*trace, f"{partner.name}: {line}"], updated_at=now)
        wait_for_batches(w, job, now)
        return StepResult(done=True, lead_id=job.lead_id)
    if send is None:
        return close(w, job, JobStatus.HELD, now, [*trace, f"{partner.name}: held for pick-up"], error=None)
    status = JOB.check(job.status, JobStatus.DELIVERING)
    w.update_job(job.id, status=status, trace=trace, error=None, updated_at=now)
    return StepResult(sends=[send], lead_id=job.lead_id)


def _new_delivery(
    tx: Tx,
    job: Record,
    partner: PartnerSpec,
    windows: list[list[str]],
    now: datetime,
    w: Writes,
    ids: IdSource,
    profile_email_to: tuple[str, ...] = (),
) -> SendItem | None:
    """Create the delivery; None when the partner's channel is ``hold`` (stored for pick-up, no send) or
    batched (waiting for the partner's next file or digest; a test lead gets a batch of its own now)."""
    assert partner.channel is not None
    held = isinstance(partner.channel, HoldChannel)
    delivery_id = ids("dlv")
    key = f"{job.id}:{partner.name}"  # stable per job and partner: a buyer can drop a double post
    batch_id = None
    if isinstance(partner.channel, FileChannel):
        if job.kind == "test":
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
            "price": None,
            "reference": None,
            "reason": None,
            "invoiced": False,
            "is_test": bool(job.is_test) or job.kind == "test",
            "created_at": now,
            "delivered_at": None,
            "held_at": now if held else None,
            "cancelled_at": None,
            "cancel_reason": None,
            "batch_id": batch_id,
        }
    )
    if status is not DeliveryStatus.PENDING:
        return None
    spec = channel_for(partner, profile_email_to)
    assert spec is not None
    view = lead_view(job, partner.name, spec, key)
    return SendItem(job.id, delivery_id, partner.name, spec, view, 1, windows_of(windows))


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
