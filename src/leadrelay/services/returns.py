"""Returns (issue 11, point 4): a partner returns a lead it bought; an operator approves or denies it.

A return is asked for by the partner itself (its own API key), an admin or the CLI (one at a time or a CSV
file: ``services.return_import``). The partner's policy (``domain.returns.decide_return``) refuses it or
takes it, approved at once when its reason is auto-approved. Approving posts the RETURN entries in the same
transaction (the partner credited, the source's payout clawed back: ``services.ledger.post_reversals``)
and, with ``returns.redistribute``, routes the lead again without the returning partner. Every step is
audited (``return.requested|approved|denied``).

The delivery stays ``delivered``: the lead did reach the partner, its cap slot was used, and the log says
so; the return is recorded beside it, and the money is undone in the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from leadrelay.domain.after_sale_states import RETURN, ReturnStatus
from leadrelay.domain.ledger import ZERO, EntryKind, Party
from leadrelay.domain.ledger import live as standing_entries
from leadrelay.domain.returns import Accepted, RateFigures, ReturnPolicy, decide_return, period_bounds
from leadrelay.domain.states import DeliveryStatus, JobKind
from leadrelay.errors import FieldProblem, Forbidden, InvalidTransition, NotFound, ValidationFailed
from leadrelay.services.config_in_force import ConfigCache, LiveConfig
from leadrelay.services.intake_writes import new_job_row
from leadrelay.services.ledger import post_reversals
from leadrelay.services.notify import Notifier
from leadrelay.services.partner_exclusion import lead_holders
from leadrelay.services.ports import (
    Clock,
    IdSource,
    ReturnableDelivery,
    ReturnRecord,
    Storage,
    Tx,
    system_clock,
    system_ids,
)

__all__ = ["ReturnRequest", "Returns", "request_return"]

SYSTEM = "system"  # who approves a return its reason approves at once


@dataclass(frozen=True, slots=True)
class ReturnRequest:
    """A partner's return of one lead: by ``delivery_id`` or ``lead_id`` (exactly one)."""

    partner: str
    reason: str
    delivery_id: str | None = None
    lead_id: str | None = None
    note: str | None = None


def _audit(
    tx: Tx, actor: str, action: str, rec: ReturnRecord, now: datetime, note: str | None, **more: Any
) -> None:
    detail = {
        "partner": rec.partner,
        "lead_id": rec.lead_id,
        "delivery_id": rec.delivery_id,
        "job_id": rec.job_id,
        "reason": rec.reason,
        **more,
    }
    tx.config.audit(
        actor=actor, action=action, object_kind="return", object_id=rec.id, at=now, detail=detail, reason=note
    )


def _policy(live: LiveConfig, partner: str) -> ReturnPolicy | None:
    spec = live.specs.partners.get(partner)
    if spec is None:
        raise NotFound(f"unknown partner {partner!r}")
    return spec.returns


def _delivery(tx: Tx, req: ReturnRequest) -> ReturnableDelivery:
    """The partner's delivered delivery the request names (another partner's is not found)."""
    if bool(req.delivery_id) == bool(req.lead_id):  # an empty id names nothing
        raise ValidationFailed([FieldProblem("delivery_id", "give exactly one of delivery_id or lead_id")])
    lead_id = req.lead_id
    if req.delivery_id:  # its lead's: the partner's copies are locked together, in one order
        named_one = tx.returns.deliveries(req.partner, delivery_id=req.delivery_id)
        lead_id = named_one[0].lead_id if named_one else None
    found = tx.returns.deliveries(req.partner, lead_id=lead_id, lock=True) if lead_id is not None else []
    if req.delivery_id:
        found = [d for d in found if d.delivery_id == req.delivery_id]
    named = f"delivery {req.delivery_id}" if req.delivery_id else f"lead {req.lead_id}"
    if not found:
        raise NotFound(f"no {named} was delivered to {req.partner}")
    sold = [d for d in found if d.status == DeliveryStatus.DELIVERED and d.delivered_at is not None]
    if not sold:
        raise InvalidTransition(f"only a delivered lead can be returned; {named} is {found[-1].status}")
    sold = _billed(tx, req.partner, sold)
    returned = {r.delivery_id: r for r in tx.returns.of_deliveries([d.delivery_id for d in sold])}
    open_ = [d for d in sold if d.delivery_id not in returned]
    if not open_:
        r = returned[sold[-1].delivery_id]
        raise InvalidTransition(f"{named} was already returned by {req.partner} ({r.id}, {r.status})")
    if len(open_) > 1:
        raise InvalidTransition(
            f"{named} was delivered to {req.partner} {len(open_)} times; name the delivery_id "
            f"({', '.join(d.delivery_id for d in open_)})"
        )
    if open_[0].is_test:
        raise InvalidTransition("a test lead cannot be returned")
    return open_[0]


