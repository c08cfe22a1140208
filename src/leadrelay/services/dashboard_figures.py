"""What the dashboard shows (``services.dashboard``): its figures as plain values, and how they are made
from the lines of the reports it reads — leads per hour, figures per partner and per source — and from the
circuit breakers' states. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any

from leadrelay.domain.health import BreakerState
from leadrelay.domain.reports import Line, add, hours, money_of, percentile, ratio
from leadrelay.services.ports import QueueDepth
from leadrelay.services.reservations import CapUse

LEAD_SERIES = ("accepted", "rejected", "duplicates", "suppressed")
"""The outcomes at intake the leads per hour are split by (they add up to the leads received)."""

# ---------------------------------------------------------------- what the dashboard shows


@dataclass(frozen=True, slots=True)
class LeadHour:
    """One hour's leads (``start``: the hour in the dashboard's zone) by ``LEAD_SERIES``."""

    start: datetime
    counts: Mapping[str, int]

    @property
    def received(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class PartnerFigures:
    """A partner over the window: deliveries offered and sold, the acceptance rate (sold / offered), its
    revenue (its ledger entries: sales less cancellations and returns), and its delivery latency."""

    partner: str
    offered: int
    sold: int
    acceptance_rate: Decimal | None  # None: nothing offered
    revenue: Decimal
    attempts: int
    latency_p50_ms: float | None  # None: no attempt (approximate to the report's latency bucket)
    latency_p95_ms: float | None


@dataclass(frozen=True, slots=True)
class SourceFigures:
    """A source over the window: leads received and accepted, deliveries of them sold, the partners'
    revenue from them, the source's payout and the margin."""

    source: str
    received: int
    accepted: int
    sold: int
    revenue: Decimal
    payout: Decimal
    margin: Decimal


@dataclass(frozen=True, slots=True)
class OpenBreaker:
    partner: str
    state: str  # open | half_open
    opened_at: datetime | None
    retry_at: datetime | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class AlertSent:
    id: str
    alert: str
    state: str  # firing | resolved
    detail: str
    sent_at: datetime
    error: str | None


