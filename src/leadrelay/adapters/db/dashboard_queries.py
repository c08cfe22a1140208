"""The dashboard's own reads (``leadrelay.services.ports.DashboardQueries``): the queue's depth, the same
indexed counts ``/metrics`` shows (``operations_queries``). The dashboard's other figures come from the
reports' rollup, the cap counters, the breakers and the alert events, through their repositories."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from leadrelay.adapters.db import operations_queries
from leadrelay.services.ports.dashboard import QueueDepth


class SqlDashboardQueries:
    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def queue_depth(self, now: datetime) -> QueueDepth:
        return operations_queries.queue_depth(self._conn, now)
