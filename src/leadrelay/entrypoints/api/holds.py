"""Leads held for pick-up: ``GET /v1/holds``, ``GET /v1/holds.csv``, ``POST /v1/holds/{id}/release``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from leadrelay.entrypoints.api.deps import ActDep, PrivacyDep, RuntimeDep, ViewDep
from leadrelay.entrypoints.api.guards import StoredText
from leadrelay.services.holds import PAGE

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
router = APIRouter(prefix="/v1", tags=["holds"])


CursorQuery = Annotated[
    str | None, Query(max_length=200, description="next_cursor of the page before (its last held lead)")
]


@router.get("/holds", summary="Deliveries held for pick-up (oldest first), a page at a time")
async def list_holds(
    rt: RuntimeDep,
    _admin: ViewDep,
    partner: str | None = None,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=PAGE)] = 500,
) -> dict[str, Any]:
    items, more = await rt.holds.list(partner, after=cursor, limit=limit)
    return {"items": items, "next_cursor": more}


class CSVResponse(Response):
    media_type = "text/csv"


@router.get(
    "/holds.csv",
    summary="Held leads as CSV, with their fields in plaintext (admins only: privacy; audited)",
    response_class=CSVResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The CSV"}},
)
async def export_holds(
    rt: RuntimeDep, admin: PrivacyDep, partner: str | None = None, cursor: CursorQuery = None
) -> Response:
    body, more = await rt.holds.export_csv(partner, actor=admin, after=cursor)
    name = f"holds-{_SAFE.sub('_', partner or 'all')}.csv"  # a header holds latin-1 only
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if more is not None:  # more than a page held: the next file is ?cursor=<this>
        headers["X-Next-Cursor"] = more
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)


class ReleaseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: StoredText | None = Field(default=None, max_length=2000)


@router.post("/holds/{delivery_id}/release", summary="Deliver a held lead again through the first channel")
async def release(
    delivery_id: str, rt: RuntimeDep, admin: ActDep, body: ReleaseBody | None = None
) -> dict[str, Any]:
    job_id = await rt.holds.release(delivery_id, actor=admin, reason=body.reason if body else None)
    return {"delivery_id": delivery_id, "job_id": job_id, "status": "released"}
