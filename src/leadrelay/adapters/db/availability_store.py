"""SQL for partner availability (SQLAlchemy Core): who is checked out, set at once by an upsert.

Every function takes an open transaction (``Connection``), as in ``store``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from leadrelay.adapters.db.tables import partner_availability

_UNAVAILABLE = select(partner_availability.c.partner).where(partner_availability.c.available.is_(False))


def set_availability(
    conn: Connection, partner: str, available: bool, note: str | None, actor: str, at: datetime
) -> bool | None:
    """Record the partner's availability; returns what it was before (None: never set, so available)."""
    t = partner_availability
    before = conn.execute(select(t.c.available).where(t.c.partner == partner)).scalar()
    ins = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    values = {"available": available, "note": note, "changed_by": actor, "changed_at": at}
    stmt = ins(t).values(partner=partner, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["partner"], set_=values))
    return None if before is None else bool(before)


def unavailable_partners(conn: Connection) -> frozenset[str]:
    """The partners checked out now (one small read per batch of routed jobs)."""
    return frozenset(conn.execute(_UNAVAILABLE).scalars())


def availability(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every partner's recorded availability: name → {available, note, changed_by, changed_at}."""
    t = partner_availability
    rows = conn.execute(select(t).order_by(t.c.partner))
    return {
        r.partner: {
            "available": bool(r.available),
            "note": r.note,
            "changed_by": r.changed_by,
            "changed_at": r.changed_at,
        }
        for r in rows
    }
