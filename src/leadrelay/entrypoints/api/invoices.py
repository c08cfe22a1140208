"""Invoices (partners) and statements (sources): draft, list, show (JSON, CSV, PDF), issue, pay, void; a
partner's own invoices (``/v1/partner/invoices``, issued ones only; another partner's answer 404)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from leadrelay.adapters.documents.invoices import invoice_csv, invoice_pdf, invoice_view
from leadrelay.domain.invoices import Invoice, InvoiceStatus
from leadrelay.domain.ledger import Party
from leadrelay.entrypoints.api.deps import FinanceDep, PartnerDep, RuntimeDep, ViewDep
from leadrelay.errors import FieldProblem, ValidationFailed

router = APIRouter(prefix="/v1", tags=["invoices"])

Format = Literal["json", "csv", "pdf"]


class DraftBody(BaseModel):
    """Exactly one of ``partner`` (an invoice) or ``source`` (a statement), and the period."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [{"required": ["partner"]}, {"required": ["source"]}],
            "properties": {
                "partner": {"type": "string", "maxLength": 64, "description": "An invoice for this partner."},
                "source": {"type": "string", "maxLength": 64, "description": "A statement for this source."},
                "period": {
                    "type": "string",
                    "maxLength": 40,
                    "description": "The period that holds this month (2026-11) or day (2026-11-30), on the"
                    " party's clock.",
                },
            },
        }
    )
    partner: str | None = Field(default=None, max_length=64, description="An invoice for this partner.")
    source: str | None = Field(default=None, max_length=64, description="A statement for this source.")
    period: str = Field(
        max_length=40,
        description="The period that holds this month (2026-11) or day (2026-11-30), on the party's clock.",
    )


def _party(partner: str | None, source: str | None) -> tuple[Party, str]:
    if (partner is None) == (source is None):
        field = "partner" if partner is None else "source"
        raise ValidationFailed([FieldProblem(field, "give exactly one of partner or source")])
    return (Party.PARTNER, partner) if partner is not None else (Party.SOURCE, source or "")


def _document(invoice: Invoice, fmt: Format) -> Any:
    name = invoice.number or f"draft-{invoice.id}"
    if fmt == "csv":
        return Response(
            invoice_csv(invoice),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if fmt == "pdf":
        return Response(
            invoice_pdf(invoice),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    return invoice_view(invoice)


@router.post("/invoices", summary="Draft (or regenerate) the invoice of a partner's or a source's period")
async def draft_invoice(body: DraftBody, rt: RuntimeDep, admin: FinanceDep) -> dict[str, Any]:
    party_kind, party = _party(body.partner, body.source)
    return invoice_view(await rt.invoices.draft(party_kind, party, body.period, actor=admin))


@router.get("/invoices", summary="Invoices and statements, newest first")
async def list_invoices(
    rt: RuntimeDep,
    _admin: ViewDep,
    partner: str | None = None,
    source: str | None = None,
    status: InvoiceStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """``partner`` and ``source`` filter; given both, the invoices of the one and the statements of the
    other."""
    wanted = [(Party.PARTNER, partner), (Party.SOURCE, source)]
    if partner is None and source is None:
        found = await rt.invoices.find(status=status, limit=limit)
    else:
        found = [
            i
            for kind, name in wanted
            if name is not None
            for i in await rt.invoices.find(party_kind=kind, party=name, status=status, limit=limit)
        ]
        found = sorted(found, key=lambda i: (i.created_at, i.id), reverse=True)[:limit]
    return {"items": [invoice_view(i) for i in found]}


@router.get("/invoices/{invoice_id}.csv", summary="An invoice as CSV", response_class=Response)
async def invoice_as_csv(invoice_id: str, rt: RuntimeDep, _admin: ViewDep) -> Any:
    return _document(await rt.invoices.get(invoice_id), "csv")


@router.get("/invoices/{invoice_id}.pdf", summary="An invoice as PDF", response_class=Response)
async def invoice_as_pdf(invoice_id: str, rt: RuntimeDep, _admin: ViewDep) -> Any:
    return _document(await rt.invoices.get(invoice_id), "pdf")


@router.get("/invoices/{invoice_id}", summary="An invoice (JSON; ?format=csv or pdf for the document)")
async def get_invoice(invoice_id: str, rt: RuntimeDep, _admin: ViewDep, format: Format = "json") -> Any:
    return _document(await rt.invoices.get(invoice_id), format)


@router.post("/invoices/{invoice_id}/issue", summary="Issue a draft: numbered, frozen, deliveries invoiced")
async def issue_invoice(invoice_id: str, rt: RuntimeDep, admin: FinanceDep) -> dict[str, Any]:
    return invoice_view(await rt.invoices.issue(invoice_id, actor=admin))


@router.post("/invoices/{invoice_id}/pay", summary="Mark an issued invoice paid (posts the payment)")
async def pay_invoice(invoice_id: str, rt: RuntimeDep, admin: FinanceDep) -> dict[str, Any]:
    return invoice_view(await rt.invoices.pay(invoice_id, actor=admin))


@router.post("/invoices/{invoice_id}/void", summary="Void an issued, unpaid invoice (its entries released)")
async def void_invoice(invoice_id: str, rt: RuntimeDep, admin: FinanceDep) -> dict[str, Any]:
    return invoice_view(await rt.invoices.void(invoice_id, actor=admin))


@router.get(
    "/partner/invoices", summary="The calling partner's invoices (issued, paid or void), newest first"
)
async def list_own_invoices(
    rt: RuntimeDep, partner: PartnerDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    found = await rt.invoices.find(party_kind=Party.PARTNER, party=partner, limit=limit)
    return {"items": [invoice_view(i) for i in found if i.status is not InvoiceStatus.DRAFT]}


@router.get(
    "/partner/invoices/{invoice_id}", summary="One of the calling partner's invoices (?format=csv or pdf)"
)
async def get_own_invoice(
    invoice_id: str, rt: RuntimeDep, partner: PartnerDep, format: Format = "json"
) -> Any:
    return _document(await rt.invoices.get_own(invoice_id, Party.PARTNER, partner), format)
