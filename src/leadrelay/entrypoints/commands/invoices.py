"""`leadrelay invoices`: draft, list, show, issue, pay, void and export partners' invoices and sources'
statements (see ``services.invoicing``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadrelay.adapters.documents.invoices import invoice_csv, invoice_pdf, invoice_view
from leadrelay.bootstrap import Runtime
from leadrelay.domain.invoices import Invoice, InvoiceStatus
from leadrelay.domain.ledger import Party
from leadrelay.entrypoints.commands.common import (
    DbOption,
    actor,
    check_folder,
    fail,
    out,
    print_rows,
    write_file,
)
from leadrelay.entrypoints.commands.runtime import print_json, with_runtime
from leadrelay.errors import ValidationFailed

invoices_app = typer.Typer(help="Partners' invoices and sources' statements.", no_args_is_help=True)

PartnerOption = Annotated[str | None, typer.Option(help="A partner's invoice.")]
SourceOption = Annotated[str | None, typer.Option(help="A source's statement.")]


def _party(partner: str | None, source: str | None) -> tuple[Party, str]:
    if (partner is None) == (source is None):
        raise fail("give exactly one of --partner or --source", 2)
    return (Party.PARTNER, partner) if partner is not None else (Party.SOURCE, source or "")


def _summary(invoice: Invoice) -> str:
    return (
        f"{invoice.title.lower()} {invoice.id} {invoice.number or '(draft)'}:"
        f" {invoice.party} {invoice.period.label},"
        f" {len(invoice.lines)} lines, total {invoice.total} {invoice.currency}, {invoice.status}"
    )


@invoices_app.command("draft")
def draft(
    period: Annotated[str, typer.Option(help="A month (2026-11) or a day (2026-11-30) of the period.")],
    partner: PartnerOption = None,
    source: SourceOption = None,
    database_url: DbOption = None,
) -> None:
    """Draft (or regenerate) the invoice of a partner's period, or the statement of a source's."""
    party_kind, party = _party(partner, source)

    async def go(rt: Runtime) -> Invoice:
        try:
            return await rt.invoices.draft(party_kind, party, period, actor=actor())
        except ValidationFailed as exc:
            raise fail("; ".join(f"--{p.field}: {p.error}" for p in exc.problems), 2) from exc

    invoice = with_runtime(database_url, go)
    out.print(_summary(invoice))


@invoices_app.command("list")
def list_(
    partner: PartnerOption = None,
    source: SourceOption = None,
    status: Annotated[InvoiceStatus | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    database_url: DbOption = None,
) -> None:
    """Invoices and statements, newest first."""
    party_kind, party = (None, None) if partner is None and source is None else _party(partner, source)
    found = with_runtime(
        database_url,
        lambda rt: rt.invoices.find(party_kind=party_kind, party=party, status=status, limit=limit),
    )
    columns = ("id", "number", "party", "period", "status", "lines", "total")
    rows = [
        (i.id, i.number or "", f"{i.party_kind}:{i.party}", i.period.label, i.status.value, str(len(i.lines)),
         f"{i.total} {i.currency}")
        for i in found
    ]  # fmt: skip
    print_rows(columns, rows, no_wrap=("id", "number"))


@invoices_app.command("show")
def show(invoice_id: str, database_url: DbOption = None) -> None:
    """One invoice with its lines (JSON)."""
    print_json(invoice_view(with_runtime(database_url, lambda rt: rt.invoices.get(invoice_id))))


@invoices_app.command("issue")
def issue(invoice_id: str, database_url: DbOption = None) -> None:
    """Issue a draft: it gets its number, its lines and total are frozen, its deliveries are invoiced."""
    out.print(_summary(with_runtime(database_url, lambda rt: rt.invoices.issue(invoice_id, actor=actor()))))


@invoices_app.command("pay")
def pay(invoice_id: str, database_url: DbOption = None) -> None:
    """Mark an issued invoice paid: a payment entry for its total is posted to the ledger."""
    out.print(_summary(with_runtime(database_url, lambda rt: rt.invoices.pay(invoice_id, actor=actor()))))


@invoices_app.command("void")
def void(invoice_id: str, database_url: DbOption = None) -> None:
    """Void an issued, unpaid invoice: its entries go to the next invoice; its number stays used."""
    out.print(_summary(with_runtime(database_url, lambda rt: rt.invoices.void(invoice_id, actor=actor()))))


@invoices_app.command("export")
def export(
    invoice_id: str,
    output: Annotated[Path, typer.Option("--output", "-o", help="The file to write (.csv or .pdf).")],
    database_url: DbOption = None,
) -> None:
    """Write an invoice as CSV or PDF (by the file's extension)."""
    suffix = output.suffix.lower()
    if suffix not in (".csv", ".pdf"):
        raise fail(f"--output: must end in .csv or .pdf, not {output.name!r}", 2)
    check_folder(output, "--output")
    invoice = with_runtime(database_url, lambda rt: rt.invoices.get(invoice_id))
    write_file(output, invoice_csv(invoice) if suffix == ".csv" else invoice_pdf(invoice), "--output")
    out.print(f"wrote {output}")
