"""Batched deliveries (email digests, batch files): the log of batches, their files, redelivery.

``GET /v1/batches`` (newest first, by ``partner`` and ``status``), ``GET /v1/batches/waiting`` (leads
waiting for each partner's next batch), ``GET /v1/batches/{id}`` (its leads and attempts),
``GET /v1/batches/{id}/file`` (the file as the partner gets it; audited) and
``POST /v1/batches/{id}/redeliver`` (send it again, same leads, same name; audited).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from leadrelay.domain.states import BatchStatus
from leadrelay.entrypoints.api.deps import ActDep, PrivacyDep, RuntimeDep, ViewDep

router = APIRouter(prefix="/v1", tags=["batches"])

STATUSES = tuple(BatchStatus)


@router.get("/batches", summary="Batch files and digests, newest first")
async def list_batches(
    rt: RuntimeDep,
    _admin: ViewDep,
    partner: str | None = None,
    status: Annotated[str | None, Query(pattern=f"^({'|'.join(BatchStatus)})$")] = None,
) -> dict[str, Any]:
    return {"items": await rt.batches.find(partner, status)}


@router.get("/batches/waiting", summary="Leads waiting for each partner's next batch")
async def waiting(rt: RuntimeDep, _admin: ViewDep) -> list[dict[str, Any]]:
    return await rt.batches.waiting()


@router.get("/batches/{batch_id}", summary="A batch: its leads and every attempt to deliver it")
async def show(batch_id: str, rt: RuntimeDep, _admin: ViewDep) -> dict[str, Any]:
    return await rt.batches.show(batch_id)


@router.get(
    "/batches/{batch_id}/file",
    summary="The batch's file as the partner gets it, sensitive values opened (privacy; audited)",
    response_class=Response,
    responses={
        200: {
            "description": "The file, in the partner's format",
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in (
                    "text/csv",
                    "application/json",
                    "application/x-ndjson",
                    "application/xml",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "application/octet-stream",
                )
            },
        }
    },
)
async def download(batch_id: str, rt: RuntimeDep, admin: PrivacyDep) -> Response:
    name, media_type, data = await rt.batches.file(batch_id, actor=admin)
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(data, media_type=media_type, headers=headers)


@router.post("/batches/{batch_id}/redeliver", summary="Deliver a batch again: same leads, same file name")
async def redeliver(batch_id: str, rt: RuntimeDep, admin: ActDep) -> dict[str, Any]:
    return await rt.batches.redeliver(batch_id, actor=admin)
