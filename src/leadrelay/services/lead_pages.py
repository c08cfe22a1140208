"""The console's lead pages: find a lead by id, email or phone (through the lookup keys, never a scan of
stored values: ``domain.lookup``), and a lead's whole history (its record, jobs, deliveries, returns,
postbacks, ledger entries and the audit entries about it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadrelay.domain.lookup import KINDS, BadQuery, Hasher, Query, lead_keys, parse_query, phone_regions
from leadrelay.domain.model import EntitySpec
from leadrelay.errors import FieldProblem, ValidationFailed
from leadrelay.services.ports import DedupKeys, Record, Sealer, Storage, Tx
from leadrelay.services.privacy import Privacy

SEARCH_LIMIT = 50
REINDEX_BATCH = 500
AUDIT_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Found:
    query: Query
    leads: list[dict[str, Any]]  # newest first
    next_cursor: str | None  # the last lead's id when older ones matched too (``before`` of the next page)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _summary(row: Record) -> dict[str, Any]:
    return {
        "id": row.id,
        "entity": row.entity,
        "source": row.source,
        "status": row.status,
        "is_test": bool(row.is_test),
        "created_at": _iso(row.created_at),
        "erased_at": _iso(row.erased_at),
    }


def find(
    tx: Tx,
    query: Query,
    keys: list[str],
    before: str | None = None,
    limit: int | None = None,
    *,
    open_only: tuple[Mapping[str, EntitySpec], Hasher] | None = None,
) -> Found:
    """The lead whose id is the text, and the leads holding the query's lookup keys (index lookups),
    newest first, older than the cursor ``before``. ``open_only`` (the entities and the key hasher, for a
    user without the privacy permission): a lead found through a key only its sensitive fields give is
    left out (a page may then hold fewer leads; the cursor still follows the index)."""
    limit = limit or SEARCH_LIMIT
    ids = set(tx.dedup.leads_by_lookup(keys, limit + 1, before=before)) if keys else set()
    if query.kind is None and before is None:
        ids.add(query.text)
    rows = tx.lead_pages.summaries(ids)
    page = rows[:limit]
    cursor = page[-1].id if len(rows) > limit else None
    if open_only is not None and keys:
        entities, hasher = open_only
        page = [r for r in page if _found_in_open_fields(tx, r.id, set(keys), entities, hasher)]
    return Found(query, [_summary(r) for r in page], cursor)


def _found_in_open_fields(
    tx: Tx, lead_id: str, keys: set[str], entities: Mapping[str, EntitySpec], hasher: Hasher
) -> bool:
    """Whether one of ``keys`` is a key of the lead's non-sensitive values (stored in the clear)."""
    row = tx.leads.get_lead(lead_id)
    entity = entities.get(row.entity) if row is not None else None
    if row is None or entity is None:
        return False  # its fields' sensitivity is unknown: not shown
    values = {n: v for n, v in dict(row.data or {}).items() if n not in entity.sensitive}
    return not keys.isdisjoint(lead_keys(entity, values, hasher))


