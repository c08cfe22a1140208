"""The invoices' SQL (``leadrelay.services.ports.Invoices``): the documents, the entries each holds
(``invoice_lines``, one invoice per entry) and the number counters.

A number is counted with ``UPDATE … SET last = last + 1 … RETURNING last`` in the issuing transaction: on
PostgreSQL the row stays locked until that transaction ends, so concurrent issues of a series queue behind
it, and a rolled-back issue gives its number back; on SQLite the write lock does the same.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from leadrelay.adapters.db.ledger_store import _entry
from leadrelay.adapters.db.money_tables import invoice_counters, invoice_lines, invoices, ledger_entries
from leadrelay.adapters.db.tables import deliveries
from leadrelay.domain.invoices import Invoice, InvoiceStatus, Line, Period, PeriodKind
from leadrelay.domain.ledger import Entry, Party
from leadrelay.errors import Conflict

_I = invoices.c
_L = ledger_entries.c
_CHUNK = 500


def _invoice(row: Any) -> Invoice:
    period = Period(
        PeriodKind(row.period),
        date.fromisoformat(row.first_day),
        date.fromisoformat(row.last_day),
        row.timezone,
        row.starts_at,
        row.ends_at,
    )
    return Invoice(
        id=row.id,
        party_kind=Party(row.party_kind),
        party=row.party,
        period=period,
        status=InvoiceStatus(row.status),
        currency=row.currency,
        lines=tuple(Line.from_dict(x) for x in row.lines),
        total=row.total,
        actor=row.actor,
        created_at=row.created_at,
        updated_at=row.updated_at,
        number=row.number,
        issued_at=row.issued_at,
        paid_at=row.paid_at,
        voided_at=row.voided_at,
        payment_entry=row.payment_entry,
    )


def _state(invoice: Invoice) -> dict[str, Any]:
    return {
        "status": invoice.status.value,
        "number": invoice.number,
        "updated_at": invoice.updated_at,
        "issued_at": invoice.issued_at,
        "paid_at": invoice.paid_at,
        "voided_at": invoice.voided_at,
        "payment_entry": invoice.payment_entry,
    }


def _lines(invoice: Invoice) -> dict[str, Any]:
    return {"lines": [x.as_dict() for x in invoice.lines], "total": invoice.total}


class SqlInvoices:
    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def insert(self, invoice: Invoice) -> None:
        p = invoice.period
        row = {
            "id": invoice.id,
            "party_kind": invoice.party_kind.value,
            "party": invoice.party,
            "period": p.kind.value,
            "first_day": p.first.isoformat(),
            "last_day": p.last.isoformat(),
            "timezone": p.timezone,
            "starts_at": p.starts_at,
            "ends_at": p.ends_at,
            "currency": invoice.currency,
            "actor": invoice.actor,
            "created_at": invoice.created_at,
            **_state(invoice),
            **_lines(invoice),
        }
        try:
            with self._conn.begin_nested():
                self._conn.execute(insert(invoices), [row])
        except IntegrityError as exc:
            raise Conflict(
                f"{invoice.party} has another invoice for {p.label} (drafted at the same time): try again"
            ) from exc

    def set_lines(self, invoice: Invoice) -> None:
        self._conn.execute(
            update(invoices)
            .where(_I.id == invoice.id)
            .values(updated_at=invoice.updated_at, **_lines(invoice))
        )

    def set_state(self, invoice: Invoice) -> None:
        self._conn.execute(update(invoices).where(_I.id == invoice.id).values(**_state(invoice)))

    def get(self, invoice_id: str, *, lock: bool = False) -> Invoice | None:
        query = select(invoices).where(_I.id == invoice_id)
        row = self._conn.execute(query.with_for_update() if lock else query).first()
        return _invoice(row) if row is not None else None

    def find(
        self,
        *,
        party_kind: Party | None = None,
        party: str | None = None,
        status: InvoiceStatus | None = None,
        starts_at: datetime | None = None,
        limit: int | None = None,
    ) -> list[Invoice]:
        q = select(invoices).order_by(_I.created_at.desc(), _I.id.desc())
        if party_kind is not None:
            q = q.where(_I.party_kind == party_kind.value)
        if party is not None:
            q = q.where(_I.party == party)
        if status is not None:
            q = q.where(_I.status == status.value)
        if starts_at is not None:
            q = q.where(_I.starts_at == starts_at)
        if limit is not None:
            q = q.limit(limit)
        return [_invoice(row) for row in self._conn.execute(q)]

    def open_entries(self, party_kind: Party, party: str) -> list[Entry]:
        held = select(invoice_lines.c.entry_id).where(invoice_lines.c.entry_id == _L.id)
        q = (
            select(ledger_entries)
            .where(_L.party_kind == party_kind.value, _L.party == party, ~held.exists())
            .order_by(_L.seq)
        )
        return [_entry(row) for row in self._conn.execute(q)]

    def claim(self, invoice_id: str, entry_ids: Collection[str]) -> None:
        if not entry_ids:
            return
        try:
            with self._conn.begin_nested():
                self._conn.execute(
                    insert(invoice_lines), [{"entry_id": e, "invoice_id": invoice_id} for e in entry_ids]
                )
        except IntegrityError as exc:
            raise Conflict("another invoice took some of these entries at the same time: try again") from exc

    def release(self, invoice_id: str) -> None:
        self._conn.execute(delete(invoice_lines).where(invoice_lines.c.invoice_id == invoice_id))

    def next_number(self, series: str, year: int) -> int:
        ins = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        self._conn.execute(
            ins(invoice_counters).values(series=series, year=year, last=0).on_conflict_do_nothing()
        )
        c = invoice_counters.c
        got = self._conn.execute(
            update(invoice_counters)
            .where(c.series == series, c.year == year)
            .values(last=c.last + 1)
            .returning(c.last)
        ).scalar_one()
        return int(got)

    def lock_deliveries(self, delivery_ids: Collection[str]) -> None:
        ids = sorted(set(delivery_ids))
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            self._conn.execute(
                select(deliveries.c.id)
                .where(deliveries.c.id.in_(chunk))
                .order_by(deliveries.c.id)
                .with_for_update()
            ).all()

    def set_invoiced(self, delivery_ids: Collection[str], invoiced: bool) -> None:
        ids = sorted(set(delivery_ids))
        for i in range(0, len(ids), _CHUNK):
            self._conn.execute(
                update(deliveries).where(deliveries.c.id.in_(ids[i : i + _CHUNK])).values(invoiced=invoiced)
            )
