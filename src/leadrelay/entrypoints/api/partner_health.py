"""Partner health over the admin API: each partner's post latency percentiles, error and timeout rates over
its breaker's window, and its circuit breaker. See ``services.health``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from leadrelay.entrypoints.api.deps import RuntimeDep, ViewDep
from leadrelay.services.health_report import PartnerHealth

router = APIRouter(prefix="/v1", tags=["partners"])


@router.get("/partners/health", summary="Every partner's health and circuit breaker")
async def list_health(rt: RuntimeDep, _admin: ViewDep) -> dict[str, Any]:
    rows = await PartnerHealth(rt.storage, rt.configs).show()
    return {"items": [row.as_dict() for row in rows]}


@router.get("/partners/{name}/health", summary="One partner's health and circuit breaker")
async def get_health(name: str, rt: RuntimeDep, _admin: ViewDep) -> dict[str, Any]:
    (row,) = await PartnerHealth(rt.storage, rt.configs).show(name)
    return row.as_dict()
