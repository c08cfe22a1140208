"""The reads of the routing simulator and backtest (``services.ports.SimulationReads``): leads by time
with a cursor, what they sold, their bids, a rotation counter. Nothing here writes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, or_, select

from leadrelay.adapters.db.privacy_tables import installation_secrets
from leadrelay.adapters.db.tables import bids, deliveries, jobs, leads, rotations
from leadrelay.domain.states import JobKind

_LEADS = select(
    leads.c.id,
    leads.c.entity,
    leads.c.source,
    leads.c.status,
    leads.c.data,
    leads.c.sealed,
    leads.c.created_at,
)

_DELIVERIES = (
    select(deliveries.c.lead_id, deliveries.c.partner, deliveries.c.status, deliveries.c.price)
    .join(jobs, jobs.c.id == deliveries.c.job_id)
    .where(
        deliveries.c.lead_id.in_(bindparam("b_ids", expanding=True)),
        deliveries.c.is_test.is_(False),
        jobs.c.kind == JobKind.ROUTE,
    )
    .order_by(deliveries.c.lead_id, deliveries.c.id)
)

_BIDS = (
    select(
        bids.c.lead_id,
        bids.c.profile,
        bids.c.partner,
        bids.c.status,
        bids.c.price,
        bids.c.shared_price,
        bids.c.reference,
    )
    .where(bids.c.lead_id.in_(bindparam("b_ids", expanding=True)), bids.c.superseded.is_(False))
    .order_by(bids.c.lead_id, bids.c.id)
)


class SqlSimulationReads:
    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def leads_between(
        self, since: datetime, until: datetime, after: tuple[datetime, str] | None, limit: int
    ) -> list[Row[Any]]:
        q = _LEADS.where(leads.c.created_at >= since, leads.c.created_at < until, leads.c.is_test.is_(False))
        if after is not None:
            at, lead_id = after
            q = q.where(or_(leads.c.created_at > at, and_(leads.c.created_at == at, leads.c.id > lead_id)))
        q = q.order_by(leads.c.created_at, leads.c.id).limit(limit)
        return list(self._conn.execute(q))

    def deliveries(self, lead_ids: Sequence[str]) -> list[Row[Any]]:
        if not lead_ids:
            return []
        return list(self._conn.execute(_DELIVERIES, {"b_ids": list(lead_ids)}))

    def bids(self, lead_ids: Sequence[str]) -> list[Row[Any]]:
        if not lead_ids:
            return []
        return list(self._conn.execute(_BIDS, {"b_ids": list(lead_ids)}))

    def rotation(self, key: str) -> int:
        value = self._conn.execute(select(rotations.c.counter).where(rotations.c.key == key)).scalar()
        return int(value or 0)

    def dedup_key_recorded(self) -> bool:
        found = self._conn.execute(
            select(installation_secrets.c.name).where(installation_secrets.c.name == "dedup")
        ).first()
        return found is not None

    @contextmanager
    def read_only(self) -> Iterator[None]:
        """PostgreSQL: the transaction becomes READ ONLY (to its end). SQLite: the connection refuses
        writes (``query_only``) until the block ends; it is a pooled connection, so it is given back as it
        was."""
        if self._conn.dialect.name == "postgresql":
            self._conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield
            return
        self._conn.exec_driver_sql("PRAGMA query_only = ON")
        try:
            yield
        finally:
            self._conn.exec_driver_sql("PRAGMA query_only = OFF")
