"""SQL for leads, distribution jobs, deliveries and attempts (SQLAlchemy Core). Caps and rotations are in
``cap_store``.

Every function takes an open transaction (``Connection``) and does one small thing; the services decide
what goes into one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from leadrelay.adapters.db import leases
from leadrelay.adapters.db.row_writer import RowWriter
from leadrelay.adapters.db.tables import attempts, bids, deliveries, jobs, leads, offers, supplier_pings
from leadrelay.domain.attempts import Outcome
from leadrelay.domain.derived_states import lead_status
from leadrelay.domain.states import (
    JOB_OPEN,
    LEAD,
    DeliveryStatus,
    JobKind,
    JobStatus,
    LeadStatus,
    OfferStatus,
    QueueState,
)


def _insert(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


# Statements on the hot path are built once: building one per call (and computing its cache key) costs
# more than SQLite takes to execute it.
LEADS = RowWriter(leads)
JOBS = RowWriter(jobs)
DELIVERIES = RowWriter(deliveries)
ATTEMPTS = RowWriter(attempts)
BIDS = RowWriter(bids)
OFFERS = RowWriter(offers)


@lru_cache(maxsize=8)
def _prepared(dialect: str, name: str) -> Any:
    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
    if name == "lead_keyed":
        return (
            ins(leads)
            .on_conflict_do_nothing(index_elements=["source", "idempotency_key"])
            .returning(leads.c.id)
        )
    raise KeyError(name)


# ---------------------------------------------------------------- leads and jobs at intake


def insert_leads(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert leads; a repeated (source, idempotency key) is skipped. Returns the ids inserted."""
    if not rows:
        return set()
    plain = [r for r in rows if r["idempotency_key"] is None]
    LEADS.write(conn, plain)  # no key, no possible conflict: one executemany
    inserted = {r["id"] for r in plain}
    stmt = _prepared(conn.dialect.name, "lead_keyed")
    for row in rows:  # keyed rows one by one: RETURNING with executemany is not portable
        if row["idempotency_key"] is not None:
            got = conn.execute(stmt, row).scalar()
            if got is not None:
                inserted.add(got)
    return inserted


