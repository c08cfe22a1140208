"""``GET /health`` (liveness) and ``GET /ready`` (readiness): what a load balancer and an orchestrator
call. Open, like ``/metrics``; they come first among the app's routes (``app.create_app``)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from leadrelay.adapters.db.readiness import check_claiming, check_ready

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process answers (touches nothing)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


async def ready(request: Request) -> dict[str, str | float]:
    """Readiness: the database answers within 2 s with this version's schema, and workers claim the
    jobs (none has waited to be claimed longer than ``LEADRELAY_READY_MAX_JOB_AGE``, 60 s; 0 skips
    this check). 503 with ``{code, detail}``: the detail names the check that failed."""
    runtime = request.app.state.runtime
    answer: dict[str, str | float] = dict(await check_ready(runtime.db))
    max_age = runtime.settings.ready_max_job_age
    if max_age > 0:
        answer["oldest_due_seconds"] = round(await check_claiming(runtime.db, max_age), 3)
    return answer


for _path in ("/ready", "/health/ready"):  # /health/ready: the name it had first
    router.add_api_route(
        _path,
        ready,
        methods=["GET"],
        summary="Readiness: the database answers with this version's schema, and workers claim jobs",
        responses={503: {"description": "Not ready: `{code, detail}` says which check failed"}},
    )
