"""Erasure and retention of personal data, and the lead record as an operator may see it.

Erasing a lead removes what identifies the person — its submitted and normalized values, its sealed
(encrypted) values, the requests and responses recorded for its delivery attempts, the values quoted in its
routing trace, its dedup marks — and keeps the business record: the lead's id, entity,
source, status and timestamps, its jobs, and its deliveries with partners, prices, references and dates,
so invoices and reports stay true. A retention setting erases every lead older than N days the same way.

Nothing is sent with a lead's data erased: its deliveries that have not reached their partner yet (due,
waiting for a retry, for a batch, or held for pick-up) fail with ``ERASED_REASON`` and give their cap slots
back, and their jobs are closed (``_close_unsent``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from leadrelay.domain.attempts import AttemptResult
from leadrelay.domain.fields import EXTENSION, normalize_field, number_only
from leadrelay.domain.lookup import Hasher, canonical_of, lookup_key
from leadrelay.domain.model import EntitySpec
from leadrelay.domain.privacy import ERASED_REASON, REDACTED, FieldMatch, Redactor
from leadrelay.domain.states import (
    DELIVERY,
    DELIVERY_NOT_SENT,
    JOB,
    JOB_TO_ROUTE,
    OFFER,
    QUEUE,
    DeliveryStatus,
    JobStatus,
    LeadStatus,
    OfferStatus,
    QueueState,
)
from leadrelay.errors import FieldProblem, LeadrelayError, NotFound, ValidationFailed
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.ports import Clock, DedupKeys, OldPages, Record, Sealer, Storage, Tx, system_clock

log = logging.getLogger("leadrelay.privacy")
_BATCH = 500
ERASED_REQUEST: Mapping[str, Any] = {"erased": True}
"""An erased attempt's recorded request."""


def _all_values(row: Record, sealer: Sealer, tx: Tx) -> list[Any]:
    values: list[Any] = [*(row.data or {}).values(), *(row.raw or {}).values()]
    if row.sealed:
        doc = sealer.ring_sync(row.sealed, tx=tx).open_json(row.sealed, row.id.encode())
        values.extend([*doc["data"].values(), *doc["raw"].values()])
    return values


def erase_leads(tx: Tx, lead_ids: Sequence[str], sealer: Sealer, now: datetime) -> int:
    """Erase these leads' personal data in this transaction; returns how many were erased (not before)."""
    rows = tx.erasure.unerased_leads(lead_ids)
    for row in rows:
        red = Redactor.of(sensitive=_all_values(row, sealer, tx))
        for job in tx.erasure.job_texts(row.id):  # locks the jobs (PostgreSQL): see _close_unsent
            tx.erasure.set_job_texts(job.id, red.lines(job.trace), red.text(job.error))
        tx.erasure.finish_lead_jobs(  # a lead still waiting to be routed has nothing left to route with
            row.id,
            statuses=JOB_TO_ROUTE & JOB.sources(JobStatus.UNSOLD),
            queue_states=QUEUE.sources(QueueState.DONE),
            status=JobStatus.UNSOLD,
            queue_state=QueueState.DONE,
            error=ERASED_REASON,
            now=now,
        )
        _close_unsent(tx, row.id, now)
        for offer in tx.deliveries.lead_offers(row.id):  # user choice: nothing left to choose
            if offer.status == OfferStatus.OPEN:
                expired = OFFER.check(offer.status, OfferStatus.EXPIRED)
                tx.deliveries.update_offer(offer.id, status=expired, expired_at=now)
        if row.status in (LeadStatus.QUEUED, LeadStatus.HELD):  # its jobs were under way, and are closed
            tx.leads.refresh_lead_status(row.id, now)  # (one waiting for its route, or for a choice)
        for att in tx.erasure.attempt_reasons(row.id):
            tx.erasure.erase_attempt(att.id, red.text(att.reason))
        objects = {row.id}  # what the audit log's entries about the lead are about
        for d in tx.erasure.delivery_reasons(row.id):
            objects.add(d.id)
            if d.reason and (reason := red.text(d.reason)) != d.reason:  # a buyer's reason may quote the lead
                tx.deliveries.update_delivery(d.id, reason=reason)
            if d.cancel_reason and (why := red.text(d.cancel_reason)) != d.cancel_reason:  # an operator's
                tx.deliveries.update_delivery(d.id, cancel_reason=why)
        for r in tx.returns.of_leads([row.id]):  # a partner's or an operator's note may quote the lead
            objects.add(r.id)  # audited as the return's (its request, its decision)
            notes = (red.text(r.note), red.text(r.decision_note))
            if notes != (r.note, r.decision_note):
                tx.returns.update(r.id, note=notes[0], decision_note=notes[1])
        for p in tx.postbacks.of_lead(row.id):  # a buyer's postback note may quote the lead too
            if p.note and (note := red.text(p.note)) != p.note:
                tx.postbacks.set_note(p.id, note)
        for relay in tx.relays.of_lead(row.id):  # and so the event relayed to the source, sent or not,
            texts = (red.value(relay.body), red.text(relay.last_answer), red.text(relay.reason))  # its answer
            if texts != (relay.body, relay.last_answer, relay.reason):
                tx.relays.set_texts(relay.id, *texts)
        # a console import's rejects file quotes its rows as they were (kept a day): those of the imports
        # that may have read this lead go
        tx.erasure.forget_import_rejects(row.source, row.entity, row.created_at)
        objects.update(job.id for job in tx.erasure.job_texts(row.id))
        for entry in tx.erasure.audit_reasons(objects):  # an operator's reason (a cancel, a return)
            if (reason := red.text(entry.reason)) != entry.reason:
                tx.erasure.set_audit_reason(entry.id, reason)
    ids = [row.id for row in rows]
    if not ids:
        return 0
    # the lead rows are updated (erased_at) before their lookup keys are deleted: a concurrent
    # ``leads reindex`` holding a row makes this wait, and the delete then sees the keys it wrote
    # (``DedupMarks.replace_lookups``)
    tx.erasure.blank_leads(ids, now)
    tx.dedup.forget_leads(ids)
    return len(ids)