def _billed(tx: Tx, partner: str, sold: list[ReturnableDelivery]) -> list[ReturnableDelivery]:
    """The deliveries whose sale a return would undo: a resend of a sale (a copy sent again, billed with
    the sale it repeats) stands for that sale, so returning either copy returns the billed one, once."""
    lead_ids = {d.lead_id for d in sold}
    entries = tx.ledger.entries(lead_ids=lead_ids, party_kind=Party.PARTNER, party=partner)
    sales = [e for e in entries if e.kind is EntryKind.SALE and e.delivery_id]
    if not sales:
        return sold  # nothing billed (a lead at no price): the deliveries themselves
    standing = {e.delivery_id for e in standing_entries(entries)}
    billed: dict[str, ReturnableDelivery] = {}
    for d in sold:
        of_lead = [str(e.delivery_id) for e in sales if e.lead_id == d.lead_id]
        if d.delivery_id in of_lead or not of_lead:  # billed itself, or nothing of its lead was
            billed[d.delivery_id] = d
            continue
        original = next((i for i in reversed(of_lead) if i in standing), of_lead[-1])
        if original not in billed:
            found = tx.returns.deliveries(partner, delivery_id=original, lock=True)
            if found:
                billed[original] = found[0]
    return [billed[k] for k in sorted(billed, key=lambda k: billed[k].delivered_at or datetime.min)]


def request_return(
    tx: Tx, live: LiveConfig, req: ReturnRequest, *, actor: str, now: datetime, ids: IdSource
) -> tuple[ReturnRecord, bool]:
    """Take a return (refused with an error that says why); the record, and whether a job was added."""
    policy = _policy(live, req.partner)
    if policy is None:
        raise Forbidden(f"partner {req.partner} does not take returns (it has no returns: policy)")
    d = _delivery(tx, req)
    assert d.delivered_at is not None
    figures = None
    if policy.max_rate is not None:
        tz = ZoneInfo(live.specs.partners[req.partner].timezone)
        start, end = period_bounds(policy.rate_period, tz, d.delivered_at)
        returned, sold = tx.returns.rate_figures(req.partner, start, end)
        figures = RateFigures(returned, sold, start, end)
    decision = decide_return(
        policy, partner=req.partner, reason=req.reason, delivered_at=d.delivered_at, now=now, figures=figures
    )
    if not isinstance(decision, Accepted):
        if decision.why == "reason":
            raise ValidationFailed([FieldProblem("reason", decision.detail)], decision.detail)
        raise InvalidTransition(f"return refused: {decision.detail}")
    return_id = ids("ret")
    row: dict[str, object] = {
        "id": return_id,
        "delivery_id": d.delivery_id,
        "lead_id": d.lead_id,
        "job_id": d.job_id,
        "partner": req.partner,
        "reason": req.reason,
        "note": req.note,
        "status": RETURN.check_initial(ReturnStatus.REQUESTED),
        "auto": False,
        "delivered_at": d.delivered_at,
        "requested_at": now,
        "requested_by": actor,
    }
    tx.returns.insert(row)
    rec = tx.returns.get(return_id)
    assert rec is not None
    rate = {"returned": figures.returned + 1, "sold": figures.sold} if figures is not None else None
    _audit(tx, actor, "return.requested", rec, now, req.note, rate=rate)
    if decision.auto:
        return _approve(
            tx, live, rec, actor=SYSTEM, note=f"auto_approve: {req.reason}", now=now, ids=ids, auto=True
        )
    return rec, False


def _approve(
    tx: Tx,
    live: LiveConfig,
    rec: ReturnRecord,
    *,
    actor: str,
    note: str | None,
    now: datetime,
    ids: IdSource,
    auto: bool = False,
) -> tuple[ReturnRecord, bool]:
    status = RETURN.check(rec.status, ReturnStatus.APPROVED)
    # the partner's sale and the source's payout undone with the approval (new entries)
    entries = post_reversals(
        tx, live, [rec.delivery_id], EntryKind.RETURN, now, ids, actor=actor, memo=rec.reason
    )
    new_job = None
    policy = _policy_or_none(live, rec.partner)
    if policy is not None and policy.redistribute:
        new_job = _redistribute(tx, rec, now, ids)
    tx.returns.update(
        rec.id,
        status=status,
        auto=auto,
        decided_at=now,
        decided_by=actor,
        decision_note=note,
        redistributed_as=new_job,
    )
    done = tx.returns.get(rec.id)
    assert done is not None
    credit = sum((e.amount for e in entries if e.party_kind is Party.PARTNER), start=ZERO)
    _audit(
        tx, actor, "return.approved", done, now, note, auto=auto, redistributed_as=new_job, credit=str(credit)
    )
    return done, new_job is not None


def _policy_or_none(live: LiveConfig, partner: str) -> ReturnPolicy | None:
    spec = live.specs.partners.get(partner)
    return spec.returns if spec is not None else None


