"""``GET /metrics``: Prometheus metrics (``adapters.observability``), open like ``/health``: keep it on
the operators' network."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.responses import Response

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

log = logging.getLogger("leadrelay.api")

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics: counters of every process, and gauges read from the database",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "The Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    # imported here: prometheus-client picks its (multiprocess) storage when first imported
    from leadrelay.adapters.observability.metrics import CONTENT_TYPE, exposition
    from leadrelay.adapters.observability.scrape import DatabaseUp, SnapshotCollector, read_snapshot

    rt = request.app.state.runtime
    now = datetime.now(UTC)
    collectors: list[Collector] = []
    try:
        live = await rt.configs.get(rt.storage)
        snapshot = await rt.storage.run_read(lambda tx: read_snapshot(tx, live, now))
        collectors = [SnapshotCollector(snapshot), DatabaseUp(True)]
    except Exception:  # the process's own counters are still worth scraping
        log.warning("metrics: reading the database failed", exc_info=True)
        collectors = [DatabaseUp(False)]
    body = await asyncio.to_thread(exposition, collectors)
    return Response(body, media_type=CONTENT_TYPE)
