"""Alerts over the admin API: every rule with its current state, and the latest messages sent. See
``services.alerts``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from leadrelay.entrypoints.api.deps import RuntimeDep, ViewDep

router = APIRouter(prefix="/v1", tags=["alerts"])


@router.get("/alerts", summary="Alert rules with their state (ok, firing), and the latest messages sent")
async def list_alerts(
    rt: RuntimeDep, _admin: ViewDep, events: Annotated[int, Query(ge=0, le=1000)] = 50
) -> dict[str, Any]:
    return await rt.alerts.overview(events)
