"""The distribution log and its actions: list, detail, resend, rerun, cancel; the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, field_validator

from leadrelay.domain.states import JobStatus, LeadStatus
from leadrelay.entrypoints.api.deps import AdminDep, RuntimeDep
from leadrelay.services.logview import DistributionFilter

router = APIRouter(prefix="/v1", tags=["distributions"])


class ActionBody(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)

    @field_validator("reason")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


def _utc(value: datetime | None) -> datetime | None:
    """A time without a zone is read as UTC (the log stores UTC)."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@router.get("/distributions", summary="The distribution log, newest first")
async def list_distributions(
    rt: RuntimeDep,
    _admin: AdminDep,
    status: JobStatus | None = None,
    partner: str | None = None,
    profile: str | None = None,
    source: str | None = None,
    lead: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    f = DistributionFilter(status, partner, profile, source, lead, _utc(since), _utc(until), cursor, limit)
    return await rt.logview.distributions(f)


@router.get("/distributions/{job_id}", summary="One distribution: routing trace and delivery attempts")
async def get_distribution(job_id: str, rt: RuntimeDep, _admin: AdminDep) -> dict[str, Any]:
    return await rt.logview.distribution(job_id)


@router.post("/distributions/{job_id}/resend", summary="Resend a delivered lead to the same partner")
async def resend(
    job_id: str, rt: RuntimeDep, admin: AdminDep, body: ActionBody | None = None
) -> dict[str, Any]:
    new_jobs = await rt.actions.resend(job_id, actor=admin, reason=body.reason if body else None)
    return {"status": LeadStatus.QUEUED, "job_id": new_jobs[0], "job_ids": new_jobs, "original_id": job_id}


@router.post("/distributions/{job_id}/rerun", summary="Route a failed or stuck job again")
async def rerun(
    job_id: str, rt: RuntimeDep, admin: AdminDep, body: ActionBody | None = None
) -> dict[str, Any]:
    await rt.actions.rerun(job_id, actor=admin, reason=body.reason if body else None)
    return {"status": JobStatus.RECEIVED, "job_id": job_id}


@router.post("/distributions/{job_id}/cancel", summary="Cancel a delivered, not invoiced distribution")
async def cancel(
    job_id: str, rt: RuntimeDep, admin: AdminDep, body: ActionBody | None = None
) -> dict[str, Any]:
    new_job = await rt.actions.cancel(job_id, actor=admin, reason=body.reason if body else None)
    return {"status": JobStatus.CANCELLED, "job_id": job_id, "redistributed_as": new_job}


@router.get("/audit", summary="The audit log: every action and configuration change")
async def audit(
    rt: RuntimeDep,
    _admin: AdminDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    return await rt.logview.audit(cursor, limit)