def history(tx: Tx, lead_id: str) -> dict[str, Any]:
    """Everything recorded about a lead but its values (``Privacy.lead_record`` gives those)."""
    jobs = tx.lead_pages.jobs_of(lead_id)
    job_ids = [j.id for j in jobs]
    by_job = tx.deliveries.deliveries_of(job_ids) if job_ids else {}
    deliveries = [d for j in job_ids for d in by_job.get(j, [])]
    returns = tx.returns.of_leads([lead_id])
    inbound = tx.postbacks.of_lead(lead_id)
    outbound = tx.relays.of_lead(lead_id)
    entries = tx.ledger.entries(lead_ids=[lead_id])
    about = [lead_id, *job_ids, *(d.id for d in deliveries), *(r.id for r in returns)]
    audit = tx.lead_pages.audit_of(about, AUDIT_LIMIT)
    return {
        "jobs": [
            {
                "id": j.id,
                "profile": j.profile,
                "kind": j.kind,
                "status": j.status,
                "target_partner": j.target_partner,
                "rule": j.rule,
                "error": j.error,
                "created_at": _iso(j.created_at),
                "finished_at": _iso(j.finished_at),
            }
            for j in jobs
        ],
        "deliveries": [
            {
                "id": d.id,
                "job_id": d.job_id,
                "partner": d.partner,
                "channel": d.channel,
                "status": d.status,
                "attempts": d.attempts,
                "price": d.price,
                "reason": d.reason,
                "outcome": d.outcome,
                "created_at": _iso(d.created_at),
                "delivered_at": _iso(d.delivered_at),
            }
            for d in deliveries
        ],
        "returns": [r.as_dict() for r in returns],
        "postbacks": [
            {
                "id": p.id,
                "partner": p.partner,
                "outcome": p.outcome,
                "note": p.note,
                "received_at": _iso(p.received_at),
            }
            for p in inbound
        ],
        "relays": [
            {
                "id": r.id,
                "event": r.event,
                "status": r.status,
                "attempts": r.attempts,
                "created_at": _iso(r.created_at),
            }
            for r in outbound
        ],
        "ledger": [
            {
                "id": e.id,
                "at": _iso(e.at),
                "kind": e.kind.value,
                "party": f"{e.party_kind.value} {e.party}",
                "amount": str(e.amount),
                "currency": e.currency,
                "memo": e.memo,
            }
            for e in entries
        ],
        "audit": [
            {
                "id": a.id,
                "at": _iso(a.at),
                "actor": a.actor,
                "action": a.action,
                "object_kind": a.object_kind,
                "object_id": a.object_id,
                "reason": a.reason,
            }
            for a in audit
        ],
    }


@dataclass(frozen=True, slots=True)
class KeyBatch:
    """Leads read for ``reindex`` and the lookup keys computed from their values, to be written."""

    lead_ids: list[str]
    pairs: list[tuple[str, str]]  # (lead_id, key_hash)


def _keys_of(
    tx: Tx, row: Record, entities: Mapping[str, EntitySpec], hasher: Hasher, sealer: Sealer
) -> set[str] | None:
    """A stored lead's lookup keys (sensitive values opened when an email or phone field is sensitive);
    None when its entity is no longer configured (its fields' types are unknown)."""
    entity = entities.get(row.entity)
    if entity is None:
        return None
    values = dict(row.data or {})
    if row.sealed and any(entity.fields[n].type.value in KINDS for n in entity.sensitive):
        opened = sealer.ring_sync(row.sealed, tx=tx).open_json(row.sealed, row.id.encode())
        values.update(opened["data"])
    return lead_keys(entity, values, hasher)


def reindex_read(
    tx: Tx,
    entities: Mapping[str, EntitySpec],
    hasher: Hasher,
    sealer: Sealer,
    after: str | None,
    limit: int = REINDEX_BATCH,
) -> KeyBatch:
    """The next ``limit`` unerased leads after ``after`` and their lookup keys computed again (a read
    transaction: the values are opened without holding SQLite's write lock)."""
    ids: list[str] = []
    pairs: list[tuple[str, str]] = []
    for row in tx.lead_pages.leads_after(after, limit):
        ids.append(row.id)
        keys = _keys_of(tx, row, entities, hasher, sealer)
        if keys is not None:
            pairs.extend((row.id, key) for key in keys)
    return KeyBatch(ids, pairs)


def reindex_one(
    tx: Tx, entities: Mapping[str, EntitySpec], hasher: Hasher, sealer: Sealer, lead_id: str
) -> int:
    """One lead's lookup keys computed and written again in this transaction, waiting for its row if
    another transaction holds it (a lead a batch skipped: ``reindex_write``); nothing for an erased one.
    A lead whose entity is gone loses its keys (as in a batch). 1 when written, else 0."""
    row = tx.leads.get_lead(lead_id)
    if row is None or row.erased_at is not None:
        return 0
    keys = _keys_of(tx, row, entities, hasher, sealer) or ()
    written, _ = tx.dedup.replace_lookups([lead_id], [(lead_id, key) for key in keys], wait=True)
    return written


