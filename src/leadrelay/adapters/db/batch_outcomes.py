"""What became of a batch (email digest, batch file) and of its leads, in the database: its attempts (rows of
the one attempts table), the end of its sender's lease (sent, retry, failed), the leads delivered or sent
the ordinary way again, and their parked jobs woken to be settled.

A sender records an outcome only while it still holds the batch's lease (``leases.end``): one whose
lease ran out while it sent records nothing, and the sender that took the batch over decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, exists, func, select, update

from leadrelay.adapters.db import leases, store
from leadrelay.adapters.db.tables import attempts, batches, deliveries, jobs, offers
from leadrelay.domain.attempts import Outcome
from leadrelay.domain.ledger import PriceBasis
from leadrelay.domain.states import DELIVERY, QUEUE, BatchStatus, DeliveryStatus, OfferStatus, QueueState
from leadrelay.ids import new_id

__all__ = [
    "BATCHED",
    "WAITING_FOR_A_BATCH",
    "dissolve",
    "failed_channels",
    "lock_jobs",
    "record_failure",
    "record_success",
    "release_failed",
    "unbatch",
    "wake_jobs",
    "wake_stranded",
]

BATCHED = deliveries.c.status == DeliveryStatus.BATCHED
"""Deliveries of a batched channel, waiting for a batch or in one not sent yet."""
WAITING_FOR_A_BATCH = and_(BATCHED, deliveries.c.batch_id.is_(None))
"""Deliveries waiting for their partner's next batch (in none yet)."""


def _delivery_from(dst: DeliveryStatus) -> Any:
    """Only deliveries that may move to ``dst`` (the transitions of ``domain.states``)."""
    return deliveries.c.status.in_(sorted(DELIVERY.sources(dst)))


def unbatch(conn: Connection, partner: str, step: int, now: datetime) -> int:
    """Leads that wait for a batch of a channel that is no longer batched go the ordinary way: their
    deliveries are pending again and their jobs go back to the queue (which sends them, or fails them when
    the partner is gone). Returns how many."""
    where = (deliveries.c.partner == partner, deliveries.c.channel_step == step, WAITING_FOR_A_BATCH)
    job_ids = list(conn.execute(select(deliveries.c.job_id).where(*where)).scalars())
    if job_ids:
        lock_jobs(conn, job_ids)
        pending = DeliveryStatus.PENDING
        conn.execute(
            update(deliveries)
            .where(*where, _delivery_from(pending))
            .values(status=pending, next_attempt_at=now)
        )
        wake_jobs(conn, job_ids, now)
    return len(job_ids)


def failed_channels(conn: Connection) -> set[tuple[str, int]]:
    """The (partner, failover step) pairs of failed batches that still hold leads not sent."""
    holding = exists().where(deliveries.c.batch_id == batches.c.id, BATCHED)
    query = (
        select(batches.c.partner, batches.c.channel_step)
        .where(batches.c.status == BatchStatus.FAILED, holding)
        .distinct()
    )
    return {(row[0], row[1]) for row in conn.execute(query)}


def release_failed(conn: Connection, partner: str, step: int, reason: str, now: datetime) -> int:
    """The failed batches of a channel that is no longer batched let their unsent leads go the ordinary
    way, as a cut batch's do when it is claimed (``dissolve``): pending again, out of the batch, their jobs
    back in the queue. Each such batch stays failed, its reason saying where its leads went. Returns how
    many leads."""
    failed = (
        select(batches.c.id)
        .where(
            batches.c.partner == partner,
            batches.c.channel_step == step,
            batches.c.status == BatchStatus.FAILED,
        )
        .scalar_subquery()
    )
    where = (deliveries.c.batch_id.in_(failed), BATCHED)
    held = list(conn.execute(select(deliveries.c.job_id, deliveries.c.batch_id).where(*where)))
    if not held:
        return 0
    job_ids = [d.job_id for d in held]
    lock_jobs(conn, job_ids)
    pending = DeliveryStatus.PENDING
    conn.execute(
        update(deliveries)
        .where(*where, _delivery_from(pending))
        .values(status=pending, batch_id=None, next_attempt_at=now)
    )
    conn.execute(
        update(batches)
        .where(batches.c.id.in_(sorted({d.batch_id for d in held})))
        .values(reason=func.coalesce(batches.c.reason + "; ", "") + reason)
    )
    wake_jobs(conn, job_ids, now)
    return len(job_ids)


