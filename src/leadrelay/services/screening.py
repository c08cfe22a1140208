"""Screening at intake: dedup and suppression, decided inside the transaction that writes the leads.

For a batch of valid leads: lock and read the dedup marks of their keys, look their hashes up in the
suppression lists they are checked against, then decide lead by lead, in order, so a later lead of the
batch sees the marks of an earlier one (fifty identical leads at the same instant: one accepted, 49
duplicates). Entity level closes the whole lead (``duplicate`` / ``suppressed``); profile level closes
only that profile's job. Marks are written for what goes on to routing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadrelay.domain.dedup import DedupKey, Hasher, Mark, find_duplicate, keys_for, scope_prefix
from leadrelay.domain.model import EntitySpec, ProfileSpec
from leadrelay.domain.states import JobStatus, LeadStatus
from leadrelay.domain.suppression import hashes_of_lead
from leadrelay.services.ports import Tx


@dataclass(frozen=True, slots=True)
class Screen:
    """What intake knows about one valid lead before it is written."""

    lead_id: str
    entity_keys: tuple[DedupKey, ...]
    entity_lists: tuple[str, ...]
    profiles: Mapping[str, tuple[tuple[DedupKey, ...], tuple[str, ...]]]  # profile -> (keys, lists)
    hashes: frozenset[str]  # the lead's suppression hashes, every kind


@dataclass(slots=True)
class Verdict:
    lead_status: LeadStatus | None = None  # duplicate | suppressed: the whole lead is closed
    duplicate_of: str | None = None
    closed: dict[str, tuple[JobStatus, str]] = field(default_factory=dict)  # profile -> (job status, why)
    marks: list[dict[str, Any]] = field(default_factory=list)  # to write if the lead is inserted
    duplicates_of: set[str] = field(default_factory=set)  # the leads it is a duplicate of (any level)


def build_screen(
    lead_id: str,
    entity: EntitySpec,
    profiles: Sequence[ProfileSpec],
    values: Mapping[str, Any],
    hasher: Hasher | None,
) -> Screen:
    """``hasher``: the installation's ``MarkHasher`` (needed when the entity or a profile dedups)."""
    entity_keys: tuple[DedupKey, ...] = ()
    if entity.dedup is not None:
        prefix = scope_prefix("entity", entity.name, entity.dedup)
        entity_keys = tuple(keys_for(prefix, entity.dedup, values, _need(hasher)))
    per_profile = {
        p.name: (
            tuple(keys_for(f"profile:{p.name}", p.dedup, values, _need(hasher)))
            if p.dedup is not None
            else (),
            p.suppression,
        )
        for p in profiles
    }
    hashes: frozenset[str] = frozenset()
    if entity.suppression or any(p.suppression for p in profiles):
        types = {name: spec.type.value for name, spec in entity.fields.items()}
        hashes = frozenset().union(*hashes_of_lead(types, values).values())
    return Screen(lead_id, entity_keys, entity.suppression, per_profile, hashes)


def _need(hasher: Hasher | None) -> Hasher:
    if hasher is None:
        raise RuntimeError("dedup needs the installation's dedup key (ConfigCache.dedup_keys is not set)")
    return hasher


def screen(tx: Tx, items: Sequence[Screen], now: datetime) -> list[Verdict]:
    keys = {(k.scope, k.key_hash) for s in items for k in _all_keys(s)}
    tx.dedup.lock_keys(keys)
    marks = tx.dedup.load_marks(keys)
    lists = {name for s in items for name in _all_lists(s)}
    hashes = {h for s in items if _all_lists(s) for h in s.hashes}
    listed: dict[str, set[str]] = {}
    if lists and hashes:
        for list_name, value_hash in tx.suppression.listed(sorted(lists), hashes):
            listed.setdefault(value_hash, set()).add(list_name)
    return [_decide(s, marks, listed, now) for s in items]


def _all_keys(s: Screen) -> list[DedupKey]:
    return [*s.entity_keys, *(k for keys, _ in s.profiles.values() for k in keys)]


def _all_lists(s: Screen) -> set[str]:
    return {*s.entity_lists, *(name for _, lists in s.profiles.values() for name in lists)}


def _hits(s: Screen, lists: Sequence[str], listed: Mapping[str, set[str]]) -> list[str]:
    wanted = set(lists)
    return sorted({name for h in s.hashes for name in listed.get(h, ()) if name in wanted})


def _duplicate_reason(key: DedupKey, mark: Mark) -> str:
    return (
        f"duplicate of lead {mark.lead_id} by {' + '.join(key.fields)}"
        f" (received {mark.seen_at:%Y-%m-%d %H:%M} UTC, window {_days(key.window_s)})"
    )


def _days(seconds: float) -> str:
    return f"{seconds / 86_400:g}d" if seconds >= 86_400 else f"{seconds / 3600:g}h"


def _decide(
    s: Screen, marks: dict[tuple[str, str], Mark], listed: Mapping[str, set[str]], now: datetime
) -> Verdict:
    verdict = Verdict()
    if hits := _hits(s, s.entity_lists, listed):
        why = f"suppressed by list {', '.join(hits)}"
        verdict.lead_status = LeadStatus.SUPPRESSED
        verdict.closed = {profile: (JobStatus.SUPPRESSED, why) for profile in s.profiles}
        return verdict
    if found := find_duplicate(s.entity_keys, marks, now, lead_id=s.lead_id):
        key, mark = found
        verdict.lead_status = LeadStatus.DUPLICATE
        verdict.duplicate_of = mark.lead_id
        verdict.duplicates_of.add(mark.lead_id)
        verdict.closed = {
            profile: (JobStatus.DUPLICATE, _duplicate_reason(key, mark)) for profile in s.profiles
        }
        return verdict
    taken = list(s.entity_keys)
    for profile, (keys, lists) in s.profiles.items():
        if hits := _hits(s, lists, listed):
            verdict.closed[profile] = (
                JobStatus.SUPPRESSED,
                f"suppressed by list {', '.join(hits)} (profile {profile})",
            )
        elif found := find_duplicate(keys, marks, now, lead_id=s.lead_id):
            reason = f"{_duplicate_reason(*found)} (profile {profile})"
            verdict.closed[profile] = (JobStatus.DUPLICATE, reason)
            verdict.duplicates_of.add(found[1].lead_id)
        else:
            taken.extend(keys)
    for key in taken:  # later leads of the batch see these at once
        marks[(key.scope, key.key_hash)] = Mark(s.lead_id, now)
        verdict.marks.append(
            {"scope": key.scope, "key_hash": key.key_hash, "lead_id": s.lead_id, "seen_at": now}
        )
    return verdict
