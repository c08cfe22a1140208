"""The SQL side of ``services.writes.Writes``: the writes a routing or recording step collected, executed
together at its end, one ``executemany`` per statement shape instead of one round trip per row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from leadrelay.adapters.db.store import (
    _INSERT_ATTEMPT,
    _INSERT_DELIVERY,
    _update_by_id,
    refresh_lead_statuses,
)
from leadrelay.adapters.db.tables import deliveries, jobs
from leadrelay.services.writes import Writes


class SqlDeferredWrites:
    """``leadrelay.services.ports.DeferredWrites`` bound to a transaction's connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def flush(self, writes: Writes, now: datetime) -> None:
        conn = self._conn
        if writes.new_attempts:
            conn.execute(_INSERT_ATTEMPT, writes.new_attempts)
        if writes.new_deliveries:
            conn.execute(_INSERT_DELIVERY, writes.new_deliveries)
        for table, updates in ((deliveries, writes.deliveries), (jobs, writes.jobs)):
            shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
            for row_id, values in updates.items():
                shapes.setdefault(frozenset(values), []).append({"b_id": row_id, **values})
            for keys, params in shapes.items():
                conn.execute(_update_by_id(table, keys), params)
        if writes.leads:
            refresh_lead_statuses(conn, sorted(writes.leads), now)
