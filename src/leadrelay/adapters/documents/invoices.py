"""An invoice or a statement (``leadrelay.domain.invoices.Invoice``) as CSV and as PDF (fpdf2).

Both show the same things: the number (``DRAFT`` before issue), the party, the period on the party's
clock, one row per line (date, kind, lead, delivery, memo, amount) and the charges, credits and total.
Every time is on the period's clock (``Period.timezone``): a line's date is the party's day of it, as the
period is, so a sale of the evening of the period's last day is dated in the period.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from leadrelay.domain.files import spreadsheet_text
from leadrelay.domain.invoices import Invoice
from leadrelay.domain.ledger import Party

CSV_COLUMNS = ("number", "party_kind", "party", "period", "entry_id", "at", "kind", "lead_id", "delivery_id",
               "memo", "amount", "currency")  # fmt: skip


def invoice_view(invoice: Invoice) -> dict[str, Any]:
    p = invoice.period
    t = invoice.totals
    return {
        "id": invoice.id,
        "number": invoice.number,
        "kind": "invoice" if invoice.party_kind is Party.PARTNER else "statement",
        "party_kind": invoice.party_kind.value,
        "party": invoice.party,
        "period": {
            "kind": p.kind.value,
            "label": p.label,
            "first_day": p.first.isoformat(),
            "last_day": p.last.isoformat(),
            "timezone": p.timezone,
            "starts_at": p.starts_at.isoformat(),
            "ends_at": p.ends_at.isoformat(),
        },
        "status": invoice.status.value,
        "currency": invoice.currency,
        "charges": str(t.charges),
        "credits": str(t.credits),
        "total": str(invoice.total),
        "lines": [x.as_dict() for x in invoice.lines],
        "actor": invoice.actor,
        "created_at": invoice.created_at.isoformat(),
        "issued_at": invoice.issued_at.isoformat() if invoice.issued_at else None,
        "paid_at": invoice.paid_at.isoformat() if invoice.paid_at else None,
        "voided_at": invoice.voided_at.isoformat() if invoice.voided_at else None,
        "payment_entry": invoice.payment_entry,
    }


def _local(invoice: Invoice, at: datetime) -> datetime:
    """``at`` on the clock of the invoice's period."""
    return at.astimezone(ZoneInfo(invoice.period.timezone))


def _number(invoice: Invoice) -> str:
    return invoice.number or "DRAFT"


def invoice_csv(invoice: Invoice) -> str:
    """One row per line (``at``: the entry's time on the period's clock, with its offset), then the
    charges, credits and total rows (``kind``: charges, credits, total)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    head = (_number(invoice), invoice.party_kind.value, invoice.party, invoice.period.label)
    for x in invoice.lines:
        at = _local(invoice, x.at).isoformat()
        w.writerow((*head, x.entry_id, at, x.kind.value, x.lead_id or "", x.delivery_id or "",
                    spreadsheet_text(x.memo or ""), str(x.amount), invoice.currency))  # fmt: skip
    t = invoice.totals
    for label, amount in (("charges", t.charges), ("credits", t.credits), ("total", t.total)):
        w.writerow((*head, "", "", label, "", "", "", str(amount), invoice.currency))
    return out.getvalue()


def _latin(text: str) -> str:
    """The PDF's core fonts know Latin-1 only."""
    return text.encode("latin-1", "replace").decode("latin-1")


def invoice_pdf(invoice: Invoice) -> bytes:
    from fpdf import FPDF  # here: fpdf costs 0.2 s to import, and only this renders a PDF

    pdf = FPDF(format="A4")
    pdf.set_title(_latin(f"{invoice.title} {_number(invoice)}"))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin(f"{invoice.title} {_number(invoice)}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    p = invoice.period
    facts = [
        f"{invoice.party_kind.value.capitalize()}: {invoice.party}",
        f"Period: {p.first.isoformat()} to {p.last.isoformat()} ({p.timezone})",
        f"Status: {invoice.status.value}",
    ]
    if invoice.issued_at is not None:
        facts.append(f"Issued: {_local(invoice, invoice.issued_at).date().isoformat()}")
    for fact in facts:
        pdf.cell(0, 6, _latin(fact), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (24, 24, 44, 68, 30)
    pdf.set_font("Helvetica", "B", 9)
    for width, title in zip(widths, ("Date", "Kind", "Lead", "Memo", "Amount"), strict=True):
        pdf.cell(width, 7, title, border="B", align="R" if title == "Amount" else "L")
    pdf.ln()
    pdf.set_font("Helvetica", "", 9)
    for x in invoice.lines:
        day = _local(invoice, x.at).date()
        cells = (day.isoformat(), x.kind.value, x.lead_id or "", (x.memo or "")[:40], str(x.amount))
        for width, text in zip(widths, cells, strict=True):
            pdf.cell(width, 6, _latin(text), align="R" if width == widths[-1] else "L")
        pdf.ln()
    if not invoice.lines:
        pdf.cell(0, 6, "No lines in this period.", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    t = invoice.totals
    pdf.set_font("Helvetica", "B", 10)
    for label, amount in (("Charges", t.charges), ("Credits", t.credits), ("Total", t.total)):
        pdf.cell(sum(widths[:-1]), 7, label, align="R")
        pdf.cell(widths[-1], 7, f"{amount} {invoice.currency}", align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