# why each kind of delivery not sent yet fails when its lead is erased (after ERASED_REASON)
_NOT_SENT_BECAUSE = {
    DeliveryStatus.PENDING: "before it was sent",
    DeliveryStatus.RETRY: "before it was sent again",
    DeliveryStatus.BATCHED: "before its batch was sent",
    DeliveryStatus.HELD: "before it was picked up",
}


def _close_unsent(tx: Tx, lead_id: str, now: datetime) -> None:
    """Nothing is sent with the lead's data erased: every delivery of it that has not reached its partner
    (``DELIVERY_NOT_SENT``: due, waiting for a retry, waiting for a batch file or digest or in one not
    sent yet, or held for pick-up) fails and gives its cap slot back, and its job is closed — delivered
    when another partner already has the lead, else unsold — and leaves the queue.

    A job a worker holds under a live lease (a post in flight) is taken over too, as a worker that finds
    a lease ran out takes it over: the job leaves the claimed state and its lease is cleared, so when the
    worker comes back with the buyer's answer it no longer holds the job and settles nothing
    (``settlement.finish_batch``): the erasure's settlement is the only one. The answer is kept as an
    attempt, without the person (``erased_attempt``). The lead's jobs were locked in ``erase_leads``, in
    the order workers lock them, so a worker recording an outcome waits for this and then sees it."""
    unsent = tx.erasure.lead_deliveries(lead_id, sorted(DELIVERY_NOT_SENT))
    if not unsent:
        return
    jobs = tx.jobs.load_jobs(sorted({d.job_id for d in unsent}))
    in_flight = {j.id for j in jobs if j.queue_state == QueueState.CLAIMED and (j.lease_until or now) > now}
    for d in unsent:
        failed = DELIVERY.check(d.status, DeliveryStatus.FAILED)
        why = _NOT_SENT_BECAUSE[DeliveryStatus(d.status)]
        if d.job_id in in_flight and d.status in (DeliveryStatus.PENDING, DeliveryStatus.RETRY):
            why = "while it was being sent (not billed, whatever the buyer answers)"
        tx.deliveries.update_delivery(
            d.id, status=failed, reason=f"{ERASED_REASON} {why}", next_attempt_at=None
        )
        tx.caps.release_caps(d.partner, d.cap_windows)  # a held one kept its slot: given back too
        if d.status == DeliveryStatus.BATCHED and d.batch_id is not None:
            tx.erasure.shrink_batch(d.batch_id)
    for job_id in sorted({d.job_id for d in unsent}):
        left = tx.deliveries.job_deliveries(job_id)  # none is under way any more: all were the lead's
        sold = any(o.status == DeliveryStatus.DELIVERED for o in left)
        status = JobStatus.DELIVERED if sold else JobStatus.UNSOLD
        tx.erasure.finish_job(  # a delivered (broadcast) or cancelled job keeps its status
            job_id,
            statuses=JOB.sources(status),
            # ready (a retry due later), claimed (taken from its worker), waiting (for a batch); a held
            # job is out of the queue already
            queue_states=QUEUE.sources(QueueState.DONE) | {QueueState.DONE},
            status=status,
            queue_state=QueueState.DONE,
            error=None if sold else ERASED_REASON,
            now=now,
        )
    tx.leads.refresh_lead_status(lead_id, now)


