"""The batch log's queries (``leadrelay.services.ports.BatchQueries``): the newest batches, the leads
waiting per partner, a batch's attempts; and the savepoint that cuts one partner's batches apart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select
from sqlalchemy.exc import DBAPIError

from leadrelay.adapters.db.tables import attempts, batches, deliveries
from leadrelay.domain.states import DeliveryStatus
from leadrelay.errors import StorageError


class SqlBatchQueries:
    """The batch log's reads, and a savepoint, on one transaction's connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def latest_batches(self, partner: str | None, status: str | None, limit: int) -> list[Row[Any]]:
        query = select(batches).order_by(batches.c.created_at.desc(), batches.c.id.desc()).limit(limit)
        if partner is not None:
            query = query.where(batches.c.partner == partner)
        if status is not None:
            query = query.where(batches.c.status == status)
        return list(self._conn.execute(query))

    def waiting_per_partner(self) -> list[tuple[str, int, datetime | None]]:
        query = (
            select(deliveries.c.partner, func.count(), func.min(deliveries.c.created_at))
            .where(deliveries.c.status == DeliveryStatus.BATCHED, deliveries.c.batch_id.is_(None))
            .group_by(deliveries.c.partner)
            .order_by(deliveries.c.partner)
        )
        return [(partner, count, oldest) for partner, count, oldest in self._conn.execute(query)]

    def batch_attempts(self, batch_id: str) -> list[Row[Any]]:
        query = select(attempts).where(attempts.c.batch_id == batch_id).order_by(attempts.c.number)
        return list(self._conn.execute(query))

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        one = self._conn.begin_nested()
        try:
            yield
        except DBAPIError as exc:  # the transaction itself is in trouble: no rolling back to the savepoint
            raise StorageError(f"database error: {exc.orig}") from exc
        except BaseException:
            one.rollback()
            raise
        one.commit()