@dataclass(frozen=True, slots=True)
class Dashboard:
    zone: str
    since: datetime  # UTC, the first hour of the window
    until: datetime  # UTC, the end of the current hour (excluded)
    now: datetime
    rolled_until: datetime | None  # the hours before it came from the rollup, the rest from the tables
    currency: str
    leads: list[LeadHour]  # every hour of the window, oldest first
    partners: list[PartnerFigures]  # by name: the configured partners and any other with figures
    sources: list[SourceFigures]  # by name: the configured sources and any other with figures
    caps: list[CapUse]  # by partner, scope (own caps first) and period
    queue: QueueDepth
    breakers: list[OpenBreaker]  # by partner
    alerts: list[AlertSent]  # newest first

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values: times in ISO 8601 (the hours in the zone, the rest in UTC), money and rates
        as exact decimal text."""
        return {
            "zone": self.zone,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "now": self.now.isoformat(),
            "rolled_until": _iso(self.rolled_until),
            "currency": self.currency,
            "lead_statuses": list(LEAD_SERIES),
            "leads": [
                {
                    "start": h.start.isoformat(),
                    "received": h.received,
                    **{s: h.counts[s] for s in LEAD_SERIES},
                }
                for h in self.leads
            ],
            "partners": [
                {
                    "partner": p.partner,
                    "offered": p.offered,
                    "sold": p.sold,
                    "acceptance_rate": _text(p.acceptance_rate),
                    "revenue": str(p.revenue),
                    "attempts": p.attempts,
                    "latency_p50_ms": p.latency_p50_ms,
                    "latency_p95_ms": p.latency_p95_ms,
                }
                for p in self.partners
            ],
            "sources": [
                {
                    "source": s.source,
                    "received": s.received,
                    "accepted": s.accepted,
                    "sold": s.sold,
                    "revenue": str(s.revenue),
                    "payout": str(s.payout),
                    "margin": str(s.margin),
                }
                for s in self.sources
            ],
            "caps": [
                {
                    "partner": c.partner,
                    "scope": c.scope,
                    "period": c.period.value,
                    "used": c.used,
                    "limit": c.limit,
                    "allowed": c.allowed,
                }
                for c in self.caps
            ],
            "queue": {
                "due": self.queue.due,
                "scheduled": self.queue.scheduled,
                "claimed": self.queue.claimed,
                "waiting": self.queue.waiting,
                "oldest_due": _iso(self.queue.oldest_due),
                "oldest_age_s": round(self.queue.oldest_age_s(self.now), 3),
            },
            "breakers": [
                {
                    "partner": b.partner,
                    "state": b.state,
                    "opened_at": _iso(b.opened_at),
                    "retry_at": _iso(b.retry_at),
                    "reason": b.reason,
                }
                for b in self.breakers
            ],
            "alerts": [
                {
                    "id": a.id,
                    "alert": a.alert,
                    "state": a.state,
                    "detail": a.detail,
                    "sent_at": a.sent_at.isoformat(),
                    "error": a.error,
                }
                for a in self.alerts
            ],
        }


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# ---------------------------------------------------------------- from the report's lines


def lead_hours(lines: Iterable[Line], since: datetime, until: datetime, zone: tzinfo) -> list[LeadHour]:
    """Every hour from ``since`` to ``until`` (UTC hours) with its leads by ``LEAD_SERIES``, summed over
    the report's groups (zeros for an hour without leads)."""
    sums: dict[datetime, dict[str, int]] = {}
    for line in lines:  # by the UTC hour: the local starts of a night the clock falls back hash alike
        add(sums.setdefault(line.start.astimezone(UTC), {}), line.values)
    out = []
    for hour in hours(since, until):
        line = Line(hour, (), sums.get(hour, {}))
        counts = {"accepted": line.accepted} | {s: line.get(s) for s in LEAD_SERIES[1:]}
        out.append(LeadHour(hour.astimezone(zone), counts))
    return out


def _totals(lines: Iterable[Line], names: Iterable[str]) -> dict[str, Line]:
    """The lines of a report by one dimension summed over the window per group (the group "" left out),
    one ``Line`` each, for each name in ``names`` too (zeros when it has none), by name."""
    sums: dict[str, dict[str, int]] = {name: {} for name in names}
    for line in lines:
        (key,) = line.group
        if key:
            add(sums.setdefault(key, {}), line.values)
    start = datetime(2000, 1, 1, tzinfo=UTC)
    return {key: Line(start, (key,), sums[key]) for key in sorted(sums)}


def partner_figures(lines: Iterable[Line], partners: Iterable[str]) -> list[PartnerFigures]:
    """Per partner (the lines of a report by partner), over the window, as the report figures them."""
    return [
        PartnerFigures(
            name,
            line.get("offered"),
            line.get("sold"),
            ratio(line.get("sold"), line.get("offered")),
            money_of(line.get("revenue")),
            line.get("attempts"),
            percentile(line.latency, 0.5),
            percentile(line.latency, 0.95),
        )
        for name, line in _totals(lines, partners).items()
    ]


def source_figures(lines: Iterable[Line], sources: Iterable[str]) -> list[SourceFigures]:
    """Per source (the lines of a report by source), over the window."""
    return [
        SourceFigures(
            name,
            line.get("received"),
            line.accepted,
            line.get("sold"),
            money_of(line.get("revenue")),
            money_of(line.get("payout")),
            money_of(line.get("margin")),
        )
        for name, line in _totals(lines, sources).items()
    ]


def open_breakers(rows: Mapping[str, Mapping[str, Any]]) -> list[OpenBreaker]:
    return [
        OpenBreaker(partner, str(row["state"]), row["opened_at"], row["retry_at"], row["reason"])
        for partner, row in sorted(rows.items())
        if row["state"] != BreakerState.CLOSED.value
    ]