def dissolve(conn: Connection, row: Row[Any], owner: str, reason: str, now: datetime) -> int:
    """A cut batch whose partner no longer takes batches there (removed, or another channel now): the
    batch fails and its unsent leads go the ordinary way (pending again, their jobs back in the queue)."""
    mine = _finish(conn, row, owner, status=BatchStatus.FAILED, reason=reason, next_attempt_at=None)
    if not mine:
        return 0
    where = (deliveries.c.batch_id == row.id, BATCHED)
    job_ids = list(conn.execute(select(deliveries.c.job_id).where(*where)).scalars())
    if job_ids:
        lock_jobs(conn, job_ids)
        pending = DeliveryStatus.PENDING
        conn.execute(
            update(deliveries)
            .where(*where, _delivery_from(pending))
            .values(status=pending, batch_id=None, next_attempt_at=now)
        )
        wake_jobs(conn, job_ids, now)
    return len(job_ids)


def _attempt(
    conn: Connection, batch_id: str, number: int, started: datetime, ms: float, **values: Any
) -> None:
    """Record an attempt to send the batch, in the one attempts table (a lead's attempts are there too)."""
    store.insert_attempt(
        conn,
        {
            "id": new_id("att"),
            "batch_id": batch_id,
            "number": number,
            "started_at": started,
            "duration_ms": ms,
            **values,
        },
    )


def _attempt_number(conn: Connection, batch_id: str) -> int:
    count = conn.execute(select(func.count()).where(attempts.c.batch_id == batch_id)).scalar_one()
    return int(count) + 1


def record_success(
    conn: Connection,
    row: Row[Any],
    owner: str,
    *,
    location: str,
    size: int,
    started: datetime,
    duration_ms: float,
    price: float | None,
    now: datetime,
) -> list[str]:
    """The batch was delivered: the batch is sent, its waiting deliveries are delivered and their jobs go
    back to the queue to be settled. Returns the deliveries delivered now (none for a redelivery)."""
    number = _attempt_number(conn, row.id)
    _attempt(
        conn, row.id, number, started, duration_ms, outcome=Outcome.SUCCESS, location=location, bytes=size
    )
    mine = _finish(
        conn,
        row,
        owner,
        status=BatchStatus.SENT,
        attempts=row.attempts + 1,
        sent_at=now,
        location=location,
        bytes=size,
        reason=None,
        next_attempt_at=None,
    )
    if not mine:  # our lease ran out and another sender took the batch: it records the outcome
        return []
    waiting = select(deliveries.c.id, deliveries.c.job_id, deliveries.c.lead_id).where(
        deliveries.c.batch_id == row.id, BATCHED
    )
    fresh = list(conn.execute(waiting))
    if not fresh:
        return []
    lock_jobs(conn, [d.job_id for d in fresh])
    # read again under the jobs' locks: a delivery failed meanwhile (an erasure, a rerun) is not delivered,
    # nor returned as delivered (its sale would be billed, its source told)
    fresh = list(conn.execute(waiting)) if conn.dialect.name == "postgresql" else fresh
    if not fresh:
        return []
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_([d.id for d in fresh]), _delivery_from(DeliveryStatus.DELIVERED))
        .values(
            status=DeliveryStatus.DELIVERED,
            attempts=deliveries.c.attempts + 1,
            delivered_at=now,
            price=func.coalesce(deliveries.c.price, price),  # a price fixed before (a bid, an offer) stays
            price_basis=func.coalesce(deliveries.c.price_basis, PriceBasis.LIST.value if price else None),
            reference=row.filename[:200],
            reason=None,
        )
    )
    wake_jobs(conn, [d.job_id for d in fresh], now)
    return [d.id for d in fresh]


