"""The invoices' repository: invoices and statements (``leadrelay.domain.invoices``), which ledger entries
each holds, and the gap-free number counters."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from leadrelay.domain.invoices import Invoice, InvoiceStatus
from leadrelay.domain.ledger import Entry, Party


class Invoices(Protocol):
    def insert(self, invoice: Invoice) -> None: ...

    def set_lines(self, invoice: Invoice) -> None:
        """Store a draft's lines and total (the database refuses it once the invoice is issued)."""
        ...

    def set_state(self, invoice: Invoice) -> None:
        """Store its status, number, dates and payment entry."""
        ...

    def get(self, invoice_id: str, *, lock: bool = False) -> Invoice | None:
        """``lock``: its row locked until commit (PostgreSQL), so that two moves of one invoice (a pay and
        a void, two pays) take turns and the second sees the first's."""
        ...

    def find(
        self,
        *,
        party_kind: Party | None = None,
        party: str | None = None,
        status: InvoiceStatus | None = None,
        starts_at: datetime | None = None,
        limit: int | None = None,
    ) -> list[Invoice]:
        """The invoices matching every filter given, newest first."""
        ...

    def open_entries(self, party_kind: Party, party: str) -> list[Entry]:
        """The party's ledger entries that no invoice holds, in posting order."""
        ...

    def claim(self, invoice_id: str, entry_ids: Collection[str]) -> None:
        """The invoice holds these entries (an entry already held by another is refused)."""
        ...

    def release(self, invoice_id: str) -> None:
        """The invoice holds no entry any more."""
        ...

    def next_number(self, series: str, year: int) -> int:
        """The next number of the series for the year, counted in this transaction (which holds the
        counter until it ends: concurrent issues wait, and a rolled-back issue uses no number)."""
        ...

    def set_invoiced(self, delivery_ids: Collection[str], invoiced: bool) -> None:
        """``deliveries.invoiced`` of these deliveries."""
        ...

    def lock_deliveries(self, delivery_ids: Collection[str]) -> None:
        """These deliveries' rows held to the transaction's end, taken in id order (PostgreSQL; SQLite's
        write lock holds everything already)."""
        ...
