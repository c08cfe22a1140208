"""create_app(): the HTTP API (and, in `serve`, the workers in the same process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from leadrelay import __version__
from leadrelay.bootstrap import build_runtime
from leadrelay.config import Settings, load_settings
from leadrelay.entrypoints.api import admin, distributions, errors, leads
from leadrelay.entrypoints.api.deps import KeyCache


def create_app(settings: Settings | None = None, *, workers: int | None = None) -> FastAPI:
    settings = settings or load_settings()
    worker_count = settings.workers if workers is None else workers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = build_runtime(settings)
        app.state.runtime = runtime
        runtime.start_workers(worker_count)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="leadrelay",
        version=__version__,
        summary="Real-time lead distribution: intake, routing under exact caps, delivery, a true record.",
        lifespan=lifespan,
    )
    app.state.source_keys = KeyCache()
    app.state.admin_tokens = KeyCache()
    errors.install(app)
    app.include_router(leads.router)
    app.include_router(distributions.router)
    app.include_router(admin.router)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def app_factory() -> FastAPI:
    """For `uvicorn --factory leadrelay.entrypoints.api.app:app_factory`."""
    return create_app()
