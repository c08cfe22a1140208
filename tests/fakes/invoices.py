"""Invoices in memory (``leadrelay.services.ports.Invoices``) over the fake tables."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from leadrelay.domain.invoices import Invoice, InvoiceStatus, Line, Period, PeriodKind
from leadrelay.domain.ledger import Entry, Party
from leadrelay.errors import Conflict, InvalidTransition
from tests.fakes.ledger import FakeLedger
from tests.fakes.tables import Stored, Tables


def _invoice(row: dict[str, Any]) -> Invoice:
    period = Period(
        PeriodKind(row["period"]),
        date.fromisoformat(row["first_day"]),
        date.fromisoformat(row["last_day"]),
        row["timezone"],
        row["starts_at"],
        row["ends_at"],
    )
    return Invoice(
        id=row["id"],
        party_kind=Party(row["party_kind"]),
        party=row["party"],
        period=period,
        status=InvoiceStatus(row["status"]),
        currency=row["currency"],
        lines=tuple(Line.from_dict(x) for x in row["lines"]),
        total=row["total"],
        actor=row["actor"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        number=row["number"],
        issued_at=row["issued_at"],
        paid_at=row["paid_at"],
        voided_at=row["voided_at"],
        payment_entry=row["payment_entry"],
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


class FakeInvoices:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    def insert(self, invoice: Invoice) -> None:
        p = invoice.period
        self.tables.insert(
            "invoices",
            {
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
                "lines": [x.as_dict() for x in invoice.lines],
                "total": invoice.total,
                **_state(invoice),
            },
        )

    def _stored(self, invoice_id: str) -> Stored | None:
        return self.tables.find("invoices", invoice_id)

    def set_lines(self, invoice: Invoice) -> None:
        row = self._stored(invoice.id)
        if row is None:
            return
        if row["status"] != InvoiceStatus.DRAFT:  # the SQL's trigger
            raise InvalidTransition("an issued invoice is frozen: its lines and total never change")
        self.tables.update(
            "invoices",
            row,
            {
                "lines": [x.as_dict() for x in invoice.lines],
                "total": invoice.total,
                "updated_at": invoice.updated_at,
            },
        )

    def set_state(self, invoice: Invoice) -> None:
        row = self._stored(invoice.id)
        if row is not None:
            self.tables.update("invoices", row, _state(invoice))

    def get(self, invoice_id: str, *, lock: bool = False) -> Invoice | None:
        row = self._stored(invoice_id)
        return _invoice(self.tables.values("invoices", row)) if row is not None else None

    def find(
        self,
        *,
        party_kind: Party | None = None,
        party: str | None = None,
        status: InvoiceStatus | None = None,
        starts_at: datetime | None = None,
        limit: int | None = None,
    ) -> list[Invoice]:
        def keep(row: Stored) -> bool:
            return (
                (party_kind is None or row["party_kind"] == party_kind.value)
                and (party is None or row["party"] == party)
                and (status is None or row["status"] == status.value)
                and (starts_at is None or row["starts_at"] == starts_at)
            )

        rows = sorted(
            self.tables.where("invoices", keep), key=lambda r: (r["created_at"], r["id"]), reverse=True
        )
        found = [_invoice(self.tables.values("invoices", row)) for row in rows]
        return found[:limit] if limit is not None else found

    def open_entries(self, party_kind: Party, party: str) -> list[Entry]:
        held = {row["entry_id"] for row in self.tables.stored("invoice_lines")}
        entries = FakeLedger(self.tables).entries(party_kind=party_kind, party=party)
        return [e for e in entries if e.id not in held]

    def claim(self, invoice_id: str, entry_ids: Collection[str]) -> None:
        for entry_id in entry_ids:
            if self.tables.find("invoice_lines", entry_id) is not None:
                raise Conflict("another invoice took some of these entries at the same time: try again")
            self.tables.insert("invoice_lines", {"entry_id": entry_id, "invoice_id": invoice_id})

    def release(self, invoice_id: str) -> None:
        for row in self.tables.where("invoice_lines", lambda r: r["invoice_id"] == invoice_id):
            self.tables.delete("invoice_lines", row)

    def next_number(self, series: str, year: int) -> int:
        row = self.tables.find("invoice_counters", series, year)
        if row is None:
            row = self.tables.insert("invoice_counters", {"series": series, "year": year, "last": 0})
        return int(self.tables.update("invoice_counters", row, {"last": row["last"] + 1})["last"])

    def lock_deliveries(self, delivery_ids: Collection[str]) -> None:
        """One transaction at a time here: nothing to wait for."""

    def set_invoiced(self, delivery_ids: Collection[str], invoiced: bool) -> None:
        for row in self.tables.where("deliveries", lambda r: r["id"] in delivery_ids):
            self.tables.update("deliveries", row, {"invoiced": invoiced})
