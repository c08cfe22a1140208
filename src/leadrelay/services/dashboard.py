"""The console's dashboard (issue 12 point 2): what happened over the last hours and how things stand now,
read in one read transaction from bounded, indexed sources — never a scan of the leads:

- leads per hour by their intake outcome, sales, revenue, acceptance rates and delivery latencies per
  partner and per source: three reports of the window read together (``services.reports.reports_tx``):
  per hour, per partner and per source, each summed in SQL from the hourly and daily rollups, plus the
  hours after the rollup's watermark computed once from the tables (see ``domain.reports`` for what each
  counter counts). The hours are UTC hours shown in the dashboard's zone (any zone, even one half an hour
  off UTC: an hour is never cut). What is read is bounded by the hours, partners and sources, not by the
  leads;
- the cap windows in force now with their use and pacing's allowance (``services.reservations.cap_usage``,
  one read of the counters);
- the queue's depth and the oldest job waiting to be claimed (``tx.dashboard``, the counts ``/metrics``
  shows), the circuit breakers not closed (``tx.caps.breakers``), the newest alert messages
  (``tx.alerts.events``).

Leads "by status" are by their outcome at intake (accepted, rejected, duplicates, suppressed: they add up
to the leads received), the figures the rollup keeps per hour; a lead's later status (delivered, unsold …)
is the log's subject, which reads it per lead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from leadrelay.domain.ledger import DEFAULT_CURRENCY
from leadrelay.domain.reports import HOUR, LATENCY, LEAD_COUNTERS, Grain, floor_hour
from leadrelay.errors import FieldProblem, ValidationFailed
from leadrelay.services.config_in_force import ConfigCache, LiveConfig
from leadrelay.services.dashboard_figures import (
    AlertSent,
    Dashboard,
    lead_hours,
    open_breakers,
    partner_figures,
    source_figures,
)
from leadrelay.services.ports import Storage, Tx
from leadrelay.services.reports import ReportCache, ReportQuery, reports_tx
from leadrelay.services.reservations import CapUse, cap_usage

DEFAULT_HOURS = 24
MAX_HOURS = 24 * 7
"""The longest window of the dashboard (a week of hourly bars)."""

RECENT_ALERTS = 10
"""How many of the newest alert messages the dashboard shows."""

_PERIODS = ("hour", "day", "week", "month", "total")
# the counters each of the dashboard's reports sums from the rollup (``domain.reports.COUNTERS``)
_PARTNER_COUNTERS = ("offered", "sold", "revenue", "attempts", *LATENCY)
_SOURCE_COUNTERS = (*LEAD_COUNTERS, "sold", "revenue", "payout", "margin")


@dataclass(frozen=True, slots=True)
class DashboardQuery:
    hours: int
    zone: tzinfo
    zone_name: str


def dashboard_query(*, hours: int | str | None = None, zone: str | None = None) -> DashboardQuery:
    """The dashboard asked for, or ``ValidationFailed`` naming every bad parameter: ``hours``, the window
    up to the end of the current hour (1 to ``MAX_HOURS``, default 24); ``zone``, an IANA time zone the
    hours are shown in (default UTC)."""
    problems: list[FieldProblem] = []
    span = DEFAULT_HOURS
    if hours is not None:
        try:
            span = int(hours)
        except ValueError:
            problems.append(FieldProblem("hours", f"a whole number of hours: not {hours!r}"))
        else:
            if not 1 <= span <= MAX_HOURS:
                problems.append(FieldProblem("hours", f"from 1 to {MAX_HOURS}: not {span}"))
    where: tzinfo = UTC
    name = zone or "UTC"
    if zone:
        try:
            where = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory's name, …
            problems.append(FieldProblem("zone", f"not a known time zone: {zone!r}"))
    if problems:
        raise ValidationFailed(problems, "bad dashboard parameters: " + ", ".join(p.field for p in problems))
    return DashboardQuery(span, where, name)


def _cap_order(cap: CapUse) -> tuple[str, str, int]:
    return (cap.partner, cap.scope, _PERIODS.index(cap.period.value))


# ---------------------------------------------------------------- the use case


def window(query: DashboardQuery, now: datetime) -> tuple[datetime, datetime]:
    """The UTC hours the dashboard covers at ``now``: (its first hour, the end of the current hour)."""
    until = floor_hour(now) + HOUR
    return until - query.hours * HOUR, until


def dashboard_tx(
    tx: Tx,
    live: LiveConfig,
    query: DashboardQuery,
    now: datetime,
    *,
    alerts: int = RECENT_ALERTS,
    cache: ReportCache | None = None,
) -> Dashboard:
    """The dashboard at ``now``, in the caller's (read) transaction; ``cache``: what the process keeps of
    the reports between requests (``services.reports.ReportCache``)."""
    since, until = window(query, now)
    per_hour, per_partner, per_source = reports_tx(
        tx,
        [
            ReportQuery((), Grain.HOUR, since, until, query.zone, LEAD_COUNTERS),
            # totals over the window: UTC days (whole ones from the daily rollup), summed here
            ReportQuery(("partner",), Grain.DAY, since, until, UTC, _PARTNER_COUNTERS),
            ReportQuery(("source",), Grain.DAY, since, until, UTC, _SOURCE_COUNTERS),
        ],
        now,
        cache,
    )
    specs = live.specs
    return Dashboard(
        zone=query.zone_name,
        since=since,
        until=until,
        now=now,
        rolled_until=per_hour.rolled_until,
        currency=DEFAULT_CURRENCY,
        leads=lead_hours(per_hour.lines, since, until, query.zone),
        partners=partner_figures(per_partner.lines, specs.partners),
        sources=source_figures(per_source.lines, specs.sources),
        caps=sorted(cap_usage(tx, live, now), key=_cap_order),
        queue=tx.dashboard.queue_depth(now),
        breakers=open_breakers(tx.caps.breakers()),
        alerts=[
            AlertSent(r.id, r.alert, r.state, r.detail, r.sent_at, r.error)
            for r in tx.alerts.events(None, alerts)
        ],
    )


async def show_dashboard(
    storage: Storage,
    configs: ConfigCache,
    query: DashboardQuery,
    now: datetime,
    cache: ReportCache | None = None,
) -> Dashboard:
    """The dashboard at ``now`` (one read transaction, off the event loop)."""
    return await storage.run_read(lambda tx: dashboard_tx(tx, configs.current(tx), query, now, cache=cache))
