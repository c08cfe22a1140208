"""Returns (issue 11, point 4): a partner returns a lead it bought with its own key
(``/v1/partner/returns``); admins request on a partner's behalf, import a CSV, list, approve and deny
(``/v1/returns``). The rules are the partner's ``returns:`` policy (``services.returns``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from leadrelay.domain.after_sale_states import ReturnStatus
from leadrelay.entrypoints.api.deps import ActDep, PartnerDep, RuntimeDep, ViewDep
from leadrelay.entrypoints.api.guards import StoredText
from leadrelay.errors import FieldProblem, ValidationFailed
from leadrelay.services.return_import import import_returns
from leadrelay.services.returns import ReturnRequest

router = APIRouter(prefix="/v1", tags=["returns"])

MAX_CSV_BYTES = 5_000_000


class OwnReturnBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delivery_id: StoredText | None = Field(default=None, max_length=40, description="The delivery returned…")
    lead_id: StoredText | None = Field(
        default=None, max_length=40, description="…or its lead (exactly one of the two)."
    )
    reason: StoredText = Field(max_length=64, description="One of the partner's configured return reasons.")
    note: StoredText | None = Field(default=None, max_length=2000, description="Why, in words.")


class ReturnBody(OwnReturnBody):
    partner: StoredText = Field(max_length=64, description="The partner returning the lead.")


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: StoredText | None = Field(default=None, max_length=2000, description="For the audit log.")


Limit = Annotated[int, Query(ge=1, le=500)]


# ---------------------------------------------------------------- the partner itself, with its own key


@router.post(
    "/partner/returns",
    status_code=201,
    summary="Return a lead the calling partner bought (its returns policy decides; audited)",
)
async def return_own(rt: RuntimeDep, partner: PartnerDep, body: OwnReturnBody = Body(...)) -> dict[str, Any]:
    req = ReturnRequest(partner, body.reason, body.delivery_id, body.lead_id, body.note)
    rec = await rt.returns.request(req, actor=f"partner:{partner}")
    return rec.as_dict()


@router.get("/partner/returns", summary="The calling partner's returns, newest first")
async def list_own(
    rt: RuntimeDep, partner: PartnerDep, status: ReturnStatus | None = None, limit: Limit = 100
) -> dict[str, Any]:
    found = await rt.returns.find(partner=partner, status=status, limit=limit)
    return {"items": [r.as_dict() for r in found]}


@router.get("/partner/returns/{return_id}", summary="One of the calling partner's returns")
async def get_own(return_id: str, rt: RuntimeDep, partner: PartnerDep) -> dict[str, Any]:
    return (await rt.returns.get(return_id, partner=partner)).as_dict()


# ---------------------------------------------------------------- admins


@router.get("/returns", summary="Returns, newest first (filter by partner and status)")
async def list_returns(
    rt: RuntimeDep,
    _admin: ViewDep,
    partner: str | None = None,
    status: ReturnStatus | None = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    found = await rt.returns.find(partner=partner, status=status, limit=limit)
    return {"items": [r.as_dict() for r in found]}


@router.post("/returns", status_code=201, summary="Return a lead on a partner's behalf (its policy decides)")
async def request_return(rt: RuntimeDep, admin: ActDep, body: ReturnBody = Body(...)) -> dict[str, Any]:
    req = ReturnRequest(body.partner, body.reason, body.delivery_id, body.lead_id, body.note)
    return (await rt.returns.request(req, actor=admin)).as_dict()


@router.post(
    "/returns/import",
    summary="Returns from a CSV (lead_id or delivery_id, partner, reason, note): a result per line",
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def import_csv(request: Request, rt: RuntimeDep, admin: ActDep) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise ValidationFailed([FieldProblem("body", f"at most {MAX_CSV_BYTES} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed([FieldProblem("body", "must be UTF-8 text")]) from None
    report = await import_returns(rt.returns, text, actor=admin)
    return {"taken": report.taken, "refused": report.refused, "rows": [r.as_dict() for r in report.rows]}


@router.get("/returns/{return_id}", summary="One return")
async def get_return(return_id: str, rt: RuntimeDep, _admin: ViewDep) -> dict[str, Any]:
    return (await rt.returns.get(return_id)).as_dict()


@router.post(
    "/returns/{return_id}/approve",
    summary="Approve a requested return: the partner credited, the source's payout clawed back (audited)",
)
async def approve(
    return_id: str, rt: RuntimeDep, admin: ActDep, body: DecisionBody | None = None
) -> dict[str, Any]:
    rec = await rt.returns.approve(return_id, actor=admin, note=body.note if body else None)
    return rec.as_dict()


@router.post("/returns/{return_id}/deny", summary="Deny a requested return: the sale stands (audited)")
async def deny(
    return_id: str, rt: RuntimeDep, admin: ActDep, body: DecisionBody | None = None
) -> dict[str, Any]:
    rec = await rt.returns.deny(return_id, actor=admin, note=body.note if body else None)
    return rec.as_dict()