def erased_attempt(result: AttemptResult, sent: Mapping[str, Any]) -> AttemptResult:
    """What erasure leaves of an attempt (as ``Erasure.erase_attempt`` does to a stored one), for the
    answer to a post that was in flight while its lead was erased: no request, no response body, and the
    reason without the values that were ``sent``."""
    red = Redactor.of(sensitive=sent.values())
    return replace(result, request=ERASED_REQUEST, response_body=None, reason=red.text(result.reason))


def person_matches(entity: EntitySpec, wanted: Mapping[str, str]) -> list[FieldMatch]:
    """What finds the person among an entity's leads: emails compare case-insensitively, phones without
    their extension (a wanted ``+15125551212`` finds ``+15125551212;ext=12`` too); sensitive (encrypted)
    fields are not searched: their lookup keys find them (``leads_of_person``)."""
    matches: list[FieldMatch] = []
    for field_name, spec in entity.fields.items():
        value = wanted.get(spec.type.value)
        if value is None or spec.sensitive:
            continue
        if spec.type.value == "email":
            matches.append(FieldMatch(field_name, value, "equal_ignoring_case"))
        elif spec.type.value == "phone":
            number = number_only(value)
            matches.append(FieldMatch(field_name, number))
            matches.append(FieldMatch(field_name, number + EXTENSION, "prefix"))
        else:
            matches.append(FieldMatch(field_name, value))
    return matches


def leads_of_person(
    tx: Tx, entities: Mapping[str, EntitySpec], wanted: Mapping[str, str], keys: Sequence[str] = ()
) -> list[str]:
    """The leads whose email or phone fields hold these normalized values (``{"email": …, "phone": …}``).

    Two ways, both: a scan of the stored values of today's entities (the console's lookup keys may be
    missing for leads received before them until ``leadrelay leads reindex``; see ``person_matches`` for
    how values compare), and the lookup keys of those values (``keys``, ``domain.lookup``), which find
    what no scan can read: a sensitive (sealed) email or phone, and the leads of an entity no longer in
    the configuration.
    """
    found: set[str] = set()
    for name, entity in entities.items():
        matches = person_matches(entity, wanted)
        if matches:
            found.update(tx.erasure.leads_matching(name, matches))
    before: str | None = None
    while keys:  # newest first, a page at a time
        page = tx.dedup.leads_by_lookup(keys, _BATCH, before=before)
        found.update(page)
        if len(page) < _BATCH:
            break
        before = page[-1]
    return sorted(found)


def person_keys(wanted: Mapping[str, str], hasher: Hasher) -> list[str]:
    """The lookup keys of a person's normalized email and phone (``person_of``)."""
    return [lookup_key(kind, canonical_of(kind, value), hasher) for kind, value in wanted.items()]


def person_of(email: str | None, phone: str | None, region: str = "US") -> dict[str, str]:
    """The normalized email and phone to look for; a value that is not valid is a 422 naming it."""
    problems: list[FieldProblem] = []
    wanted: dict[str, str] = {}
    for kind, value in (("email", email), ("phone", phone)):
        if value is None:
            continue
        field = normalize_field(kind, value, **({"region": region} if kind == "phone" else {}))
        if not field.valid or field.normal is None:
            problems.append(FieldProblem(kind, field.error or f"not a valid {kind}"))
        else:
            wanted[kind] = field.normal
    if problems:
        raise ValidationFailed(problems)
    if not wanted:
        raise ValidationFailed([FieldProblem("email", "give an email or a phone")])
    return wanted


