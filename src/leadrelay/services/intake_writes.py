"""The write of accepted leads: a group of requests' leads, their jobs, dedup marks, lookup keys, payouts
and ping bids, screened and stored in one transaction (the group commit, ``Intake``'s writer), and the rows
of a new distribution job (for intake, resends and reruns)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadrelay.domain.caps import SourceSlot, source_counter
from leadrelay.domain.derived_states import lead_status, public_lead_status
from leadrelay.domain.ledger import Entry
from leadrelay.domain.states import JOB, LEAD, QUEUE, JobKind, JobStatus, LeadStatus, QueueState
from leadrelay.errors import FieldProblem
from leadrelay.services import supplier_ping
from leadrelay.services.intake_answers import SUPPRESSED_REASON, IntakeAnswer
from leadrelay.services.ports import Clock, IdSource, Tx, system_ids
from leadrelay.services.screening import Screen, Verdict, screen
from leadrelay.services.supplier_ping import Redeemed


@dataclass(frozen=True, slots=True)
class LeadWrite:
    """An accepted request's rows, built before the group commit writes them."""

    lead: dict[str, Any]
    jobs: list[dict[str, Any]]
    screen: Screen | None = None
    problems: list[FieldProblem] = field(default_factory=list)
    keep_answer: bool = False  # a keyed request answered at once: its answer is stored with the lead
    ping: Redeemed | None = None  # the supplier ping whose token the lead carries: used with the write
    bids: list[dict[str, Any]] = field(default_factory=list)  # its bids, given to the lead's jobs
    payout: Entry | None = None  # the source's payout when paid on acceptance: posted if it is accepted
    lookups: list[str] = field(default_factory=list)  # its lookup keys (domain.lookup), written with it
    source_caps: tuple[SourceSlot, ...] = ()  # the slots it takes of its source's caps (a valid lead)


def first_answer(w: LeadWrite) -> IntakeAnswer:
    """What the source is told right after the write (before any wait)."""
    status = LEAD.check_initial(str(w.lead["status"]))
    reason = None
    if status is LeadStatus.UNSOLD and not w.jobs and not w.problems:
        reason = f"no enabled profile for entity {w.lead['entity']}"
    elif status is LeadStatus.SUPPRESSED:
        reason = SUPPRESSED_REASON
    answer = IntakeAnswer(w.lead["id"], public_lead_status(status), problems=w.problems, reason=reason)
    if w.payout is not None and status not in _NOT_ACCEPTED:  # paid on acceptance
        answer.payout = -w.payout.amount
    return answer


# what ``write_group`` changes in a write's rows (a screened lead's outcome, a kept answer)
_LEAD_DECIDED = ("status", "duplicate_of", "answer_code", "answer")
_JOB_DECIDED = ("status", "trace", "error", "queue_state", "finished_at")


def write_group(tx: Tx, writes: Sequence[LeadWrite], clock: Clock) -> list[tuple[str, Any]]:
    """Screen, then write the leads, their jobs and dedup marks of a group in one transaction; per
    write: ("created", lead id), ("repeat", the original lead) or ("conflict", None). If it raises, the
    writes are left as they came (the group commit then writes each alone: a lead screened as a duplicate
    of one that is not stored after all is screened afresh)."""
    before = [
        ({k: w.lead[k] for k in _LEAD_DECIDED}, [{k: j[k] for k in _JOB_DECIDED} for j in w.jobs])
        for w in writes
    ]
    try:
        return _write_group(tx, writes, clock)
    except BaseException:
        for w, (lead, jobs) in zip(writes, before, strict=True):
            w.lead.update(lead)
            for job, was in zip(w.jobs, jobs, strict=True):
                job.update(was)
        raise


class ScreenedAgainstUnwritten(Exception):
    """A group's write undone: each of its leads is then written alone (``GroupCommit``), screened afresh."""


def _stored_before(writes: Sequence[LeadWrite], lead_ids: set[str]) -> set[str]:
    """Those of ``lead_ids`` that are not this group's (leads stored before it)."""
    return lead_ids - {w.lead["id"] for w in writes}


