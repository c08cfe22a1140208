"""Partner availability: check a partner out or back in at once (an agent going on a break, a buyer
pausing), and read who is available. Audited; see ``services.availability``.

Admins do it for any partner (``/v1/partners/{name}/availability``); a partner does it for itself with its
own API key (``/v1/partner/availability``), audited as ``partner:<name>``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from leadrelay.entrypoints.api.deps import ActDep, PartnerDep, RuntimeDep, ViewDep
from leadrelay.entrypoints.api.guards import StoredText
from leadrelay.services.availability import PartnerAvailability

router = APIRouter(prefix="/v1", tags=["partners"])


class AvailabilityBody(BaseModel):
    available: bool = Field(description="true: checked in (offered leads); false: checked out (skipped).")
    note: StoredText | None = Field(default=None, max_length=500, description="Why, for the audit log.")


@router.get("/availability", summary="Every partner's availability")
async def list_availability(rt: RuntimeDep, _admin: ViewDep) -> dict[str, Any]:
    rows = await PartnerAvailability(rt.storage).show()
    return {"items": [row.as_dict() for row in rows]}


@router.get("/partners/{name}/availability", summary="One partner's availability")
async def get_availability(name: str, rt: RuntimeDep, _admin: ViewDep) -> dict[str, Any]:
    (row,) = await PartnerAvailability(rt.storage).show(name)
    return row.as_dict()


@router.put(
    "/partners/{name}/availability",
    summary="Check a partner in or out at once (routing skips an unavailable partner; audited)",
)
async def put_availability(
    name: str, rt: RuntimeDep, admin: ActDep, body: AvailabilityBody = Body(...)
) -> dict[str, Any]:
    row = await PartnerAvailability(rt.storage).set(name, body.available, actor=admin, note=body.note)
    return row.as_dict()


# ---------------------------------------------------------------- the partner itself, with its own key


@router.get("/partner", summary="Who the partner key belongs to, and its availability")
async def whoami(rt: RuntimeDep, partner: PartnerDep) -> dict[str, Any]:
    (row,) = await PartnerAvailability(rt.storage).show(partner)
    return {"name": partner, "available": row.available, "availability": row.as_dict()}


@router.get("/partner/availability", summary="The calling partner's availability")
async def get_own_availability(rt: RuntimeDep, partner: PartnerDep) -> dict[str, Any]:
    (row,) = await PartnerAvailability(rt.storage).show(partner)
    return row.as_dict()


@router.put(
    "/partner/availability",
    summary="The calling partner checks itself in or out at once (routing skips it while out; audited)",
)
async def put_own_availability(
    rt: RuntimeDep, partner: PartnerDep, body: AvailabilityBody = Body(...)
) -> dict[str, Any]:
    row = await PartnerAvailability(rt.storage).set(
        partner, body.available, actor=f"partner:{partner}", note=body.note
    )
    return row.as_dict()
