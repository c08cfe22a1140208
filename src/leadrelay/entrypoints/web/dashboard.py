"""The console's landing page (issue 12, point 2): the dashboard for staff (viewer and up), a short portal
welcome for the partner and source roles.

- ``GET /console?hours=24&zone=Europe/Paris``: the page, with its window selector (the last N hours, a time
  zone the hours are shown in) and the board: leads per hour by outcome, sales and revenue per partner and
  per source (server-rendered SVG, ``entrypoints.web.charts``), acceptance and latency per partner, cap
  usage with pacing, the queue, open circuit breakers and recent alerts (``services.dashboard``).
- ``GET /console/dashboard/board?hours=24&zone=UTC``: the board alone, an HTML fragment ``dashboard.js``
  fetches every 30 seconds to refresh the page in place.

Bad parameters answer 422 with the message next to their field (the page) or in the fragment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from leadrelay.domain.access import Permission, allows
from leadrelay.entrypoints.web import charts
from leadrelay.entrypoints.web.console import UserDep, ViewerPage, _render, navigation
from leadrelay.errors import ValidationFailed
from leadrelay.services.dashboard import DEFAULT_HOURS, MAX_HOURS, dashboard_query, show_dashboard
from leadrelay.services.dashboard_figures import Dashboard

router = APIRouter(prefix="/console", include_in_schema=False)

clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731 — the tests fix the hour
"""The dashboard's "now" (a seam for the tests, which seed a fixed day)."""

REFRESH_SECONDS = 30
WINDOWS = (1, 3, 6, 12, 24, 48, 72, MAX_HOURS)
"""The windows the selector offers (any hours from 1 to ``MAX_HOURS`` is accepted in the URL)."""
ZONES = (
    "UTC",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Paris",
    "Asia/Kolkata",
    "Australia/Sydney",
)
"""Suggested in the zone field (any IANA zone is accepted)."""


# ---------------------------------------------------------------- what the page shows, as text


@dataclass(frozen=True, slots=True)
class PartnerRow:
    partner: str
    offered: int
    sold: int
    acceptance: str
    revenue: str
    attempts: int
    p50: str
    p95: str


def percent(rate: Decimal | None) -> str:
    """A rate (0 to 1) as a percentage with one decimal, "–" when there is none."""
    return "–" if rate is None else f"{rate * 100:.1f} %"


def milliseconds(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"


def duration(seconds: float) -> str:
    """A wait, short: "45 s", "3 min 20 s", "2 h 5 min"."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def _when(at: datetime | None, zone: Any) -> str:
    return "–" if at is None else at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def board_context(board: Dashboard, zone: Any) -> dict[str, Any]:
    """The board's figures as the template shows them (text, charts as SVG markup)."""
    received = sum(h.received for h in board.leads)
    accepted = sum(h.counts["accepted"] for h in board.leads)
    sold = sum(p.sold for p in board.partners)
    revenue = sum((p.revenue for p in board.partners), Decimal(0))
    return {
        "board": board,
        "updated": _when(board.now, zone),
        "totals": {
            "received": received,
            "accepted": accepted,
            "sold": sold,
            "revenue": money(revenue, board.currency),
        },
        "charts": {
            "leads": charts.leads_chart(board),
            "sales_partner": charts.sales_chart(board, by="partner"),
            "revenue_partner": charts.revenue_chart(board, by="partner"),
            "sales_source": charts.sales_chart(board, by="source"),
            "revenue_source": charts.revenue_chart(board, by="source"),
            "caps": charts.caps_chart(board),
        },
        "partners": [
            PartnerRow(
                p.partner,
                p.offered,
                p.sold,
                percent(p.acceptance_rate),
                money(p.revenue, board.currency),
                p.attempts,
                milliseconds(p.latency_p50_ms),
                milliseconds(p.latency_p95_ms),
            )
            for p in board.partners
        ],
        "sources": [
            {
                "source": s.source,
                "received": s.received,
                "accepted": s.accepted,
                "sold": s.sold,
                "revenue": money(s.revenue, board.currency),
                "payout": money(s.payout, board.currency),
                "margin": money(s.margin, board.currency),
            }
            for s in board.sources
        ],
        "queue": {
            "due": board.queue.due,
            "scheduled": board.queue.scheduled,
            "claimed": board.queue.claimed,
            "waiting": board.queue.waiting,
            "oldest": duration(board.queue.oldest_age_s(board.now)) if board.queue.oldest_due else "none",
            "oldest_due": _when(board.queue.oldest_due, zone),
        },
        "breakers": [
            {
                "partner": b.partner,
                "state": b.state.replace("_", " "),
                "opened_at": _when(b.opened_at, zone),
                "retry_at": _when(b.retry_at, zone),
                "reason": b.reason or "–",
            }
            for b in board.breakers
        ],
        "alerts": [
            {
                "alert": a.alert,
                "state": a.state,
                "detail": a.detail,
                "sent_at": _when(a.sent_at, zone),
                "error": a.error,
            }
            for a in board.alerts
        ],
    }


# ---------------------------------------------------------------- pages


async def _board(request: Request, hours: str | None, zone: str | None) -> dict[str, Any]:
    """The page's context: the selector's values, and the board's figures or the problems by field."""
    context: dict[str, Any] = {
        "hours": hours or str(DEFAULT_HOURS),
        "zone": zone or "UTC",
        "windows": WINDOWS,
        "zones": ZONES,
        "refresh": REFRESH_SECONDS,
        "errors": {},
    }
    try:
        query = dashboard_query(hours=hours or None, zone=zone or None)
    except ValidationFailed as exc:
        context["errors"] = {p.field: p.error for p in exc.problems}
        return context
    rt = request.app.state.runtime
    board = await show_dashboard(rt.storage, rt.configs, query, clock(), rt.reports_cache)
    context["hours"] = str(query.hours)
    context.update(board_context(board, query.zone))
    return context


@router.get("", summary="The dashboard (staff) or the portal's welcome (partners, sources)")
async def dashboard(
    request: Request, user: UserDep, hours: str | None = None, zone: str | None = None
) -> Response:
    page: dict[str, Any] = {"user": user, "nav": navigation(user.role), "here": "/console"}
    if not allows(user.role, Permission.VIEW):
        return _render(request, "dashboard.html", page)  # the portal's welcome
    context = page | await _board(request, hours, zone)
    return _render(request, "dashboard/page.html", context, 422 if context["errors"] else 200)


@router.get("/dashboard/board", summary="The dashboard's board alone (refreshed by the page)")
async def dashboard_board(
    request: Request, user: ViewerPage, hours: str | None = None, zone: str | None = None
) -> Response:
    context = {"user": user} | await _board(request, hours, zone)
    return _render(request, "dashboard/board.html", context, 422 if context["errors"] else 200)
