"""The routing simulator's and backtest's results as JSON (``services.simulation``): what ``POST
/v1/simulate``, ``POST /v1/backtest`` and ``leadrelay simulate --json`` show. Money is text with two
decimals, shares are percentages as text with one."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from leadrelay.domain.simulation import Tally
from leadrelay.services.simulation import Backtest, Simulation


def _money(value: Decimal | None) -> str | None:
    return f"{value:.2f}" if value is not None else None


def simulation_dict(s: Simulation) -> dict[str, Any]:
    return {
        "config": s.config,
        "version": s.version,
        "lead_id": s.lead_id,
        "entity": s.entity,
        "source": s.source,
        "at": s.at.isoformat(),
        "delivered": False,
        "profiles": [
            {
                "profile": r.profile,
                "rule": r.rule,
                "strategy": r.strategy,
                "outcome": r.outcome,
                "reason": r.reason,
                "order": list(r.order),
                "expected_revenue": _money(r.expected_revenue),
                "auction_prices": r.auction_prices,
                "partners": [
                    {
                        "partner": p.partner,
                        "verdict": p.verdict.value,
                        "reasons": list(p.reasons),
                        "position": p.position,
                        "price": _money(p.price),
                        "price_basis": p.price_basis,
                    }
                    for p in r.partners
                ],
                "trace": list(r.trace),
            }
            for r in s.profiles
        ],
        "notes": list(s.notes),
    }


def _side(t: Tally) -> dict[str, Any]:
    return {
        "leads": t.leads,
        "routed": t.routed,
        "sold": t.sold,
        "unsold": t.unsold,
        "revenue": _money(t.revenue),
    }


def backtest_dict(b: Backtest) -> dict[str, Any]:
    a, d = b.actual, b.draft
    return {
        "since": b.since.isoformat(),
        "until": b.until.isoformat(),
        "limit": b.limit,
        "leads": b.leads,
        "truncated": b.truncated,
        "actual": _side(a),
        "draft": _side(d),
        "difference": {
            "leads": 0,
            "routed": d.routed - a.routed,
            "sold": d.sold - a.sold,
            "unsold": d.unsold - a.unsold,
            "revenue": _money(d.revenue - a.revenue),
        },
        "partners": [
            {
                "partner": p.partner,
                "actual": p.actual,
                "draft": p.draft,
                "difference": p.difference,
                "actual_share": str(p.actual_share),
                "draft_share": str(p.draft_share),
                "share_difference": str(p.share_difference),
                "actual_revenue": _money(p.actual_revenue),
                "draft_revenue": _money(p.draft_revenue),
            }
            for p in b.partners()
        ],
        "auctions": {"on_recorded_bids": b.auctions_on_bids, "on_list_prices": b.auctions_on_list_prices},
        "notes": list(b.notes),
    }