def _write_group(tx: Tx, all_writes: Sequence[LeadWrite], clock: Clock) -> list[tuple[str, Any]]:
    capped: dict[str, SourceSlot] = {}
    taken_none: set[str] = set()  # keyed repeats: they took no slot
    if any(w.source_caps for w in all_writes):
        capped, taken_none = _take_source_slots(tx, all_writes)
    writes = [w for w in all_writes if w.lead["id"] not in capped] if capped else all_writes
    screened = [w for w in writes if w.screen is not None]
    marks: dict[str, list[dict[str, Any]]] = {}
    duplicates_of: set[str] = set()  # the leads of this group others were found duplicates of
    if screened:
        now = clock()
        verdicts = screen(tx, [w.screen for w in screened if w.screen is not None], now)
        for w, verdict in zip(screened, verdicts, strict=True):
            _close_screened(w, verdict, now)
            marks[w.lead["id"]] = verdict.marks
            duplicates_of |= verdict.duplicates_of
    for w in writes:
        if w.keep_answer:
            answer = first_answer(w)
            w.lead["answer_code"] = answer.code
            w.lead["answer"] = answer.as_dict()
    pinged = any(w.ping is not None for w in writes)
    refused = _use_pings(tx, writes, clock()) if pinged else {}
    inserted = tx.leads.insert_leads([w.lead for w in writes if w.lead["id"] not in refused])
    if duplicates_of and not duplicates_of <= inserted | _stored_before(writes, duplicates_of):
        # a lead was screened a duplicate of one of this group that is not written after all (a keyed
        # request's conflict, a used ping token): the group is rolled back and each written alone
        raise ScreenedAgainstUnwritten("a lead of the group was screened against one not written")
    for w in writes:  # not written (a used token, a key repeated at once): its source's slots given back
        if w.source_caps and w.lead["id"] not in inserted and w.lead["id"] not in taken_none:
            tx.caps.release_caps(source_counter(w.lead["source"]), [["", s.window] for s in w.source_caps])
    tx.jobs.insert_jobs([j for w in writes if w.lead["id"] in inserted for j in w.jobs])
    tx.dedup.put_marks([m for lead_id in inserted for m in marks.get(lead_id, ())])
    tx.dedup.put_lookups([(w.lead["id"], k) for w in writes if w.lead["id"] in inserted for k in w.lookups])
    payouts = [
        w.payout
        for w in writes
        if w.payout is not None and w.lead["id"] in inserted and w.lead["status"] not in _NOT_ACCEPTED
    ]
    if payouts:  # the source is paid for the accepted lead with its write
        tx.ledger.post(payouts)
    if any(w.bids for w in writes):  # a ping's bids, for the jobs left to route (not closed at intake)
        routed = {j["id"] for w in writes if w.lead["id"] in inserted for j in w.jobs}
        routed -= {j["id"] for w in writes for j in w.jobs if j["queue_state"] == QueueState.DONE}
        tx.deliveries.insert_bids([b for w in writes for b in w.bids if b["job_id"] in routed])
    results: list[tuple[str, Any]] = []
    for w in all_writes:
        if w.lead["id"] in capped:
            results.append(("source_cap", capped[w.lead["id"]]))
            continue
        if w.lead["id"] in refused:
            results.append(("ping_refused", refused[w.lead["id"]]))
            continue
        if w.lead["id"] in inserted:
            results.append(("created", w.lead["id"]))
            continue
        original = tx.leads.lead_by_idempotency_key(w.lead["source"], w.lead["idempotency_key"])
        if original is None or original.request_hash != w.lead["request_hash"]:
            results.append(("conflict", None))
        else:
            results.append(("repeat", original))
    return results


