"""Batches (email digests, batch files) in the database: cut them, claim them, read them, send them again.

A lead is in exactly one batch: its delivery waits (``DeliveryStatus.BATCHED``) with no ``batch_id``;
cutting a batch sets ``batch_id`` on the chosen deliveries (only where it is still empty) in the
transaction that creates the batch. On PostgreSQL a partner's cuts are serialized by an advisory lock, on
SQLite by the write lock. A batch's file name is fixed when it is cut, so a retry replaces the same file
and never adds a second one with the same leads. What became of a batch (its attempts, its leads, their
jobs) is recorded by ``batch_outcomes``, whose functions are this module's too.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select, update

from leadrelay.adapters.db import leases
from leadrelay.adapters.db.batch_outcomes import (
    WAITING_FOR_A_BATCH,
    dissolve,
    failed_channels,
    lock_jobs,
    record_failure,
    record_success,
    release_failed,
    unbatch,
    wake_jobs,
    wake_stranded,
)
from leadrelay.adapters.db.dedup_store import lock_keys
from leadrelay.adapters.db.schema_base import UTCDateTime
from leadrelay.adapters.db.tables import batches, deliveries, leads
from leadrelay.domain.batch_format import CutFormat
from leadrelay.domain.batches import Waiting
from leadrelay.domain.files import filename
from leadrelay.domain.model import FileChannel, PartnerSpec
from leadrelay.domain.states import BATCH, BatchStatus, DeliveryStatus
from leadrelay.ids import new_id

__all__ = [
    "any_due",
    "batch",
    "batch_leads",
    "claim",
    "cut",
    "dissolve",
    "failed_channels",
    "insert_batch",
    "lock_jobs",
    "lock_partner",
    "record_failure",
    "record_success",
    "redeliver",
    "release_failed",
    "unbatch",
    "waiting",
    "waiting_channels",
    "wake_jobs",
    "wake_stranded",
]

_NAME_ROOM = 245


def _batch_from(dst: BatchStatus) -> Any:
    return batches.c.status.in_(sorted(BATCH.sources(dst)))


def lock_partner(conn: Connection, partner: str) -> None:
    """Serialize the cutting of one partner's batches (PostgreSQL; SQLite's writer lock does it there)."""
    lock_keys(conn, [("batches", partner)])


def waiting(conn: Connection, partner: str, step: int) -> Waiting | None:
    created = deliveries.c.created_at
    row = conn.execute(
        select(
            func.count(), func.min(created, type_=UTCDateTime), func.max(created, type_=UTCDateTime)
        ).where(deliveries.c.partner == partner, deliveries.c.channel_step == step, WAITING_FOR_A_BATCH)
    ).one()
    return Waiting(row[0], row[1], row[2]) if row[0] else None


def waiting_channels(conn: Connection) -> set[tuple[str, int]]:
    """The (partner, failover step) pairs that have leads waiting for a batch."""
    query = select(deliveries.c.partner, deliveries.c.channel_step).where(WAITING_FOR_A_BATCH).distinct()
    return {(row[0], row[1]) for row in conn.execute(query)}


def insert_batch(
    conn: Connection,
    partner: PartnerSpec,
    spec: FileChannel,
    step: int,
    delivery_ids: Sequence[str],
    trigger: str,
    now: datetime,
    *,
    test: bool = False,
) -> str:
    """Create a batch (ready to send now) holding ``delivery_ids``; returns its id."""
    batch_id = new_id("bat")
    if test:
        lock_partner(conn, partner.name)  # a cut holds it already; a test batch takes it here
    if delivery_ids:
        taken = conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(list(delivery_ids)), deliveries.c.batch_id.is_(None))
            .values(batch_id=batch_id)
        ).rowcount
        if taken != len(delivery_ids):  # the partner lock makes this impossible; never send a short file
            raise RuntimeError(f"batch {batch_id}: {len(delivery_ids) - taken} leads were in another batch")
    _new_batch(conn, batch_id, partner, spec, step, max(1, len(delivery_ids)), trigger, now, test=test)
    return batch_id


def _new_batch(
    conn: Connection,
    batch_id: str,
    partner: PartnerSpec,
    spec: FileChannel,
    step: int,
    count: int,
    trigger: str,
    now: datetime,
    *,
    test: bool = False,
) -> None:
    name = filename(spec.filename, partner=partner.name, count=count, now=now, tz=partner.timezone)
    if test:
        name = f"test-{name}"
    conn.execute(
        batches.insert().values(
            id=batch_id,
            partner=partner.name,
            channel=spec.kind.value,
            channel_step=step,
            status=BATCH.check_initial(BatchStatus.READY),
            trigger=trigger[:200],
            filename=_unique_name(conn, partner.name, name),
            lead_count=count,
            attempts=0,
            next_attempt_at=now,
            is_test=test,
            created_at=now,
            file_format=CutFormat.of(spec).record(),
        )
    )


def _unique_name(conn: Connection, partner: str, name: str) -> str:
    """``name``, or ``name`` with ``-2``, ``-3``… before its extension when an earlier batch of the partner
    has it (two batches cut in the same second must not replace each other's file)."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem = stem[: _NAME_ROOM - len(dot + ext)]  # room for "-NNN" within 255 bytes (names are ASCII)
    name = f"{stem}{dot}{ext}"
    taken = set(
        conn.execute(
            select(batches.c.filename).where(
                batches.c.partner == partner, batches.c.filename.like(f"{stem}%")
            )
        ).scalars()
    )
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}{dot}{ext}"
    return candidate


