"""Personal data: an operator's view of a stored lead, and erasure (``DELETE /v1/leads/{id}``,
``POST /v1/erasures`` by email or phone)."""

from __future__ import annotations

import asyncio
from typing import Any

import phonenumbers
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from leadrelay.entrypoints.api.deps import PrivacyDep, RuntimeDep

router = APIRouter(prefix="/v1", tags=["privacy"])


@router.get("/leads/{lead_id}/record", summary="The stored lead (sensitive values masked unless revealed)")
async def lead_record(
    lead_id: str, rt: RuntimeDep, admin: PrivacyDep, reveal: bool = False
) -> dict[str, Any]:
    """``reveal=true`` opens the encrypted sensitive fields; every reveal is written to the audit log."""
    return await asyncio.to_thread(rt.privacy.lead_record, lead_id, reveal=reveal, actor=admin)


@router.delete("/leads/{lead_id}", summary="Erase a lead's personal data (the business record stays)")
async def erase_lead(lead_id: str, rt: RuntimeDep, admin: PrivacyDep) -> dict[str, Any]:
    erased = await rt.privacy.erase_lead(lead_id, actor=admin)
    return {"lead_id": lead_id, "erased": True, "already_erased": not erased}


_ERASURE_SCHEMA: dict[str, Any] = {  # what the handler accepts: an email, a phone, or both
    "anyOf": [{"required": ["email"]}, {"required": ["phone"]}],
    "properties": {
        "email": {"type": "string", "minLength": 1},
        "phone": {"type": "string", "minLength": 1},
        "region": {"enum": sorted(phonenumbers.SUPPORTED_REGIONS)},
    },
}


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_ERASURE_SCHEMA)
    email: str | None = None
    phone: str | None = None
    region: str = "US"


@router.post("/erasures", summary="Erase every lead of a person, found by email and/or phone")
async def erase_person(body: ErasureRequest, rt: RuntimeDep, admin: PrivacyDep) -> dict[str, Any]:
    found = await rt.privacy.erase_person(email=body.email, phone=body.phone, region=body.region, actor=admin)
    return {"leads": found, "count": len(found)}
