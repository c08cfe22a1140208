"""The returns' SQL (``leadrelay.services.ports.Returns``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, literal, or_, select, update

from leadrelay.adapters.db.money_tables import ledger_entries, returns
from leadrelay.adapters.db.tables import deliveries, jobs, leads
from leadrelay.domain.after_sale_states import ReturnStatus
from leadrelay.domain.ledger import EntryKind, Party
from leadrelay.domain.states import DeliveryStatus, JobKind
from leadrelay.services.ports.returns import ReturnableDelivery, ReturnRecord

_R = returns.c
_D = deliveries.c
_E = ledger_entries.c


def _record(row: Any) -> ReturnRecord:
    return ReturnRecord(
        row.id,
        row.delivery_id,
        row.lead_id,
        row.job_id,
        row.partner,
        row.reason,
        row.note,
        ReturnStatus(row.status),
        bool(row.auto),
        row.delivered_at,
        row.requested_at,
        row.requested_by,
        row.decided_at,
        row.decided_by,
        row.decision_note,
        row.redistributed_as,
    )


class SqlReturns:
    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def insert(self, row: Mapping[str, Any]) -> None:
        self._conn.execute(insert(returns).values(**row))

    def get(self, return_id: str, *, lock: bool = False) -> ReturnRecord | None:
        query = select(returns).where(_R.id == return_id)
        row = self._conn.execute(query.with_for_update() if lock else query).first()
        return _record(row) if row is not None else None

    def update(self, return_id: str, **values: Any) -> None:
        self._conn.execute(update(returns).where(_R.id == return_id).values(**values))

    def of_deliveries(self, delivery_ids: Collection[str]) -> list[ReturnRecord]:
        if not delivery_ids:
            return []
        query = select(returns).where(_R.delivery_id.in_(sorted(set(delivery_ids))))
        return [_record(r) for r in self._conn.execute(query.order_by(_R.requested_at, _R.id))]

    def of_leads(self, lead_ids: Collection[str]) -> list[ReturnRecord]:
        if not lead_ids:
            return []
        query = select(returns).where(_R.lead_id.in_(sorted(set(lead_ids))))
        return [_record(r) for r in self._conn.execute(query.order_by(_R.requested_at, _R.id))]

    def find(
        self, *, partner: str | None = None, status: ReturnStatus | None = None, limit: int = 100
    ) -> list[ReturnRecord]:
        query = select(returns)
        if partner is not None:
            query = query.where(_R.partner == partner)
        if status is not None:
            query = query.where(_R.status == status.value)
        query = query.order_by(_R.requested_at.desc(), _R.id.desc()).limit(limit)
        return [_record(r) for r in self._conn.execute(query)]

    def deliveries(
        self,
        partner: str,
        *,
        delivery_id: str | None = None,
        lead_id: str | None = None,
        lock: bool = False,
    ) -> list[ReturnableDelivery]:
        query = (
            select(_D.id, _D.lead_id, _D.job_id, _D.partner, _D.status, _D.delivered_at, _D.is_test)
            .where(_D.partner == partner)
            .order_by(_D.created_at, _D.id)
        )
        if delivery_id is not None:
            query = query.where(_D.id == delivery_id)
        if lead_id is not None:
            query = query.where(_D.lead_id == lead_id)
        if lock:
            query = query.with_for_update()
        return [
            ReturnableDelivery(
                r.id, r.lead_id, r.job_id, r.partner, r.status, r.delivered_at, bool(r.is_test)
            )
            for r in self._conn.execute(query)
        ]

    def rate_figures(self, partner: str, start: datetime, end: datetime) -> tuple[int, int]:
        if self._conn.dialect.name == "postgresql":
            # returns of one partner are counted one transaction at a time (SQLite's write lock is
            # taken already): two returns at once cannot both fit under the rate
            key = func.hashtextextended(literal(f"returns:{partner}"), literal(0))
            self._conn.execute(select(func.pg_advisory_xact_lock(key)))
        returned = self._conn.execute(
            select(func.count())
            .select_from(returns)
            .where(
                _R.partner == partner,
                _R.delivered_at >= start,
                _R.delivered_at < end,
                _R.status != ReturnStatus.DENIED.value,
            )
        ).scalar_one()
        billed = (  # a resend counts as a sale only where the ledger bills it (its sale was undone)
            select(_E.id)
            .where(
                _E.delivery_id == _D.id, _E.party_kind == Party.PARTNER.value, _E.kind == EntryKind.SALE.value
            )
            .exists()
        )
        sold = self._conn.execute(
            select(func.count())
            .select_from(deliveries.join(leads, leads.c.id == _D.lead_id).join(jobs, jobs.c.id == _D.job_id))
            .where(
                _D.partner == partner,
                _D.status == DeliveryStatus.DELIVERED.value,
                _D.delivered_at >= start,
                _D.delivered_at < end,
                leads.c.is_test.is_(False),
                or_(jobs.c.kind != JobKind.RESEND, billed),
            )
        ).scalar_one()
        return int(returned), int(sold)