def cut(
    conn: Connection,
    partner: PartnerSpec,
    spec: FileChannel,
    step: int,
    limit: int,
    trigger: str,
    now: datetime,
) -> str | None:
    """Put the ``limit`` waiting leads of the partner that arrived first into a new batch; None when none
    wait. One statement marks them (the partner's lock is held: nobody else cuts them meanwhile)."""
    batch_id = new_id("bat")
    first = (
        select(deliveries.c.id)
        .join(leads, leads.c.id == deliveries.c.lead_id)
        .where(deliveries.c.partner == partner.name, deliveries.c.channel_step == step, WAITING_FOR_A_BATCH)
        .order_by(leads.c.created_at, leads.c.id)  # first come, first out: by the lead's arrival
        .limit(limit)
    )
    taken = conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(first), deliveries.c.batch_id.is_(None))
        .values(batch_id=batch_id)
    ).rowcount
    if not taken:
        return None
    _new_batch(conn, batch_id, partner, spec, step, taken, trigger, now)
    return batch_id


def any_due(conn: Connection, now: datetime) -> bool:
    """Whether some batch is due to be sent (a cheap read before claiming in a write transaction)."""
    return leases.any_claimable(conn, leases.BATCH_LEASE, now)


def claim(
    conn: Connection,
    owner: str,
    limit: int,
    now: datetime,
    lease_until: datetime,
    only_jobs: Collection[str] | None = None,
) -> list[Row[Any]]:
    """Claim batches due to be sent (ready, a retry due, or a sender's lease that ran out: that counts as
    an attempt), with the jobs' lease mechanism (``leases``); with ``only_jobs``, only the batches holding
    those jobs' leads (``partners test``)."""
    ids = leases.claim(conn, leases.BATCH_LEASE, owner, limit, now, lease_until, only_jobs)
    if not ids:
        return []
    return list(conn.execute(select(batches).where(batches.c.id.in_(ids)).order_by(batches.c.created_at)))


def batch(conn: Connection, batch_id: str) -> Row[Any] | None:
    return conn.execute(select(batches).where(batches.c.id == batch_id)).first()


def batch_leads(conn: Connection, batch_id: str, *, cancelled_too: bool = False) -> list[Row[Any]]:
    """The leads of a batch, oldest first, shaped like job rows (``lead_id``, ``lead_values``,
    ``lead_sealed``) so that ``opened_leads.open_jobs`` opens their sensitive values. A lead taken out of the
    batch before it was sent (erased, its job failed) is not in it; a cancelled one is not sent again."""
    return list(
        conn.execute(
            select(
                deliveries.c.id.label("delivery_id"),
                deliveries.c.status.label("delivery_status"),
                leads.c.id.label("lead_id"),
                leads.c.data.label("lead_values"),
                leads.c.sealed.label("lead_sealed"),
                leads.c.source,
                leads.c.created_at,
                leads.c.is_test,
            )
            .join(leads, leads.c.id == deliveries.c.lead_id)
            .where(
                deliveries.c.batch_id == batch_id,
                deliveries.c.status.in_(
                    (DeliveryStatus.BATCHED, DeliveryStatus.DELIVERED)
                    + ((DeliveryStatus.CANCELLED,) if cancelled_too else ())
                ),
            )
            .order_by(leads.c.created_at, leads.c.id)
        )
    )


def redeliver(conn: Connection, batch_id: str, now: datetime) -> Row[Any] | None:
    """Send a batch again now (a sent one to a partner who lost it, a failed one after a fix); one being
    sent or about to be is left as it is."""
    row = batch(conn, batch_id)
    if row is None or not BATCH.allowed(row.status, BatchStatus.READY):
        return row
    conn.execute(
        update(batches)
        .where(batches.c.id == batch_id, _batch_from(BatchStatus.READY))
        .values(status=BatchStatus.READY, attempts=0, next_attempt_at=now, lease_owner=None, lease_until=None)
    )
    return batch(conn, batch_id)
