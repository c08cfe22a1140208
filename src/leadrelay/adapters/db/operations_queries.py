"""Counts for operations (``/metrics``, ``/ready``): the job queue's depth and the age of the oldest job
waiting to be claimed, and the batch backlog. Plain aggregate reads, on the ``ix_jobs_queue`` and
``ix_batches_status_next`` indexes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from leadrelay.adapters.db.tables import batches, deliveries, jobs
from leadrelay.domain.states import BatchStatus, DeliveryStatus, QueueState
from leadrelay.services.ports.dashboard import QueueDepth

__all__ = ["QueueDepth", "batch_backlog", "oldest_due", "queue_depth"]  # QueueDepth: the port's

_OPEN = (QueueState.READY, QueueState.CLAIMED, QueueState.WAITING)


def queue_depth(conn: Connection, now: datetime) -> QueueDepth:
    due = jobs.c.run_at <= now
    ready = jobs.c.queue_state == QueueState.READY
    row = conn.execute(
        select(
            func.count().filter(ready & due),
            func.count().filter(ready & ~due),
            func.count().filter(jobs.c.queue_state == QueueState.CLAIMED),
            func.count().filter(jobs.c.queue_state == QueueState.WAITING),
        ).where(jobs.c.queue_state.in_(_OPEN))  # not "!= done": the index finds the few open jobs
    ).one()
    return QueueDepth(int(row[0]), int(row[1]), int(row[2]), int(row[3]), oldest_due(conn, now))


def oldest_due(conn: Connection, now: datetime) -> datetime | None:
    """The run_at of the oldest job ready and due (read on the queue index)."""
    value = conn.execute(
        select(func.min(jobs.c.run_at)).where(jobs.c.queue_state == QueueState.READY, jobs.c.run_at <= now)
    ).scalar()
    return value if isinstance(value, datetime) else None


_UNSENT = (BatchStatus.READY, BatchStatus.SENDING, BatchStatus.RETRY)


def batch_backlog(conn: Connection) -> tuple[dict[str, int], int]:
    """Batches cut and not yet sent, by status (ready, sending, retry), and the deliveries waiting for a
    batch (cut or not)."""
    by_status = {str(s): 0 for s in _UNSENT}
    for status, count in conn.execute(
        select(batches.c.status, func.count()).where(batches.c.status.in_(_UNSENT)).group_by(batches.c.status)
    ):
        by_status[str(status)] = int(count)
    waiting = conn.execute(
        select(func.count()).where(deliveries.c.status == DeliveryStatus.BATCHED)
    ).scalar_one()
    return by_status, int(waiting)