def _finish(conn: Connection, row: Row[Any], owner: str, *, status: BatchStatus, **values: Any) -> bool:
    """End a send we hold the lease of (the batch still ``sending`` and ours); False when another sender
    took it meanwhile (our lease ran out): then it records the outcome, not us."""
    return bool(leases.end(conn, leases.BATCH_LEASE, owner, [row.id], status, **values))


def lock_jobs(conn: Connection, job_ids: Sequence[str]) -> None:
    """Hold these jobs' rows (PostgreSQL) before changing the deliveries they are settled on, in the order
    workers lock them: a worker finishing one of them waits, then sees the change (without this it could
    read the deliveries before our commit and park its job after our wake-up, for ever)."""
    if job_ids and conn.dialect.name == "postgresql":
        conn.execute(
            select(jobs.c.id).where(jobs.c.id.in_(sorted(set(job_ids)))).order_by(jobs.c.id).with_for_update()
        )


def wake_jobs(conn: Connection, job_ids: Sequence[str], now: datetime) -> None:
    """Jobs parked while their deliveries waited for a batch go back to the queue to be settled."""
    if job_ids:
        conn.execute(
            update(jobs)
            .where(jobs.c.id.in_(list(set(job_ids))), jobs.c.queue_state == QueueState.WAITING)
            .values(queue_state=QUEUE.check(QueueState.WAITING, QueueState.READY), run_at=now, updated_at=now)
        )


def wake_stranded(conn: Connection, now: datetime, limit: int = 1000) -> int:
    """A safety net: parked jobs none of whose deliveries waits for a batch any more go back to the queue
    (not a job parked for the consumer's choice: its open offers keep it parked until one is selected or
    they expire)."""
    batched = select(deliveries.c.id).where(deliveries.c.job_id == jobs.c.id, BATCHED)
    offered = select(offers.c.id).where(offers.c.job_id == jobs.c.id, offers.c.status == OfferStatus.OPEN)
    ids = list(
        conn.execute(
            select(jobs.c.id)
            .where(jobs.c.queue_state == QueueState.WAITING, ~batched.exists(), ~offered.exists())
            .limit(limit)
        ).scalars()
    )
    wake_jobs(conn, ids, now)
    return len(ids)


def record_failure(
    conn: Connection,
    row: Row[Any],
    owner: str,
    *,
    reason: str,
    retry_at: datetime | None,
    started: datetime,
    duration_ms: float,
    now: datetime,
) -> None:
    """An attempt failed: try again at ``retry_at``, or give up (None) until an operator redelivers."""
    number = _attempt_number(conn, row.id)
    _attempt(conn, row.id, number, started, duration_ms, outcome=Outcome.ERROR, reason=reason)
    mine = _finish(
        conn,
        row,
        owner,
        status=BatchStatus.RETRY if retry_at is not None else BatchStatus.FAILED,
        attempts=row.attempts + 1,
        reason=reason,
        next_attempt_at=retry_at,
    )
    if mine and retry_at is None:
        why = f"batch {row.id} not delivered: {reason}"[:2000]
        waiting = deliveries.c.batch_id == row.id, BATCHED
        if not row.is_test:  # the leads stay in the batch, the partner's, until it is redelivered
            conn.execute(update(deliveries).where(*waiting).values(reason=why))
            return
        # a test delivery reports its failure now: the test job is settled as failed
        job_ids = list(conn.execute(select(deliveries.c.job_id).where(*waiting)).scalars())
        lock_jobs(conn, job_ids)
        failed = DeliveryStatus.FAILED
        conn.execute(
            update(deliveries).where(*waiting, _delivery_from(failed)).values(status=failed, reason=why)
        )
        wake_jobs(conn, job_ids, now)
