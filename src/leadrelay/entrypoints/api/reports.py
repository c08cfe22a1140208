"""Reports over the admin API: ``GET /v1/reports?by=partner,source&grain=day&since=&until=&tz=&format=csv``
(see ``services.reports``). JSON: ``{"by", "grain", "tz", "since", "until", "rolled_until", "columns",
"items"}``; CSV: a header line, then one line per item (money and rates as exact decimals)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.responses import JSONResponse, Response

from leadrelay.entrypoints.api.deps import RuntimeDep, ViewDep
from leadrelay.services.reports import report, report_query

router = APIRouter(prefix="/v1", tags=["reports"])

_NAME = "(source|entity|partner|profile)"
_BY = f"^{_NAME}(,{_NAME})?$"


@router.get(
    "/reports",
    summary="Counts, money, latency and auctions by one or two dimensions and a grain",
    responses={
        200: {
            "description": "The report: JSON (``format=json``) or CSV (``format=csv``)",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def get_report(
    rt: RuntimeDep,
    _admin: ViewDep,
    by: Annotated[
        str,
        Query(description="one or two of source, entity, partner, profile (comma separated)", pattern=_BY),
    ] = "partner",
    grain: Annotated[Literal["hour", "day", "month"], Query()] = "day",
    since: Annotated[str | None, Query(description="ISO date or time (default: by the grain)")] = None,
    until: Annotated[str | None, Query(description="ISO date or time, excluded (default: now)")] = None,
    tz: Annotated[str | None, Query(description="IANA time zone of the buckets (default UTC)")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    now = datetime.now(UTC)
    query = report_query(by=by, grain=grain, since=since, until=until, tz=tz, now=now)
    rep = await report(rt.storage, query, now, rt.reports_cache)
    if format == "csv":
        return Response(rep.to_csv(), media_type="text/csv; charset=utf-8")
    return JSONResponse(
        {
            "by": list(query.dims),
            "grain": query.grain.value,
            "tz": str(query.zone),
            "since": query.since.isoformat(),
            "until": query.until.isoformat(),
            "rolled_until": rep.rolled_until.isoformat() if rep.rolled_until else None,
            "columns": list(rep.columns),
            "items": rep.records(),
        }
    )