def _take_source_slots(tx: Tx, writes: Sequence[LeadWrite]) -> tuple[dict[str, SourceSlot], set[str]]:
    """Take each lead's slots of its source's caps (exact under concurrency: a conditional update per
    slot); a lead whose source has reached a cap takes none and is not written. A keyed repeat takes
    nothing (it is answered as the first was). The group's slots are taken source by source, in one order
    for every process (two groups taking two sources' counters crosswise deadlocked on PostgreSQL). Lead
    id -> the cap it is refused by (:func:`_refusing`), and the repeats' lead ids."""
    capped: dict[str, SourceSlot] = {}
    repeats: set[str] = set()
    for w in sorted((w for w in writes if w.source_caps), key=lambda w: str(w.lead["source"])):
        key = w.lead["idempotency_key"]
        if key is not None and tx.leads.lead_by_idempotency_key(w.lead["source"], key) is not None:
            repeats.add(w.lead["id"])
            continue
        counter = source_counter(w.lead["source"])
        taken: list[list[str]] = []
        for slot in w.source_caps:
            if not tx.caps.reserve_cap(counter, "", slot.window, slot.limit)[0]:
                tx.caps.release_caps(counter, taken)
                capped[w.lead["id"]] = _refusing(tx, counter, w.source_caps, slot)
                break
            taken.append(["", slot.window])
    return capped, repeats


def _refusing(tx: Tx, counter: str, slots: Sequence[SourceSlot], failed: SourceSlot) -> SourceSlot:
    """Of a refused lead's caps, the one to answer with: a spent ``total`` (it never comes back: 403), else
    the full window that ends last (a retry before then is refused again); ``failed`` if none reads full
    now (another lead's slot given back meanwhile)."""
    used = tx.caps.cap_used([(counter, "", slot.window) for slot in slots])
    full = [slot for slot in slots if used[(counter, "", slot.window)] >= slot.limit] or [failed]
    return max(full, key=lambda slot: slot.retry_after_s or float("inf"))


def _use_pings(tx: Tx, writes: Sequence[LeadWrite], now: datetime) -> dict[str, str]:
    """Mark the ping tokens the group's leads carry used (each once: of two leads with one token, the
    second is refused); a keyed repeat is answered as one and uses nothing. Lead id -> why refused."""
    refused: dict[str, str] = {}
    for w in writes:
        if w.ping is None:
            continue
        key = w.lead["idempotency_key"]
        if key is not None and tx.leads.lead_by_idempotency_key(w.lead["source"], key) is not None:
            continue  # a repeat (or a conflict): not inserted, the token not used
        why = supplier_ping.use(tx, w.ping, w.lead["id"], now)
        if why is not None:
            refused[w.lead["id"]] = why
    return refused


_NOT_ACCEPTED = (LeadStatus.REJECTED, LeadStatus.DUPLICATE, LeadStatus.SUPPRESSED)


def job_row(lead_id: str, profile: str, now: datetime, ids: IdSource) -> dict[str, Any]:
    return {
        "id": ids("job"),
        "lead_id": lead_id,
        "profile": profile,
        "kind": JobKind.ROUTE,
        "status": JobStatus.RECEIVED,
        "parent_id": None,
        "target_partner": None,
        "rule": None,
        "trace": [],
        "error": None,
        "excluded": [],
        "queue_state": QueueState.READY,
        "run_at": now,
        "lease_owner": None,
        "lease_until": None,
        "claims": 0,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
        "answer_by": None,
    }


def _close_screened(w: LeadWrite, verdict: Verdict, now: datetime) -> None:
    """Jobs closed at intake (duplicate, suppressed) are written done, with the reason in the trace."""
    for job in w.jobs:
        closed = verdict.closed.get(job["profile"])
        if closed is not None:
            status, why = closed
            job.update(
                status=JOB.check_initial(status),
                trace=[why],
                error=why,
                queue_state=QUEUE.check_initial(QueueState.DONE),
                finished_at=now,
            )
    if verdict.lead_status is not None:
        w.lead["status"] = LEAD.check_initial(verdict.lead_status)
        w.lead["duplicate_of"] = verdict.duplicate_of
    elif w.jobs and all(j["queue_state"] == QueueState.DONE for j in w.jobs):
        w.lead["status"] = LEAD.check_initial(lead_status([j["status"] for j in w.jobs]))


def new_job_row(
    lead_id: str, profile: str, now: datetime, *, ids: IdSource = system_ids, **overrides: Any
) -> dict[str, Any]:
    row = job_row(lead_id, profile, now, ids)
    row.update(overrides)
    return row
