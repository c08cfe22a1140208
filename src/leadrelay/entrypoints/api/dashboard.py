"""The console's dashboard over the admin API: ``GET /v1/dashboard?hours=24&zone=America/New_York`` (see
``services.dashboard``): leads per hour by their outcome at intake, sales, revenue, acceptance and latency
per partner and per source, the cap windows in force with pacing, the queue, open breakers and the newest
alerts. Money and rates are exact decimal text; the hours are in ``zone``, other times in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from leadrelay.entrypoints.api.deps import RuntimeDep, ViewDep
from leadrelay.services.dashboard import DEFAULT_HOURS, MAX_HOURS, dashboard_query, show_dashboard

router = APIRouter(prefix="/v1", tags=["dashboard"])


class LeadHourBody(BaseModel):
    start: str = Field(description="the hour's start, ISO 8601 in the dashboard's zone")
    received: int = Field(description="accepted + rejected + duplicates + suppressed")
    accepted: int
    rejected: int
    duplicates: int
    suppressed: int


class PartnerBody(BaseModel):
    partner: str
    offered: int = Field(description="deliveries made in the window")
    sold: int = Field(description="deliveries delivered in the window")
    acceptance_rate: str | None = Field(description="sold / offered, 4 places; null: nothing offered")
    revenue: str = Field(description="its sale entries less cancellations and returns, in `currency`")
    attempts: int
    latency_p50_ms: float | None = Field(description="from the reports' latency buckets; null: no attempt")
    latency_p95_ms: float | None


class SourceBody(BaseModel):
    source: str
    received: int
    accepted: int
    sold: int = Field(description="deliveries of its leads delivered in the window")
    revenue: str = Field(description="what the partners paid for its leads")
    payout: str = Field(description="what the source is paid")
    margin: str


class CapBody(BaseModel):
    partner: str
    scope: str = Field(description="empty: the partner's own cap; else the profile it caps the partner in")
    period: str = Field(description="hour | day | week | month | total: the window in force now")
    used: int
    limit: int
    allowed: int | None = Field(description="paced `even`: the leads allowed so far today; else null")


class QueueBody(BaseModel):
    due: int = Field(description="ready and due: waiting for a worker")
    scheduled: int = Field(description="ready from a later time (a retry's backoff)")
    claimed: int
    waiting: int = Field(description="parked until its batch is sent")
    oldest_due: str | None
    oldest_age_s: float = Field(description="how long the oldest due job has waited (0: none waits)")


class BreakerBody(BaseModel):
    partner: str
    state: str = Field(description="open | half_open")
    opened_at: str | None
    retry_at: str | None
    reason: str | None


class AlertBody(BaseModel):
    id: str
    alert: str
    state: str = Field(description="firing | resolved")
    detail: str
    sent_at: str
    error: str | None


class DashboardBody(BaseModel):
    """The dashboard: the window's figures and how things stand now."""

    zone: str
    since: str = Field(description="the window's first hour (UTC)")
    until: str = Field(description="the end of the current hour (UTC, excluded)")
    now: str
    rolled_until: str | None = Field(description="the hours before it were read from the hourly rollup")
    currency: str
    lead_statuses: list[str] = Field(description="the series of `leads`, in stacking order")
    leads: list[LeadHourBody] = Field(description="every hour of the window, oldest first")
    partners: list[PartnerBody]
    sources: list[SourceBody]
    caps: list[CapBody]
    queue: QueueBody
    breakers: list[BreakerBody] = Field(description="circuit breakers not closed")
    alerts: list[AlertBody] = Field(description="the newest alert messages, newest first")


@router.get(
    "/dashboard",
    summary="The console's dashboard: leads, sales, caps, queue, breakers and alerts",
    response_model=DashboardBody,
)
async def get_dashboard(
    rt: RuntimeDep,
    _viewer: ViewDep,
    hours: Annotated[
        int, Query(ge=1, le=MAX_HOURS, description="the window: the last N hours, the current one included")
    ] = DEFAULT_HOURS,
    zone: Annotated[str, Query(description="IANA time zone the hours are shown in")] = "UTC",
) -> dict[str, Any]:
    query = dashboard_query(hours=hours, zone=zone)
    board = await show_dashboard(rt.storage, rt.configs, query, datetime.now(UTC), rt.reports_cache)
    return board.as_dict()
