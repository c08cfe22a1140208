"""The SQL side of ``services.writes.Writes``: the writes a routing or recording step collected, executed
together at its end, one ``executemany`` per statement shape instead of one round trip per row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from leadrelay.adapters.db.store import ATTEMPTS, DELIVERIES, JOBS, refresh_lead_statuses
from leadrelay.services.writes import Writes


class SqlDeferredWrites:
    """``leadrelay.services.ports.DeferredWrites`` bound to a transaction's connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def flush(self, writes: Writes, now: datetime) -> None:
        conn = self._conn
        ATTEMPTS.write(conn, writes.new_attempts)
        DELIVERIES.write(conn, writes.new_deliveries)
        DELIVERIES.update(conn, writes.deliveries)
        JOBS.update(conn, writes.jobs)
        if writes.leads:
            refresh_lead_statuses(conn, sorted(writes.leads), now)
