"""Per-partner screening while routing: a partner's suppression lists and its dedup window.

A partner-level suppression list only removes that partner from the lead's candidates. A partner's dedup
says it never receives the same person twice within its window: checked before a cap slot is taken, and
the mark is written with the delivery in the routing transaction (advisory-locked on PostgreSQL, so two
workers routing the same person at once cannot both send). A delivery that finally fails, or a cancel,
gives the mark back like a cap slot: the ``["dedup", lead id]`` hold in its ``cap_windows``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from leadrelay.domain.dedup import DedupKey, find_duplicate, keys_for
from leadrelay.domain.model import EntitySpec, PartnerSpec, ProfileSpec
from leadrelay.domain.states import DeliveryStatus
from leadrelay.domain.suppression import hashes_of_lead
from leadrelay.services.ports import DedupKeys, Record, Tx

DEDUP_HOLD = "dedup"


def suppressed_partners(
    tx: Tx, job: Record, entity: EntitySpec | None, partners: Sequence[PartnerSpec]
) -> dict[str, str]:
    """Partner name → the trace line of why a list removes it, for the partners with lists."""
    with_lists = [p for p in partners if p.suppression]
    if not with_lists or entity is None:
        return {}
    types = {name: spec.type.value for name, spec in entity.fields.items()}
    hashes = set().union(*hashes_of_lead(types, job.lead_values).values())
    if not hashes:
        return {}
    lists = sorted({name for p in with_lists for name in p.suppression})
    hit = {name for name, _ in tx.suppression.listed(lists, hashes)}
    out: dict[str, str] = {}
    for p in with_lists:
        names = sorted(hit & set(p.suppression))
        if names:
            out[p.name] = f"{p.name}: suppressed by list {', '.join(names)} (partner list)"
    return out


SCREENED_FRESH = timedelta(minutes=1)
"""How long intake's screening of a lead holds for its first routing. A lead routed again (a rerun, a
route again after every delivery failed, a redistribution after a cancel or a return: a job with a trace
already) or later than this (retries spread over hours) is looked up again in its entity's and profile's
suppression lists, which may have grown since (a consumer who asked to stop)."""


def listed_again(
    tx: Tx, job: Record, entity: EntitySpec | None, profile: ProfileSpec | None, now: datetime
) -> str | None:
    """The trace line when a lead routed again, or well after its intake, is now on one of its entity's or
    profile's suppression lists, else None (and None at once for a lead routed as it came in)."""
    if entity is None or (not job.trace and now - job.lead_created_at <= SCREENED_FRESH):
        return None
    lists = sorted({*entity.suppression, *(profile.suppression if profile is not None else ())})
    if not lists:
        return None
    types = {name: spec.type.value for name, spec in entity.fields.items()}
    hashes = set().union(*hashes_of_lead(types, job.lead_values).values())
    hit = sorted({name for name, _ in tx.suppression.listed(lists, hashes)}) if hashes else []
    return f"suppressed by list {', '.join(hit)} (checked again at routing)" if hit else None


def partner_keys(tx: Tx, job: Record, partner: PartnerSpec, dedup_keys: DedupKeys | None) -> list[DedupKey]:
    if partner.dedup is None:
        return []
    if dedup_keys is None:
        raise RuntimeError("partner dedup needs the installation's dedup key (ConfigCache.dedup_keys)")
    hasher = dedup_keys.hasher_sync(tx=tx)
    return keys_for(f"partner:{partner.name}", partner.dedup, job.lead_values, hasher)


def duplicate_for(
    tx: Tx, job: Record, partner: PartnerSpec, now: datetime, dedup_keys: DedupKeys | None
) -> str | None:
    """The trace line when the partner already received this person within its window, else None."""
    keys = partner_keys(tx, job, partner, dedup_keys)
    if not keys:
        return None
    pairs = [(k.scope, k.key_hash) for k in keys]
    tx.dedup.lock_keys(pairs)
    found = find_duplicate(keys, tx.dedup.load_marks(pairs), now)
    if found is None:
        return None
    key, mark = found
    return (
        f"{partner.name}: already received this person ({' + '.join(key.fields)}, lead {mark.lead_id}"
        f" on {mark.seen_at:%Y-%m-%d %H:%M} UTC; partner dedup)"
    )


def not_duplicates(
    tx: Tx,
    job: Record,
    partners: Sequence[PartnerSpec],
    now: datetime,
    dedup_keys: DedupKeys | None,
    trace: list[str],
    *,
    left_out: str,
) -> list[str]:
    """The names of ``partners`` that have not received this person within their dedup window; each one
    that has gets its trace line, ending ``(<left_out>)`` (``not pinged``, ``not offered``)."""
    names: list[str] = []
    for partner in partners:
        if partner.dedup is not None and (seen := duplicate_for(tx, job, partner, now, dedup_keys)):
            trace.append(f"{seen} ({left_out})")
            continue
        names.append(partner.name)
    return names


def mark_sent(
    tx: Tx, job: Record, partner: PartnerSpec, now: datetime, dedup_keys: DedupKeys | None
) -> list[list[str]]:
    """Write the partner's marks for this lead; returns the hold to keep with the delivery."""
    keys = partner_keys(tx, job, partner, dedup_keys)
    if not keys:
        return []
    rows = [{"scope": k.scope, "key_hash": k.key_hash, "lead_id": job.lead_id, "seen_at": now} for k in keys]
    tx.dedup.put_marks(rows)
    return [[DEDUP_HOLD, job.lead_id]]


HOLDING = (DeliveryStatus.DELIVERED, DeliveryStatus.HELD, DeliveryStatus.CANCELLED)


def lead_holders(tx: Tx, lead_id: str, *, besides_job: str | None = None) -> set[str]:
    """The partners that have (or, cancelled, had and gave back) the lead from another job than
    ``besides_job``, and those holding it for pick-up in that job: a redistribution, or a rerun of one,
    never sends it to them again."""
    return {
        d.partner
        for d in tx.erasure.lead_deliveries(lead_id, HOLDING)
        if d.job_id != besides_job or d.status == DeliveryStatus.HELD
    }