def insert_jobs(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    JOBS.write(conn, rows)


def lead_by_idempotency_key(conn: Connection, source: str, key: str) -> Row[Any] | None:
    return conn.execute(select(leads).where(leads.c.source == source, leads.c.idempotency_key == key)).first()


def keep_answer(conn: Connection, lead_id: str, code: int, body: Mapping[str, Any]) -> None:
    """Store a keyed lead's first answer, once (the first writer wins)."""
    conn.execute(
        update(leads)
        .where(leads.c.id == lead_id, leads.c.answer_code.is_(None))
        .values(answer_code=code, answer=dict(body))
    )


_LEAD = select(leads).where(leads.c.id == bindparam("lead_id"))


def get_lead(conn: Connection, lead_id: str) -> Row[Any] | None:
    return conn.execute(_LEAD, {"lead_id": lead_id}).first()


def refresh_lead_status(conn: Connection, lead_id: str, now: datetime) -> LeadStatus:
    """Set the lead's status from its jobs (``domain.derived_states.lead_status``); returns it."""
    return refresh_lead_statuses(conn, [lead_id], now)[lead_id]


_SET_LEAD_STATUS = (
    update(leads)
    .where(leads.c.id == bindparam("b_lead_id"), leads.c.status != bindparam("b_status"))
    .values(status=bindparam("b_status"), updated_at=bindparam("b_now"))
)


# ---------------------------------------------------------------- the queue: claim, heartbeat, release


def claim_jobs(
    conn: Connection,
    owner: str,
    limit: int,
    now: datetime,
    lease_until: datetime,
    only: Iterable[str] | None = None,
) -> list[str]:
    """Claim up to ``limit`` runnable jobs (ready and due, or claimed with an expired lease): the one
    lease mechanism of ``leases`` (FOR UPDATE SKIP LOCKED on PostgreSQL, the write lock on SQLite)."""
    return leases.claim(conn, leases.JOB_LEASE, owner, limit, now, lease_until, only)


def extend_leases(conn: Connection, owner: str, job_ids: Iterable[str], lease_until: datetime) -> None:
    leases.extend(conn, leases.JOB_LEASE, owner, job_ids, lease_until)


def release_jobs(conn: Connection, owner: str, job_ids: Iterable[str], now: datetime) -> int:
    """Give claimed jobs back to the queue (shutdown): another worker picks them up at once."""
    return leases.end(conn, leases.JOB_LEASE, owner, job_ids, QueueState.READY, now=now, run_at=now)


def load_jobs(conn: Connection, job_ids: Sequence[str], *, lock: bool = False) -> list[Row[Any]]:
    """Jobs with their lead's values. ``lock``: on PostgreSQL, hold the rows until commit, so a worker
    whose lease just ran out cannot record an outcome while another claims the job (SQLite's write lock
    already serializes this)."""
    query = _LOAD_JOBS_LOCKED if lock and conn.dialect.name == "postgresql" else _LOAD_JOBS
    return list(conn.execute(query, {"b_ids": list(job_ids)}))


_LOAD_JOBS = (
    select(
        jobs,
        leads.c.data.label("lead_values"),
        leads.c.sealed.label("lead_sealed"),
        leads.c.erased_at.label("lead_erased_at"),
        leads.c.created_at.label("lead_created_at"),
        leads.c.entity,
        leads.c.is_test,
        leads.c.source,
    )
    .join(leads, leads.c.id == jobs.c.lead_id)
    .where(jobs.c.id.in_(bindparam("b_ids", expanding=True)))
    .order_by(jobs.c.id)  # one lock order for everybody
)
_LOAD_JOBS_LOCKED = _LOAD_JOBS.with_for_update(of=jobs)


def owns(conn: Connection, job_id: str, owner: str) -> bool:
    got = conn.execute(select(jobs.c.lease_owner, jobs.c.queue_state).where(jobs.c.id == job_id)).first()
    return got is not None and got.lease_owner == owner and got.queue_state == QueueState.CLAIMED


def update_job(conn: Connection, job_id: str, **values: Any) -> None:
    JOBS.update(conn, {job_id: values})


# ---------------------------------------------------------------- deliveries and attempts


def insert_delivery(conn: Connection, row: Mapping[str, Any]) -> None:
    DELIVERIES.write(conn, [row])


_JOB_DELIVERIES = (
    select(deliveries).where(deliveries.c.job_id == bindparam("job_id")).order_by(deliveries.c.id)
)


_JOB_DELIVERIES_LOCKED = _JOB_DELIVERIES.with_for_update()


def job_deliveries(conn: Connection, job_id: str, *, lock: bool = False) -> list[Row[Any]]:
    return list(conn.execute(_JOB_DELIVERIES_LOCKED if lock else _JOB_DELIVERIES, {"job_id": job_id}))


def update_delivery(conn: Connection, delivery_id: str, **values: Any) -> None:
    DELIVERIES.update(conn, {delivery_id: values})


def insert_attempt(conn: Connection, row: Mapping[str, Any]) -> None:
    ATTEMPTS.write(conn, [row])


def open_resends(conn: Connection, lead_id: str, partners: Sequence[str]) -> list[str]:
    """The resend jobs of ``lead_id`` to any of ``partners`` still on their way (whichever job they resend):
    open, or held for the partner's pick-up (the partner has it)."""
    c = jobs.c
    found = select(c.id).where(c.lead_id == lead_id, c.kind == JobKind.RESEND, c.target_partner.in_(partners))
    on_its_way = c.status.in_([*JOB_OPEN, JobStatus.HELD])
    return [str(i) for i in conn.execute(found.where(on_its_way).order_by(c.id)).scalars()]


def job_had_errors(conn: Connection, job_id: str) -> bool:
    """Did a delivery of this job end in a transport or server error (not a refusal)? Then the job
    is ``failed`` (worth a rerun) rather than ``unsold``."""
    last_error = (
        select(attempts.c.id)
        .join(deliveries, deliveries.c.id == attempts.c.delivery_id)
        .where(
            attempts.c.job_id == job_id,
            deliveries.c.status == DeliveryStatus.FAILED,
            attempts.c.outcome == Outcome.ERROR,
            attempts.c.number == deliveries.c.attempts,
        )
        .limit(1)
    )
    return conn.execute(last_error).first() is not None


def count_rows(conn: Connection, table: Any, *where: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


_STATUSES_OF_LEADS = (
    select(leads.c.id, leads.c.status, jobs.c.status.label("job_status"))
    .select_from(leads.outerjoin(jobs, jobs.c.lead_id == leads.c.id))
    .where(leads.c.id.in_(bindparam("b_ids", expanding=True)))
)


def refresh_lead_statuses(conn: Connection, lead_ids: Sequence[str], now: datetime) -> dict[str, LeadStatus]:
    """Set each lead's status from its jobs (``domain.derived_states.lead_status``), through the lead's
    transitions (a status set at intake, such as rejected, never changes); returns them."""
    current: dict[str, str] = {}
    by_lead: dict[str, set[str]] = {}
    for row in conn.execute(_STATUSES_OF_LEADS, {"b_ids": list(lead_ids)}):
        current[row.id] = row.status
        got = by_lead.setdefault(row.id, set())
        if row.job_status is not None:
            got.add(row.job_status)
    statuses = {lead_id: lead_status(jobs_) for lead_id, jobs_ in by_lead.items()}
    changed = [
        {"b_lead_id": lead_id, "b_status": LEAD.check(current[lead_id], status), "b_now": now}
        for lead_id, status in statuses.items()
        if status != current[lead_id]
    ]
    if changed:
        conn.execute(_SET_LEAD_STATUS, changed)
    return statuses


_DELIVERIES_OF = (
    select(deliveries)
    .where(deliveries.c.job_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(deliveries.c.id)
)


def deliveries_of(conn: Connection, job_ids: Sequence[str]) -> dict[str, list[Row[Any]]]:
    out: dict[str, list[Row[Any]]] = {job_id: [] for job_id in job_ids}
    for row in conn.execute(_DELIVERIES_OF, {"b_ids": list(job_ids)}):
        out[row.job_id].append(row)
    return out


# ---------------------------------------------------------------- auction bids


def insert_bids(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        BIDS.write(conn, rows)


_BIDS_OF = select(bids).where(bids.c.job_id == bindparam("job_id")).order_by(bids.c.id)
_CURRENT_BIDS_OF = _BIDS_OF.where(bids.c.superseded.is_(False))


def bids_of(conn: Connection, job_id: str, *, history: bool = False) -> list[Row[Any]]:
    """A job's bids of its current auction (``history``: every auction's), in the order they were stored
    (each auction's in the order of its partners)."""
    return list(conn.execute(_BIDS_OF if history else _CURRENT_BIDS_OF, {"job_id": job_id}))


def supersede_bids(conn: Connection, job_id: str) -> None:
    """A rerun auctions the lead afresh: the job's bids so far stay in its history only."""
    conn.execute(update(bids).where(bids.c.job_id == job_id).values(superseded=True))


def update_bid(conn: Connection, bid_id: str, **values: Any) -> None:
    BIDS.update(conn, {bid_id: values})


_SP = supplier_pings.c
_INSERT_SUPPLIER_PING = supplier_pings.insert()
_SUPPLIER_PING = select(supplier_pings).where(_SP.id == bindparam("ping_id"))
# of concurrent uses of a token, the database lets one through (PostgreSQL re-checks ``used_at`` after
# waiting for the other's row lock; SQLite has one writer)
_USE_SUPPLIER_PING = (
    update(supplier_pings)
    .where(_SP.id == bindparam("ping_id"), _SP.used_at.is_(None), _SP.expires_at > bindparam("b_now"))
    .values(used_at=bindparam("b_now"), lead_id=bindparam("b_lead_id"))
)


def insert_supplier_ping(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(_INSERT_SUPPLIER_PING, [dict(row)])


def supplier_ping(conn: Connection, ping_id: str) -> Row[Any] | None:
    return conn.execute(_SUPPLIER_PING, {"ping_id": ping_id}).first()


def use_supplier_ping(conn: Connection, ping_id: str, lead_id: str, now: datetime) -> bool:
    """One conditional UPDATE: whether this use took the token (unused and unexpired until now)."""
    done = conn.execute(_USE_SUPPLIER_PING, {"ping_id": ping_id, "b_now": now, "b_lead_id": lead_id})
    return done.rowcount == 1


def revoke_supplier_pings(conn: Connection, source: str, now: datetime) -> int:
    revoked = update(supplier_pings).where(_SP.source == source, _SP.used_at.is_(None)).values(used_at=now)
    return int(conn.execute(revoked).rowcount)


# ---------------------------------------------------------------- user-choice offers


def insert_offers(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        OFFERS.write(conn, rows)


_OFFERS_OF = (
    select(offers).where(offers.c.job_id == bindparam("job_id")).order_by(offers.c.created_at, offers.c.place)
)
_CURRENT_OFFERS_OF = _OFFERS_OF.where(offers.c.superseded.is_(False))
_LEAD_OFFERS = (
    select(offers).where(offers.c.lead_id == bindparam("lead_id")).order_by(offers.c.job_id, offers.c.place)
)
_OFFER = select(offers).where(offers.c.id == bindparam("offer_id"))


def offers_of(conn: Connection, job_id: str, *, history: bool = False) -> list[Row[Any]]:
    """A job's offers, in the target's order: those of its last routing, or (``history``) every round's."""
    return list(conn.execute(_OFFERS_OF if history else _CURRENT_OFFERS_OF, {"job_id": job_id}))


def supersede_offers(conn: Connection, job_id: str) -> None:
    """A rerun offers afresh: the job's offers so far stay in its history only."""
    conn.execute(update(offers).where(offers.c.job_id == job_id).values(superseded=True))


def lead_offers(conn: Connection, lead_id: str) -> list[Row[Any]]:
    """Every offer made for a lead, job by job, each job's in the target's order."""
    return list(conn.execute(_LEAD_OFFERS, {"lead_id": lead_id}))


def get_offer(conn: Connection, offer_id: str) -> Row[Any] | None:
    return conn.execute(_OFFER, {"offer_id": offer_id}).first()


def update_offer(conn: Connection, offer_id: str, **values: Any) -> None:
    OFFERS.update(conn, {offer_id: values})


def jobs_with_expired_offers(conn: Connection, now: datetime, limit: int) -> list[str]:
    """The jobs (at most ``limit``, oldest offer first) with an open offer whose time has run out."""
    query = (
        select(offers.c.job_id, func.min(offers.c.expires_at).label("first"))
        .where(offers.c.status == OfferStatus.OPEN, offers.c.expires_at <= now)
        .group_by(offers.c.job_id)
        .order_by("first", offers.c.job_id)
        .limit(limit)
    )
    return [str(r.job_id) for r in conn.execute(query)]


_ANY_EXPIRED_OFFER = (
    select(offers.c.id)
    .where(offers.c.status == OfferStatus.OPEN, offers.c.expires_at <= bindparam("b_now"))
    .limit(1)
)


def any_expired_offer(conn: Connection, now: datetime) -> bool:
    """Whether an open offer is past its time: one row of ``ix_offers_status_expires``, not the sorted
    list of every such job (``jobs_with_expired_offers``)."""
    return conn.execute(_ANY_EXPIRED_OFFER, {"b_now": now}).first() is not None
