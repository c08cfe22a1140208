"""An invoice's documents (``adapters.documents.invoices``) are on the party's clock, as its period is: a
Los Angeles partner's sale of 21:00 on 30 November (05:00 UTC on 1 December) is a November line dated
2026-11-30 in the PDF, its time in the CSV has the party's offset, and the issue date is the party's day."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

from pypdf import PdfReader

from leadrelay.adapters.documents.invoices import invoice_csv, invoice_pdf
from leadrelay.domain import invoices as inv
from leadrelay.domain.invoices import Invoice, Invoicing
from leadrelay.domain.ledger import Entry, EntryKind, Party

AT = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # 21:00 on 30 November in Los Angeles


def _invoice() -> Invoice:
    period = inv.parse_period("2026-11", Invoicing(timezone="America/Los_Angeles"))
    assert period.starts_at <= AT < period.ends_at
    sale = Entry("led_1", AT, EntryKind.SALE, Party.PARTNER, "sunco", Decimal("25.00"), "USD", "system",
                 "lead_1", "dlv_1", margin=Decimal("25.00"))  # fmt: skip
    draft = inv.draft(
        "inv_1", Party.PARTNER, "sunco", period, [sale], now=AT, currency="USD", actor="admin:test"
    )
    return inv.issue(draft, 1, AT)


def test_the_pdf_dates_each_line_and_the_issue_on_the_partys_clock() -> None:
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(invoice_pdf(_invoice()))).pages)
    assert "2026-11-01 to 2026-11-30 (America/Los_Angeles)" in text
    line = next(row for row in text.splitlines() if "lead_1" in row)
    assert "2026-11-30" in line, line
    assert "Issued: 2026-11-30" in text


def test_the_csv_gives_each_lines_time_on_the_partys_clock() -> None:
    (row, *_) = csv.DictReader(io.StringIO(invoice_csv(_invoice())))
    assert row["at"] == "2026-11-30T21:00:00-08:00"
    assert datetime.fromisoformat(row["at"]) == AT
