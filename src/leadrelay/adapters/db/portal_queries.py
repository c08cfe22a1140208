"""The reads behind the partner and source portals (``leadrelay.services.ports.PortalQueries``): one
tenant's rows, newest first, by cursor (indexed: deliveries by partner, leads by source through the
``(source, idempotency_key)`` unique index, ledger entries by party)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, Row, select

from leadrelay.adapters.db.ledger_store import _entry
from leadrelay.adapters.db.money_tables import ledger_entries, returns
from leadrelay.adapters.db.returns_store import _record
from leadrelay.adapters.db.tables import deliveries, leads
from leadrelay.domain.ledger import Entry, Party
from leadrelay.domain.states import DeliveryStatus
from leadrelay.services.ports.returns import ReturnRecord

_D = deliveries.c
_SOLD = select(
    _D.id,
    _D.job_id,
    _D.lead_id,
    leads.c.entity,
    _D.status,
    _D.price,
    _D.reference,
    _D.outcome,
    _D.invoiced,
    _D.is_test,
    _D.delivered_at,
).join(leads, leads.c.id == _D.lead_id)


class SqlPortalQueries:
    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def partner_deliveries(self, partner: str, cursor: str | None, limit: int) -> list[Row[Any]]:
        q = _SOLD.where(_D.partner == partner, _D.status == DeliveryStatus.DELIVERED.value)
        if cursor:
            q = q.where(_D.id < cursor)
        return list(self._conn.execute(q.order_by(_D.id.desc()).limit(limit)))

    def partner_delivery(self, partner: str, delivery_id: str) -> Row[Any] | None:
        q = _SOLD.where(
            _D.id == delivery_id, _D.partner == partner, _D.status == DeliveryStatus.DELIVERED.value
        )
        return cast("Row[Any] | None", self._conn.execute(q).first())

    def source_leads(self, source: str, cursor: str | None, limit: int) -> list[Row[Any]]:
        c = leads.c
        q = select(c.id, c.entity, c.status, c.is_test, c.created_at).where(c.source == source)
        if cursor:
            q = q.where(c.id < cursor)
        return list(self._conn.execute(q.order_by(c.id.desc()).limit(limit)))

    def party_entries(
        self, kind: Party, party: str, cursor: int | None, limit: int
    ) -> list[tuple[int, Entry]]:
        c = ledger_entries.c
        q = select(ledger_entries).where(c.party_kind == kind.value, c.party == party)
        if cursor is not None:
            q = q.where(c.seq < cursor)
        rows = self._conn.execute(q.order_by(c.seq.desc()).limit(limit))
        return [(int(row.seq), _entry(row)) for row in rows]

    def partner_returns(self, partner: str, cursor: str | None, limit: int) -> list[ReturnRecord]:
        c = returns.c
        q = select(returns).where(c.partner == partner)
        if cursor:
            q = q.where(c.id < cursor)
        return [_record(row) for row in self._conn.execute(q.order_by(c.id.desc()).limit(limit))]
