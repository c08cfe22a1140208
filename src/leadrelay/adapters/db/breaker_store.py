"""SQL for partner circuit breakers (SQLAlchemy Core): the routing read (partners checked out and breakers
not closed, in one statement), and conditional moves (a breaker changes only from the states expected, so
two workers never both open it or both send the trial).

Every function takes an open transaction (``Connection``), as in ``store``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, and_, literal, null, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import ReturningInsert, ReturningUpdate

from leadrelay.adapters.db.tables import attempts, bids, deliveries, partner_availability, partner_breakers
from leadrelay.domain.health import BreakerState

_B = partner_breakers
_A = partner_availability
_CLOSED = BreakerState.CLOSED.value
# breakers first: the result's column types are the first SELECT's (datetimes read back as datetimes)
_HELD_BACK = union_all(
    select(_B.c.partner, _B.c.state, _B.c.opened_at, _B.c.retry_at, _B.c.reason, _B.c.changed_at).where(
        _B.c.state != _CLOSED
    ),
    select(_A.c.partner, literal("unavailable"), null(), null(), null(), null()).where(
        _A.c.available.is_(False)
    ),
)


def _row(r: Row[Any]) -> dict[str, Any]:
    return {
        "state": r.state,
        "opened_at": r.opened_at,
        "retry_at": r.retry_at,
        "reason": r.reason,
        "changed_at": r.changed_at,
    }


def unavailable_and_breakers(conn: Connection) -> tuple[frozenset[str], dict[str, dict[str, Any]]]:
    """The partners checked out, and every breaker not closed (one small read per routing batch)."""
    away: set[str] = set()
    breakers: dict[str, dict[str, Any]] = {}
    for r in conn.execute(_HELD_BACK):
        if r.state == "unavailable":
            away.add(r.partner)
        else:
            breakers[r.partner] = _row(r)
    return frozenset(away), breakers


def breakers(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every stored breaker (closed ones too): name → {state, opened_at, retry_at, reason, changed_at}."""
    return {r.partner: _row(r) for r in conn.execute(select(_B).order_by(_B.c.partner))}


def move_breaker(
    conn: Connection,
    partner: str,
    values: dict[str, Any],
    expect: Collection[str],
    due: datetime | None = None,
) -> bool:
    """Set the partner's breaker to ``values`` (state, opened_at, retry_at, reason, changed_at) if its
    state is one of ``expect`` (no row counts as closed) and, with ``due``, its ``retry_at`` is at or
    before it; True when it moved."""
    condition: ColumnElement[bool] = _B.c.state.in_(list(expect))
    if due is not None:
        condition = and_(condition, _B.c.retry_at <= due)
    stmt: ReturningInsert[Any] | ReturningUpdate[Any]
    if _CLOSED in expect:
        ins = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = (
            ins(_B)
            .values(partner=partner, **values)
            .on_conflict_do_update(index_elements=["partner"], set_=values, where=condition)
            .returning(_B.c.partner)
        )
    else:
        stmt = update(_B).where(_B.c.partner == partner, condition).values(**values).returning(_B.c.partner)
    return conn.execute(stmt).first() is not None


def post_observations(
    conn: Connection, since: datetime, partner: str | None = None, limit: int = 50_000
) -> list[tuple[str, datetime, float, str, str | None]]:
    """The delivery attempts started at or after ``since`` (of one partner, or all), newest first and at
    most ``limit``: (partner, started_at, duration_ms, outcome, reason)."""
    a, d = attempts, deliveries
    stmt = (
        select(d.c.partner, a.c.started_at, a.c.duration_ms, a.c.outcome, a.c.reason)
        .select_from(a.join(d, a.c.delivery_id == d.c.id))
        .where(a.c.started_at >= since)
        .order_by(a.c.started_at.desc())
        .limit(limit)
    )
    if partner is not None:
        stmt = stmt.where(d.c.partner == partner)
    return [(r[0], r[1], float(r[2]), r[3], r[4]) for r in conn.execute(stmt)]


def ping_observations(
    conn: Connection, since: datetime, partner: str | None = None, limit: int = 50_000
) -> list[tuple[str, datetime, float, str]]:
    """The pings answered (or timed out) at or after ``since`` (of one partner, or all), newest first and at
    most ``limit``: (partner, created_at, duration_ms, status). Post-only partners' offers are not pings."""
    b = bids
    stmt = (
        select(b.c.partner, b.c.created_at, b.c.duration_ms, b.c.status)
        .where(b.c.created_at >= since, b.c.duration_ms.is_not(None))
        .order_by(b.c.created_at.desc())
        .limit(limit)
    )
    if partner is not None:
        stmt = stmt.where(b.c.partner == partner)
    return [(r[0], r[1], float(r[2]), r[3]) for r in conn.execute(stmt)]
