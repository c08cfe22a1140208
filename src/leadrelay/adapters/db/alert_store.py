"""SQL for alerts (SQLAlchemy Core): rules' states moved by a conditional UPDATE (of several processes
checking the same rule, one moves it and sends), the messages sent, and what the checks read that no other
repository gives (the queue's backlog, failed batches).

Every function takes an open transaction (``Connection``), as in ``store``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from leadrelay.adapters.db.console_tables import alert_events, alert_states
from leadrelay.adapters.db.tables import batches, jobs
from leadrelay.domain.alerts import AlertState
from leadrelay.domain.states import BatchStatus, QueueState

_S = alert_states
_E = alert_events


def states(conn: Connection) -> dict[str, Row[Any]]:
    """Every stored rule state, by alert name."""
    return {r.alert: r for r in conn.execute(select(_S).order_by(_S.c.alert))}


def move_state(conn: Connection, alert: str, version: int, values: Mapping[str, Any]) -> bool:
    """Set the rule's state to ``values`` (with ``version + 1``) if its stored version is ``version`` (no
    row counts as version 0, state ok); True when this transaction moved it."""
    if version == 0:
        ins = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        conn.execute(
            ins(_S)
            .values(alert=alert, state=AlertState.OK.value, version=0)
            .on_conflict_do_nothing(index_elements=["alert"])
        )
    stmt = (
        update(_S)
        .where(_S.c.alert == alert, _S.c.version == version)
        .values(**values, version=version + 1)
        .returning(_S.c.alert)
    )
    return conn.execute(stmt).first() is not None


def forget_state(conn: Connection, alert: str) -> None:
    conn.execute(delete(_S).where(_S.c.alert == alert))


def insert_event(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(_E.insert().values(**row))


def events(conn: Connection, alert: str | None, limit: int) -> list[Row[Any]]:
    """The messages sent (of one rule, or all), newest first, at most ``limit``."""
    stmt = select(_E).order_by(_E.c.sent_at.desc(), _E.c.id.desc()).limit(limit)
    if alert is not None:
        stmt = stmt.where(_E.c.alert == alert)
    return list(conn.execute(stmt))


def queue_backlog(conn: Connection, now: datetime) -> tuple[int, datetime | None]:
    """The jobs ready to run at ``now`` (not claimed), and when the longest-waiting of them became due."""
    row = conn.execute(
        select(func.count(), func.min(jobs.c.run_at)).where(
            jobs.c.queue_state == QueueState.READY.value, jobs.c.run_at <= now
        )
    ).one()
    return int(row[0]), row[1]


def failed_batches(conn: Connection, since: datetime, limit: int = 1000) -> list[tuple[str, str, datetime]]:
    """The batches cut at or after ``since`` that were given up on: (partner, batch id, cut at)."""
    b = batches
    stmt = (
        select(b.c.partner, b.c.id, b.c.created_at)
        .where(b.c.status == BatchStatus.FAILED.value, b.c.created_at >= since)
        .order_by(b.c.created_at.desc())
        .limit(limit)
    )
    return [(r[0], r[1], r[2]) for r in conn.execute(stmt)]