class Privacy:
    """Erasure of a lead or a person, retention, and the stored lead as an operator may see it.

    ``old_pages`` is told after an erasure, so the erased values do not linger in the database's
    write-ahead log either."""

    def __init__(
        self,
        storage: Storage,
        sealer: Sealer,
        configs: ConfigCache,
        old_pages: OldPages,
        *,
        clock: Clock = system_clock,
        keys: DedupKeys | None = None,
    ) -> None:
        self.storage = storage
        self.sealer = sealer
        self.configs = configs
        self.old_pages = old_pages
        self.clock = clock
        self.keys = keys  # the lookup keys' hasher: an erasure finds a person by them too

    async def erase_lead(self, lead_id: str, *, actor: str, reason: str | None = None) -> bool:
        """Erase one lead; False when it was erased before. Unknown lead: NotFound."""

        def erase(tx: Tx) -> bool:
            if tx.leads.get_lead(lead_id) is None:
                raise NotFound(f"unknown lead {lead_id}")
            now = self.clock()
            said = reason  # the operator's reason may quote the person too ("GDPR request from ada@…")
            if said:
                for row in tx.erasure.unerased_leads([lead_id]):
                    said = Redactor.of(sensitive=_all_values(row, self.sealer, tx)).text(said)
            erased = erase_leads(tx, [lead_id], self.sealer, now) == 1
            _audit(tx, actor, lead_id, now, said, erased=erased, by="id")
            return erased

        erased = await self.storage.run(erase)
        await self.old_pages.forget_old_pages_soon()
        return erased

    async def erase_person(
        self, *, email: str | None = None, phone: str | None = None, region: str = "US", actor: str
    ) -> list[str]:
        """Erase every lead with this email or phone; returns the lead ids found (erased now or before)."""
        wanted = person_of(email, phone, region)
        keys: list[str] = []
        if self.keys is not None:
            try:
                keys = person_keys(wanted, self.keys.cached or await self.keys.hasher())
            except LeadrelayError as exc:  # the dedup key not readable here: the stored values' scan alone
                log.warning("erasure: the lookup keys cannot be read (%s); searching the stored values", exc)

        def erase(tx: Tx) -> list[str]:
            found = leads_of_person(tx, self.configs.current(tx).specs.entities, wanted, keys)
            now = self.clock()
            erased = erase_leads(tx, found, self.sealer, now) if found else 0
            by = "+".join(k for k, v in (("email", email), ("phone", phone)) if v is not None)
            _audit(tx, actor, ",".join(found)[:128] or "-", now, None, erased=erased, by=by, leads=found)
            return found

        found = await self.storage.run(erase)
        await self.old_pages.forget_old_pages_soon()
        return found

    def purge_sync(self, older_than: timedelta, *, actor: str = "retention") -> int:
        """Erase the leads received before now - ``older_than``, in batches (bounded memory)."""
        total = 0
        cutoff = self.clock() - older_than

        def purge(tx: Tx) -> int:
            ids = tx.erasure.leads_received_before(cutoff, _BATCH)
            if not ids:
                return 0
            now = self.clock()
            count = erase_leads(tx, ids, self.sealer, now)
            _audit(tx, actor, f"{ids[0]}..{ids[-1]}", now, None, erased=count, by="retention")
            return count

        while True:
            count = self.storage.transaction(purge)
            total += count
            if count == 0:
                if total:
                    self.old_pages.forget_old_pages()
                return total

    def lead_record(self, lead_id: str, *, reveal: bool, actor: str) -> dict[str, Any]:
        """The stored lead; sensitive values as ``***`` unless ``reveal`` (which is audited)."""

        def record(tx: Tx) -> dict[str, Any]:
            row = tx.leads.get_lead(lead_id)
            if row is None:
                raise NotFound(f"unknown lead {lead_id}")
            data, raw = dict(row.data), dict(row.raw)
            sealed_names: list[str] = []
            if row.sealed:
                doc = self.sealer.ring_sync(row.sealed, tx=tx).open_json(row.sealed, row.id.encode())
                sealed_names = sorted({*doc["data"], *doc["raw"]})
                if reveal:
                    data.update(doc["data"])
                    raw.update(doc["raw"])
                    _audit(tx, actor, lead_id, self.clock(), None, action="lead.reveal")
                else:
                    data.update(dict.fromkeys(doc["data"], REDACTED))
                    raw.update(dict.fromkeys(doc["raw"], REDACTED))
            return {
                "id": row.id,
                "entity": row.entity,
                "source": row.source,
                "status": row.status,
                "data": data,
                "raw": raw,
                "sensitive": sealed_names,
                "flags": row.flags or {},
                "problems": row.problems or [],
                "duplicate_of": row.duplicate_of,
                "is_test": row.is_test,
                "created_at": row.created_at.isoformat(),
                "erased_at": row.erased_at.isoformat() if row.erased_at else None,
            }

        return self.storage.transaction(record) if reveal else self.storage.read(record)


def _audit(
    tx: Tx,
    actor: str,
    object_id: str,
    now: datetime,
    reason: str | None,
    action: str = "lead.erase",
    **detail: Any,
) -> None:
    tx.config.audit(
        actor=actor,
        action=action,
        object_kind="lead",
        object_id=object_id,
        at=now,
        detail=detail,
        reason=reason,
    )