def reindex_write(tx: Tx, batch: KeyBatch) -> tuple[int, list[str]]:
    """A batch's keys written in a write transaction, for the leads not erased meanwhile only (an erasure
    between the read and this write, or in flight during it, wins: ``DedupMarks.replace_lookups``);
    returns how many leads were written and those skipped because another transaction held them
    (``reindex_one`` does them)."""
    return tx.dedup.replace_lookups(batch.lead_ids, batch.pairs)


class LeadPages:
    """The lead search and a lead's history, for the console."""

    def __init__(self, storage: Storage, keys: DedupKeys, privacy: Privacy) -> None:
        self.storage = storage
        self.keys = keys
        self.privacy = privacy

    async def search(self, text: str, *, before: str | None = None, sensitive: bool = True) -> Found:
        """The leads ``text`` finds (a phone read in each region the entities' phone fields use), newest
        first, older than ``before``. ``ValidationFailed`` naming ``q`` when the text reads as an email or
        phone but is not a valid one. ``sensitive`` False (no privacy permission): only leads whose
        non-sensitive fields hold the email or phone."""
        live = await self.privacy.configs.get(self.storage)
        try:
            query = parse_query(text, phone_regions(live.specs.entities.values()))
        except BadQuery as exc:
            raise ValidationFailed([FieldProblem("q", str(exc))]) from None
        keys: list[str] = []
        open_only: tuple[Mapping[str, EntitySpec], Hasher] | None = None
        if query.kind is not None:
            hasher = self.keys.cached or await self.keys.hasher()
            keys = query.keys(hasher)
            if not sensitive:
                open_only = (live.specs.entities, hasher)
        return await self.storage.run_read(lambda tx: find(tx, query, keys, before, open_only=open_only))

    async def lead(self, lead_id: str, *, reveal: bool, actor: str) -> dict[str, Any]:
        """The lead's record (sensitive values masked unless ``reveal``, which is audited) and its
        history; NotFound for an unknown id."""
        record = await asyncio.to_thread(self.privacy.lead_record, lead_id, reveal=reveal, actor=actor)
        rest = await self.storage.run_read(lambda tx: history(tx, lead_id))
        return {"lead": record, **rest}

    def reindex_sync(self, *, batch: int = REINDEX_BATCH) -> int:
        """Every stored lead's lookup keys written again, ``batch`` leads at a time (read and keyed in a
        read transaction, written in a write transaction for those still not erased: an erased lead never
        gets keys back): for leads received before the search existed, and after the dedup key changed
        (``leadrelay dedup rekey``). Returns how many leads had their keys written (not those erased
        meanwhile)."""
        hasher = self.keys.hasher_sync()
        after: str | None = None
        total = 0
        skipped: list[str] = []

        def read(tx: Tx) -> KeyBatch:
            entities = self.privacy.configs.current(tx).specs.entities
            return reindex_read(tx, entities, hasher, self.privacy.sealer, after, batch)

        def write(keys: KeyBatch) -> Callable[[Tx], tuple[int, list[str]]]:
            return lambda tx: reindex_write(tx, keys)

        def one(lead_id: str) -> Callable[[Tx], int]:
            def write_one(tx: Tx) -> int:
                entities = self.privacy.configs.current(tx).specs.entities
                return reindex_one(tx, entities, hasher, self.privacy.sealer, lead_id)

            return write_one

        while True:  # each batch read, then written in a transaction of its own (``reindex_write``)
            keys = self.storage.read(read)
            written, held = self.storage.transaction(write(keys))
            total += written
            skipped.extend(held)
            if len(keys.lead_ids) < batch:
                break
            after = keys.lead_ids[-1]
        for lead_id in skipped:  # held by another transaction when their batch was written
            total += self.storage.transaction(one(lead_id))
        return total
