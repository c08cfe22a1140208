"""create_app(): the HTTP API (and, in `serve`, the workers in the same process)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from leadrelay import __version__
from leadrelay.bootstrap import build_runtime
from leadrelay.config import Settings, load_settings
from leadrelay.entrypoints.api import (
    admin,
    alerts,
    availability,
    batches,
    credentials,
    dashboard,
    distributions,
    errors,
    guards,
    holds,
    invoices,
    leads,
    ledger,
    offers,
    openapi,
    operations,
    partner_health,
    ping,
    postbacks,
    privacy,
    probes,
    reports,
    returns,
    shared_routes,
    simulate,
    suppression,
    wallets,
)
from leadrelay.entrypoints.api.deps import KeyCache
from leadrelay.entrypoints.web import console, forms
from leadrelay.entrypoints.web import leads as console_leads
from leadrelay.errors import LeadrelayError
from leadrelay.services.hosted_form import forget_old_windows
from leadrelay.services.retention import sweep

log = logging.getLogger("leadrelay.api")


class LeadrelayAPI(FastAPI):
    """FastAPI, with ``POST /v1/leads`` answered before the framework's middleware, routing and dependency
    resolution: on the intake hot path they cost more than the work itself. Everything else, including
    the documentation of that endpoint, is ordinary FastAPI."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                guards.check_request_line(scope)
            except LeadrelayError as exc:
                await errors.error_response(exc)(scope, receive, send)
                return
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == "/v1/leads"
            and _has_credential(scope)  # else the framework's route: a console session, or a 401
        ):
            try:
                await leads.intake_fast_path(scope, receive, send, self.state.runtime, self.state.source_keys)
            except Exception:
                log.exception("unhandled error in intake")
                response = JSONResponse({"code": "internal_error", "detail": "internal server error"}, 500)
                await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _has_credential(scope: Scope) -> bool:
    return any(name in _CREDENTIAL_HEADERS for name, _ in scope["headers"])


_CREDENTIAL_HEADERS = frozenset({b"authorization", b"x-api-key", b"Authorization", b"X-API-Key"})


def create_app(settings: Settings | None = None, *, workers: int | None = None) -> FastAPI:
    settings = settings or load_settings()
    worker_count = settings.workers if workers is None else workers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = build_runtime(settings)
        app.state.runtime = runtime
        await asyncio.to_thread(console_leads.sweep_folders)  # CSV imports' folders left by a dead process
        # and every hour after: a folder left by a crash shortly before this start is a day old later
        folders = asyncio.create_task(
            sweep("console imports' folders", lambda: asyncio.to_thread(console_leads.sweep_folders))
        )
        counts = asyncio.create_task(  # the hosted form's post counts of past windows
            sweep("hosted form counts", lambda: forget_old_windows(runtime.storage), every_s=60)
        )
        runtime.start_wakeups()
        runtime.start_workers(worker_count)
        try:
            yield
        finally:
            counts.cancel()
            folders.cancel()
            await runtime.stop()

    app = LeadrelayAPI(
        title="leadrelay",
        version=__version__,
        summary="Real-time lead distribution: intake, routing under exact caps, delivery, a true record.",
        lifespan=lifespan,
        max_body_size=settings.max_request_bytes,  # 413 past it; the upload routes set their own
        responses=openapi.COMMON_RESPONSES,  # the error model, on every route
    )
    app.state.source_keys = KeyCache("key", "source")
    app.state.partner_keys = KeyCache("key", "partner")
    app.state.admin_tokens = KeyCache("token")
    errors.install(app)
    openapi.install(app)

    # the probes come first: a request is matched against the routes in order, and FastAPI builds an
    # included router's routes when a request is first matched against it. After the routers, a process's
    # first probe built every router's routes (86 of them, 0.13 s of CPU); here it builds none, and each
    # router's routes are built by the first request that reaches it (a process that only takes probes and
    # leads, as a load balancer and a source call it, never builds the admin routes). Their routes are
    # shared by every app of the process, as the others are: built per app, the three probes took about 6 ms
    # of a test server's 40 ms of CPU to start and stop
    shared_routes.include(app, probes.router)
    shared_routes.include(  # in this order: the first route that matches answers
        app,
        leads.router,
        ping.router,
        offers.router,
        postbacks.router,  # no key: the URL's signature is the credential
        distributions.router,
        suppression.router,  # before admin: its /v1/{kind}/{name} would match first
        privacy.router,  # before admin too (DELETE /v1/leads/{id})
        holds.router,
        batches.router,
        credentials.router,  # before admin too (GET /v1/admin/tokens)
        availability.router,  # before admin: GET /v1/availability
        partner_health.router,  # before admin: GET /v1/partners/health
        ledger.router,  # before admin: GET /v1/ledger
        alerts.router,  # before admin: GET /v1/alerts
        wallets.router,  # before admin: GET /v1/wallets
        returns.router,  # before admin too (/v1/returns…)
        invoices.router,  # before admin: GET /v1/invoices
        reports.router,  # before admin: GET /v1/reports
        simulate.router,  # POST /v1/simulate, /v1/backtest
        dashboard.router,  # before admin: GET /v1/dashboard
        admin.router,
        forms.router,  # the hosted lead form: HTML pages at /f/{source}/{entity}
    )

    shared_routes.include(app, operations.router)
    console.install(app)

    return app


# The routes that declare no permission (every other route has a ``deps.Require`` or a console page's
# ``SignedIn``): the API's documentation, health and metrics, postbacks (the URL's signature is their
# credential), and the console's login and invitation pages and static files.
PUBLIC_PATHS = frozenset(
    {
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/health",
        "/ready",
        "/health/ready",
        "/metrics",
        "/v1/postbacks/{delivery_id}",
        "/console/login",
        "/console/invite/{token}",
        "/console/static",
        # the hosted lead form: the consumer's own page (the source opted in; signed form tokens)
        "/f/{source}/{entity}",
        "/f/{source}/{entity}/offers/{offer_id}",
    }
)


def app_factory() -> FastAPI:
    """For `uvicorn --factory leadrelay.entrypoints.api.app:app_factory`."""
    return create_app()