def _redistribute(tx: Tx, rec: ReturnRecord, now: datetime, ids: IdSource) -> str | None:
    """A new job for the lead, from the returned one's profile, never to the returning partner."""
    found = tx.jobs.load_jobs([rec.job_id])
    if not found or found[0].kind != JobKind.ROUTE:  # a resend or a test goes nowhere else
        return None
    job = found[0]
    if job.lead_erased_at is not None:  # nothing more is sent of an erased lead
        return None
    row = new_job_row(
        rec.lead_id,
        job.profile,
        now,
        id=ids("job"),
        parent_id=job.id,
        excluded=sorted({*job.excluded, rec.partner, *lead_holders(tx, rec.lead_id)}),  # not to a holder
        trace=[f"redistribution after return {rec.id} by {rec.partner} ({rec.reason})"],
    )
    tx.jobs.insert_jobs([row])
    tx.leads.refresh_lead_status(rec.lead_id, now)
    return str(row["id"])


def _decide(
    tx: Tx,
    live: LiveConfig,
    return_id: str,
    approve: bool,
    *,
    actor: str,
    note: str | None,
    now: datetime,
    ids: IdSource,
) -> tuple[ReturnRecord, bool]:
    seen = tx.returns.get(return_id)
    if seen is None:
        raise NotFound(f"no return {return_id}")
    # the delivery's row locked before the return's, in the order a request and a cancel take them
    found = tx.returns.deliveries(seen.partner, delivery_id=seen.delivery_id, lock=True) if approve else []
    rec = tx.returns.get(return_id, lock=True)
    assert rec is not None  # a return is never deleted
    if approve:
        RETURN.check(rec.status, ReturnStatus.APPROVED)
        d = found[0] if found else None
        if d is None or d.status != DeliveryStatus.DELIVERED:
            raise InvalidTransition(
                f"cannot approve {rec.id}: its delivery is {d.status if d else 'gone'} now (deny it instead)"
            )
        return _approve(tx, live, rec, actor=actor, note=note, now=now, ids=ids)
    status = RETURN.check(rec.status, ReturnStatus.DENIED)
    tx.returns.update(return_id, status=status, decided_at=now, decided_by=actor, decision_note=note)
    done = tx.returns.get(return_id)
    assert done is not None
    _audit(tx, actor, "return.denied", done, now, note)
    return done, False


def deny_open_returns(tx: Tx, delivery_ids: Sequence[str], *, actor: str, now: datetime, note: str) -> int:
    """The returns still requested of these deliveries, denied with ``note`` (their sale was cancelled: a
    return asked for left open would count towards the partner's return rate); how many."""
    denied = 0
    for seen in tx.returns.of_deliveries(list(delivery_ids)):
        rec = tx.returns.get(seen.id, lock=True) if seen.status == ReturnStatus.REQUESTED else None
        if rec is not None and rec.status == ReturnStatus.REQUESTED:  # read again under its lock
            status = RETURN.check(rec.status, ReturnStatus.DENIED)
            tx.returns.update(rec.id, status=status, decided_at=now, decided_by=actor, decision_note=note)
            _audit(tx, actor, "return.denied", rec, now, note)
            denied += 1
    return denied


class Returns:
    """The returns' use cases, each in one transaction."""

    def __init__(
        self,
        storage: Storage,
        configs: ConfigCache,
        notifier: Notifier,
        *,
        clock: Clock = system_clock,
        ids: IdSource = system_ids,
    ) -> None:
        self.storage = storage
        self.configs = configs
        self.notifier = notifier
        self.clock = clock
        self.ids = ids

    async def request(self, req: ReturnRequest, *, actor: str) -> ReturnRecord:
        live = await self.configs.get(self.storage)
        rec, added = await self.storage.run(
            lambda tx: request_return(tx, live, req, actor=actor, now=self.clock(), ids=self.ids)
        )
        if added:
            self.notifier.jobs_added()
        return rec

    async def approve(self, return_id: str, *, actor: str, note: str | None = None) -> ReturnRecord:
        return await self._decide(return_id, True, actor=actor, note=note)

    async def deny(self, return_id: str, *, actor: str, note: str | None = None) -> ReturnRecord:
        return await self._decide(return_id, False, actor=actor, note=note)

    async def _decide(self, return_id: str, approve: bool, *, actor: str, note: str | None) -> ReturnRecord:
        live = await self.configs.get(self.storage)
        rec, added = await self.storage.run(
            lambda tx: _decide(
                tx, live, return_id, approve, actor=actor, note=note, now=self.clock(), ids=self.ids
            )
        )
        if added:
            self.notifier.jobs_added()
        return rec

    async def get(self, return_id: str, *, partner: str | None = None) -> ReturnRecord:
        """One return; with ``partner``, only that partner's (another's is not found)."""
        rec = await self.storage.run_read(lambda tx: tx.returns.get(return_id))
        if rec is None or (partner is not None and rec.partner != partner):
            raise NotFound(f"no return {return_id}")
        return rec

    async def find(
        self, *, partner: str | None = None, status: ReturnStatus | None = None, limit: int = 100
    ) -> list[ReturnRecord]:
        return await self.storage.run_read(
            lambda tx: tx.returns.find(partner=partner, status=status, limit=limit)
        )
