"""The statements behind the hold channel's pick-up list and its release
(``leadrelay.services.ports.HoldQueries``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, or_, select, update

from leadrelay.adapters.db.tables import deliveries, leads
from leadrelay.domain.states import DeliveryStatus

_HELD = (
    select(deliveries, leads.c.data, leads.c.sealed)
    .join(leads, leads.c.id == deliveries.c.lead_id)
    .where(deliveries.c.status == DeliveryStatus.HELD)
    .order_by(deliveries.c.held_at, deliveries.c.id)
)


class SqlHoldQueries:
    """Held deliveries, read and released in one transaction."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def held(
        self, partner: str | None, limit: int, after: tuple[datetime, str] | None = None
    ) -> list[Row[Any]]:
        query = _HELD.limit(limit)
        if partner is not None:
            query = query.where(deliveries.c.partner == partner)
        if after is not None:  # the next page: past the last one's (held_at, id)
            at, last = after
            d = deliveries.c
            query = query.where(or_(d.held_at > at, and_(d.held_at == at, d.id > last)))
        return list(self._conn.execute(query))

    def delivery(self, delivery_id: str) -> Row[Any] | None:
        return self._conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).first()

    def update_held(self, delivery_id: str, **values: Any) -> bool:
        query = (
            update(deliveries)
            .where(deliveries.c.id == delivery_id, deliveries.c.status == DeliveryStatus.HELD)
            .values(**values)
        )
        return bool(self._conn.execute(query).rowcount)
