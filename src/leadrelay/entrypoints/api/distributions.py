"""The distribution log and its actions: list, detail, resend, rerun, cancel; the audit log."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from leadrelay.domain.access import Permission, allows
from leadrelay.domain.instants import utc_instant
from leadrelay.domain.log_filter import DistributionFilter
from leadrelay.domain.states import JobStatus, LeadStatus
from leadrelay.entrypoints.api.deps import ActDep, RuntimeDep, ViewDep, ViewerDep
from leadrelay.entrypoints.api.guards import StoredText

router = APIRouter(prefix="/v1", tags=["distributions"])


class ActionBody(BaseModel):
    reason: StoredText | None = Field(default=None, max_length=2000)


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?")


def _rfc3339(value: object) -> object:
    """A date and time as the document says (``2026-01-31T08:00:00Z``; without an offset, UTC), not the
    numbers or bare dates pydantic would also read."""
    if value is not None and not (isinstance(value, str) and _RFC3339.fullmatch(value)):
        raise ValueError("must be a date and time such as 2026-01-31T08:00:00Z")
    return value


def _in_utc(value: datetime | None) -> datetime | None:
    """In UTC (without an offset: UTC); a 422 naming the parameter when that is outside the calendar."""
    return utc_instant(value) if value is not None else None


def _cursor(prefix: str) -> str:
    """A page's ``next_cursor``: an id of the list's kind (any other text paged nowhere, or everywhere)."""
    return rf"^{prefix}_[0-9a-hjkmnp-tv-z]{{24}}$"


Instant = Annotated[datetime | None, BeforeValidator(_rfc3339), AfterValidator(_in_utc)]


def _utc(value: datetime | None) -> datetime | None:
    """A time without a zone is read as UTC (the log stores UTC)."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@router.get("/distributions", summary="The distribution log, newest first")
async def list_distributions(
    rt: RuntimeDep,
    _admin: ViewDep,
    status: JobStatus | None = None,
    partner: str | None = None,
    profile: str | None = None,
    source: str | None = None,
    lead: str | None = None,
    rule: str | None = None,
    since: Instant = None,
    until: Instant = None,
    cursor: Annotated[
        str | None, Query(pattern=_cursor("job"), description="next_cursor of the page before")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    f = DistributionFilter(
        status, partner, profile, source, lead, _utc(since), _utc(until), cursor, limit, rule=rule
    )
    return await rt.logview.distributions(f)


@router.get("/distributions/{job_id}", summary="One distribution: routing trace and delivery attempts")
async def get_distribution(job_id: str, rt: RuntimeDep, caller: ViewerDep) -> dict[str, Any]:
    """Each delivery's signed ``postback_url`` (a credential) only for a caller who may configure."""
    signed = allows(caller.role, Permission.CONFIGURE) or allows(caller.role, Permission.SECRETS)
    return await rt.logview.distribution(job_id, postback_urls=signed)


@router.post("/distributions/{job_id}/resend", summary="Resend a delivered lead to the same partner")
async def resend(
    job_id: str, rt: RuntimeDep, admin: ActDep, body: ActionBody | None = None
) -> dict[str, Any]:
    new_jobs = await rt.actions.resend(job_id, actor=admin, reason=body.reason if body else None)
    return {"status": LeadStatus.QUEUED, "job_id": new_jobs[0], "job_ids": new_jobs, "original_id": job_id}


@router.post("/distributions/{job_id}/rerun", summary="Route a failed or stuck job again")
async def rerun(job_id: str, rt: RuntimeDep, admin: ActDep, body: ActionBody | None = None) -> dict[str, Any]:
    await rt.actions.rerun(job_id, actor=admin, reason=body.reason if body else None)
    return {"status": JobStatus.RECEIVED, "job_id": job_id}


@router.post("/distributions/{job_id}/cancel", summary="Cancel a delivered, not invoiced distribution")
async def cancel(
    job_id: str, rt: RuntimeDep, admin: ActDep, body: ActionBody | None = None
) -> dict[str, Any]:
    new_job = await rt.actions.cancel(job_id, actor=admin, reason=body.reason if body else None)
    return {"status": JobStatus.CANCELLED, "job_id": job_id, "redistributed_as": new_job}


@router.get("/audit", summary="The audit log: every action and configuration change")
async def audit(
    rt: RuntimeDep,
    _admin: ViewDep,
    cursor: Annotated[
        str | None, Query(pattern=_cursor("aud"), description="next_cursor of the page before")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    return await rt.logview.audit(cursor, limit)
