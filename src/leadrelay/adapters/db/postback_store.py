"""The postbacks' repositories on SQL (``services.ports.postbacks``): ``SqlPostbacks`` (accepted postbacks,
a delivery's outcome, the outcomes report) and ``SqlRelays`` (events relayed to sources, leased with
``leases`` like batches: a conditional UPDATE under SKIP LOCKED on PostgreSQL, the write lock on SQLite,
so each event is sent by one relay loop at a time)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from leadrelay.adapters.db import leases
from leadrelay.adapters.db.money_tables import outbound_postbacks, postbacks
from leadrelay.adapters.db.tables import deliveries, leads
from leadrelay.domain.after_sale_states import OUTCOME, RELAY, DeliveryOutcome, RelayStatus
from leadrelay.domain.states import DeliveryStatus
from leadrelay.services.ports.postbacks import OutcomeTotal, ReportBy

__all__ = ["RELAY_LEASE", "SqlPostbacks", "SqlRelays"]

RELAY_LEASE = leases.Lease(
    outbound_postbacks,
    outbound_postbacks.c.status,
    RELAY,
    RelayStatus.SENDING,
    outbound_postbacks.c.next_attempt_at,
    only=outbound_postbacks.c.lead_id.in_(bindparam("b_only", expanding=True)),
)
"""Events to relay: ready or a retry due from ``next_attempt_at``, sending under a relay loop's lease."""


def _insert_new(conn: Connection, table: Any, row: Mapping[str, Any]) -> bool:
    """Insert ``row`` unless it breaks a unique constraint (ON CONFLICT DO NOTHING); whether it was. Told by
    RETURNING: psycopg does not give this statement's rowcount."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(**row).on_conflict_do_nothing().returning(table.c.id)
    return conn.execute(stmt).first() is not None


class SqlPostbacks:
    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def delivery(self, delivery_id: str) -> Row[Any] | None:
        d = deliveries.c
        query = (
            select(d.id, d.job_id, d.lead_id, d.partner, d.status, d.outcome, d.is_test, leads.c.source)
            .join(leads, leads.c.id == d.lead_id)
            .where(d.id == delivery_id)
        )
        row: Row[Any] | None = self._conn.execute(query).first()  # type: ignore[assignment]
        return row

    def delivered_of_batch(self, batch_id: str) -> list[Row[Any]]:
        d = deliveries.c
        query = (
            select(d.id, d.lead_id, d.partner, d.is_test, leads.c.source)
            .join(leads, leads.c.id == d.lead_id)
            .where(d.batch_id == batch_id, d.status == DeliveryStatus.DELIVERED)
            .order_by(d.id)
        )
        return list(self._conn.execute(query))

    def of_delivery(self, delivery_id: str) -> list[Row[Any]]:
        query = select(postbacks).where(postbacks.c.delivery_id == delivery_id)
        return list(self._conn.execute(query.order_by(postbacks.c.received_at, postbacks.c.id)))

    def of_lead(self, lead_id: str) -> list[Row[Any]]:
        query = select(postbacks).where(postbacks.c.lead_id == lead_id)
        return list(self._conn.execute(query.order_by(postbacks.c.received_at, postbacks.c.id)))

    def insert(self, row: Mapping[str, Any]) -> bool:
        return _insert_new(self._conn, postbacks, row)

    def set_note(self, postback_id: str, note: str | None) -> None:
        self._conn.execute(update(postbacks).where(postbacks.c.id == postback_id).values(note=note))

    def set_outcome(self, delivery_id: str, was: str | None, outcome: DeliveryOutcome) -> bool:
        d = deliveries.c
        current: ColumnElement[bool]
        if was is None:
            OUTCOME.check_initial(outcome)
            current = d.outcome.is_(None)
        else:
            OUTCOME.check(was, outcome)
            current = d.outcome == was
        stmt = update(deliveries).where(d.id == delivery_id, current).values(outcome=outcome)
        return bool(self._conn.execute(stmt).rowcount)

    def outcome_totals(self, since: datetime, until: datetime, by: ReportBy) -> list[OutcomeTotal]:
        p = postbacks.c
        key = p.partner if by == "partner" else leads.c.source
        query = (
            select(
                key.label("key"), p.outcome, func.count().label("n"), func.sum(p.revenue_cents).label("cents")
            )
            .select_from(postbacks.join(leads, leads.c.id == p.lead_id) if by == "source" else postbacks)
            .where(p.received_at >= since, p.received_at < until)
            .group_by(key, p.outcome)
            .order_by(key, p.outcome)
        )
        return [
            OutcomeTotal(
                r.key,
                DeliveryOutcome(r.outcome),
                int(r.n),
                (Decimal(int(r.cents or 0)) / 100).quantize(Decimal("0.01")),
            )
            for r in self._conn.execute(query)
        ]


class SqlRelays:
    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def insert(self, row: Mapping[str, Any]) -> bool:
        RELAY.check_initial(row["status"])
        return _insert_new(self._conn, outbound_postbacks, row)

    def any_due(self, now: datetime) -> bool:
        return leases.any_claimable(self._conn, RELAY_LEASE, now)

    def claim(self, owner: str, limit: int, now: datetime, lease_until: datetime) -> list[Row[Any]]:
        ids = leases.claim(self._conn, RELAY_LEASE, owner, limit, now, lease_until)
        if not ids:
            return []
        query = select(outbound_postbacks).where(outbound_postbacks.c.id.in_(ids))
        return list(
            self._conn.execute(query.order_by(outbound_postbacks.c.created_at, outbound_postbacks.c.id))
        )

    def finish(self, relay_id: str, owner: str, status: RelayStatus, **values: Any) -> bool:
        return leases.end(self._conn, RELAY_LEASE, owner, [relay_id], status, **values) == 1

    def of_lead(self, lead_id: str) -> list[Row[Any]]:
        o = outbound_postbacks.c
        return list(
            self._conn.execute(
                select(outbound_postbacks).where(o.lead_id == lead_id).order_by(o.created_at, o.id)
            )
        )

    def get(self, relay_id: str) -> Row[Any] | None:
        return self._conn.execute(
            select(outbound_postbacks).where(outbound_postbacks.c.id == relay_id)
        ).first()

    def set_texts(
        self, relay_id: str, body: Mapping[str, Any], last_answer: str | None, reason: str | None
    ) -> None:
        o = outbound_postbacks.c
        values = {"body": dict(body), "last_answer": last_answer, "reason": reason}
        self._conn.execute(update(outbound_postbacks).where(o.id == relay_id).values(**values))
