"""Leases: how a worker takes rows to work on (distribution jobs, batches), holds them and gives them back.

One mechanism for both, parametrized by a :class:`Lease` (the table, its state column and machine, the
state that means "held", the column saying when a row is due). A row is claimable when it is in a state
from which the held state is reached (``machine.sources(held)``) and due, or held by a lease that ran out:
its owner was lost, and whoever claims it next takes over. Claiming sets the held state, the owner and
``lease_until``; the owner extends the lease while it works and ends it with a new state (finished,
retry, released) only while it still holds it — a sender whose lease ran out records nothing.

PostgreSQL: the claimable rows are selected ``FOR UPDATE SKIP LOCKED``, so many workers claim at once
without waiting on each other. SQLite: the transaction began IMMEDIATE, so claims are serialized by the
write lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Table, and_, bindparam, case, or_, select, update

from leadrelay.adapters.db.tables import batches, deliveries, jobs
from leadrelay.domain.state_machine import Machine
from leadrelay.domain.states import BATCH, QUEUE, BatchStatus, QueueState

__all__ = [
    "BATCH_LEASE",
    "JOB_LEASE",
    "Lease",
    "any_claimable",
    "claim",
    "end",
    "extend",
    "held_by",
]


class Lease:
    """How rows of ``table`` are leased.

    ``state``: the state column, with its ``machine``; ``held``: the state of a leased row; ``due``: the
    column from which a waiting row may be claimed (also the claim order); ``only``: a filter on
    ``bindparam("b_only")`` for a worker dedicated to some jobs; ``on_claim``: more values a claim sets;
    ``touch``: the columns set to the current time when a lease is taken or ends.
    """

    def __init__(
        self,
        table: Table,
        state: Column[Any],
        machine: Machine[Any],
        held: Any,
        due: Column[Any],
        *,
        only: ColumnElement[bool],
        on_claim: Mapping[str, Any] | None = None,
        touch: tuple[str, ...] = (),
    ) -> None:
        self.table = table
        self.state = state
        self.machine = machine
        self.held = held
        self.due = due
        self.waiting = sorted(machine.sources(held) - {held})
        self.only = only
        self.on_claim = dict(on_claim or {})
        self.touch = touch
        c = table.c
        self.claimable_where = or_(
            and_(state.in_(self.waiting), due <= bindparam("b_now")),
            and_(state == held, c.lease_until < bindparam("b_now")),
        )
        self.take_stmt = (
            update(table)
            .where(c.id.in_(bindparam("b_ids", expanding=True)), state.in_(sorted(machine.sources(held))))
            .values(
                {
                    state.name: held,
                    "lease_owner": bindparam("b_owner"),
                    "lease_until": bindparam("b_until"),
                    **self.on_claim,
                    **{name: bindparam("b_now") for name in touch},
                }
            )
        )

    def __repr__(self) -> str:
        return f"Lease({self.table.name})"


JOB_LEASE = Lease(
    jobs,
    jobs.c.queue_state,
    QUEUE,
    QueueState.CLAIMED,
    jobs.c.run_at,
    only=jobs.c.id.in_(bindparam("b_only", expanding=True)),
    # a job whose worker was lost (its lease ran out) counts that; a retry or a failover step does not
    on_claim={
        "claims": case((jobs.c.queue_state == QueueState.CLAIMED, jobs.c.claims + 1), else_=jobs.c.claims)
    },
    touch=("updated_at",),
)
"""Distribution jobs in the queue: ready from ``run_at``, claimed by a worker."""

BATCH_LEASE = Lease(
    batches,
    batches.c.status,
    BATCH,
    BatchStatus.SENDING,
    batches.c.next_attempt_at,
    # a partner test's worker sends only the batches holding its jobs' leads
    only=batches.c.id.in_(
        select(deliveries.c.batch_id).where(deliveries.c.job_id.in_(bindparam("b_only", expanding=True)))
    ),
    # a batch whose sender was lost (its lease ran out) counts that as an attempt
    on_claim={
        "attempts": case(
            (batches.c.status == BatchStatus.SENDING, batches.c.attempts + 1), else_=batches.c.attempts
        )
    },
)
"""Batches (files, digests): ready or a retry due from ``next_attempt_at``, sending under a sender's lease."""


@lru_cache(maxsize=16)
def _claimable(lease: Lease, dialect: str, only: bool) -> Any:
    query = (
        select(lease.table.c.id).where(lease.claimable_where).order_by(lease.due).limit(bindparam("b_limit"))
    )
    if only:
        query = query.where(lease.only)
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return query


def any_claimable(conn: Connection, lease: Lease, now: datetime) -> bool:
    """Whether some row is due to be claimed at ``now`` (a cheap read before claiming in a write
    transaction)."""
    query = select(lease.table.c.id).where(lease.claimable_where).limit(1)
    return conn.execute(query, {"b_now": now}).first() is not None


def _take(
    conn: Connection, lease: Lease, ids: list[str], owner: str, now: datetime, lease_until: datetime
) -> None:
    """Lease the rows ``ids`` (selected claimable in this transaction) to ``owner``."""
    if ids:
        params: dict[str, Any] = {"b_ids": ids, "b_owner": owner, "b_until": lease_until}
        if lease.touch:
            params["b_now"] = now
        conn.execute(lease.take_stmt, params)


def claim(
    conn: Connection,
    lease: Lease,
    owner: str,
    limit: int,
    now: datetime,
    lease_until: datetime,
    only: Iterable[str] | None = None,
) -> list[str]:
    """Claim up to ``limit`` claimable rows, the earliest due first; returns their ids. With ``only``, only
    the rows of those jobs (``lease.only``)."""
    params: dict[str, Any] = {"b_now": now, "b_limit": limit}
    if only is not None:
        params["b_only"] = list(only)
    ids = list(conn.execute(_claimable(lease, conn.dialect.name, only is not None), params).scalars())
    _take(conn, lease, ids, owner, now, lease_until)
    return ids


def held_by(lease: Lease, owner: str) -> ColumnElement[bool]:
    """The rows ``owner`` holds the lease of (still held: not taken over after the lease ran out)."""
    return and_(lease.table.c.lease_owner == owner, lease.state == lease.held)


def extend(conn: Connection, lease: Lease, owner: str, ids: Iterable[str], lease_until: datetime) -> None:
    """Push back the end of ``owner``'s leases on ``ids`` (a heartbeat)."""
    ids = list(ids)
    if ids:
        conn.execute(
            update(lease.table)
            .where(lease.table.c.id.in_(ids), held_by(lease, owner))
            .values(lease_until=lease_until)
        )


def end(
    conn: Connection,
    lease: Lease,
    owner: str,
    ids: Iterable[str],
    to: Any,
    *,
    now: datetime | None = None,
    **values: Any,
) -> int:
    """End ``owner``'s leases on ``ids``: the rows move to state ``to`` (through the machine) with
    ``values`` (and ``now`` in the lease's ``touch`` columns); returns how many were still held by
    ``owner`` (a row taken over meanwhile is not changed: its new owner decides)."""
    ids = list(ids)
    if not ids:
        return 0
    if lease.touch and now is None:
        raise ValueError(f"ending a lease of {lease.table.name} needs the time")
    stmt = (
        update(lease.table)
        .where(lease.table.c.id.in_(ids), held_by(lease, owner))
        .values(
            {
                lease.state.name: lease.machine.check(lease.held, to),
                "lease_owner": None,
                "lease_until": None,
                **{name: now for name in lease.touch},
                **values,
            }
        )
    )
    return int(conn.execute(stmt).rowcount)
