"""Reading the record: the distribution log (jobs with trace, deliveries, attempts, returns) and the audit
log."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from leadrelay.domain.actions import available_actions
from leadrelay.domain.log_filter import DistributionFilter
from leadrelay.domain.postbacks import postback_url
from leadrelay.domain.states import DeliveryStatus, JobStatus
from leadrelay.errors import NotFound
from leadrelay.services.act import cancel_periods, delivery_views, job_view
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.ledger import entry_dict
from leadrelay.services.ports import Clock, Record, Storage, Tx, system_clock
from leadrelay.services.postback_links import PostbackLinks
from leadrelay.services.postback_relay import relay_rows

_CENT = Decimal("0.01")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _job_summary(row: Record) -> dict[str, Any]:
    return {
        "id": row.id,
        "lead_id": row.lead_id,
        "profile": row.profile,
        "kind": row.kind,
        "status": row.status,
        "rule": row.rule,
        "error": row.error,
        "parent_id": row.parent_id,
        "source": row.source,
        "created_at": _iso(row.created_at),
        "finished_at": _iso(row.finished_at),
    }


def list_distributions(tx: Tx, f: DistributionFilter) -> dict[str, Any]:
    limit = max(1, min(f.limit, 500))
    rows = tx.log.distributions(f, limit + 1)
    page = rows[:limit]
    by_job: dict[str, list[str]] = {}
    if page:
        for d in tx.log.delivery_states([r.id for r in page]):
            by_job.setdefault(d.job_id, []).append(f"{d.partner}:{d.status}")
    items = []
    for r in page:
        item = _job_summary(r)
        item["deliveries"] = by_job.get(r.id, [])
        items.append(item)
    return {"items": items, "next_cursor": page[-1].id if len(rows) > limit else None}


def get_distribution(
    tx: Tx,
    job_id: str,
    postback_url: Callable[[str], str] | None = None,
    *,
    now: datetime | None = None,
    cancel_periods: Mapping[str, timedelta] | None = None,
) -> dict[str, Any]:
    """A job's record; ``postback_url``: signs a delivery's postback URL (shown per delivery). With
    ``now``: also which actions are allowed at that time, or why not (``actions``)."""
    row = tx.log.distribution(job_id)
    if row is None:
        raise NotFound(f"unknown distribution {job_id}")
    out = _job_summary(row)
    out["trace"] = row.trace
    out["excluded"] = row.excluded
    out["deliveries"] = []
    att_by_delivery: dict[str, list[dict[str, Any]]] = {}
    for a in tx.log.attempts(job_id):
        att_by_delivery.setdefault(a.delivery_id, []).append(
            {
                "id": a.id,
                "number": a.number,
                "started_at": _iso(a.started_at),
                "duration_ms": round(a.duration_ms, 2),
                "outcome": a.outcome,
                "reason": a.reason,
                "status_code": a.status_code,
                "request": a.request,
                "response_body": a.response_body,
            }
        )
    found = tx.deliveries.job_deliveries(job_id)
    in_batches = _batches(tx, [d.batch_id for d in found if d.batch_id])
    reports: dict[str, list[dict[str, Any]]] = {}
    for p in tx.postbacks.of_lead(row.lead_id):
        reports.setdefault(p.delivery_id, []).append(
            {
                "id": p.id,
                "outcome": p.outcome,
                "revenue": None
                if p.revenue_cents is None
                else str((Decimal(p.revenue_cents) / 100).quantize(_CENT)),
                "event_id": p.event_id,
                "note": p.note,
                "received_at": _iso(p.received_at),
            }
        )
    # a partner's returns of these deliveries (the delivery stays delivered; the return is beside it)
    returned = {r.delivery_id: r.as_dict() for r in tx.returns.of_deliveries([d.id for d in found])}
    for d in found:
        out["deliveries"].append(
            {
                "id": d.id,
                "partner": d.partner,
                "channel": d.channel,
                "status": d.status,
                "price": d.price,
                "price_basis": d.price_basis,
                "reference": d.reference,
                "reason": d.reason,
                "invoiced": d.invoiced,
                "test": d.is_test,
                "idempotency_key": d.idempotency_key,
                "delivered_at": _iso(d.delivered_at),
                "cancelled_at": _iso(d.cancelled_at),
                "attempts": att_by_delivery.get(d.id, []),
                "batch": in_batches.get(d.batch_id) if d.batch_id else None,
                "ping_reference": d.ping_reference,
                "outcome": d.outcome,
                "postback_url": postback_url(d.id) if postback_url is not None else None,
                "postbacks": reports.get(d.id, []),
                "return": returned.get(d.id),
            }
        )
    out["outbound_postbacks"] = relay_rows(tx, row.lead_id)
    out["returns"] = list(returned.values())
    out["bids"] = [
        {
            "id": b.id,
            "partner": b.partner,
            "status": b.status,
            "tier": b.tier,
            "price": b.price,
            "shared_price": b.shared_price,
            "floor": b.floor,
            "reference": b.reference,
            "reason": b.reason,
            "duration_ms": round(b.duration_ms, 2) if b.duration_ms is not None else None,
            "rank": b.rank,
            "margin": b.margin,
            "delivery_id": b.delivery_id,
            "sold_as": b.sold_as,
            "superseded": b.superseded,
            "at": _iso(b.created_at),
        }
        for b in tx.deliveries.bids_of(job_id, history=True)
    ]
    out["offers"] = [
        {
            "id": o.id,
            "partner": o.partner,
            "display_name": o.display_name,
            "price": o.price,
            "show_price": bool(o.show_price),
            "status": o.status,
            "expires_at": _iso(o.expires_at),
            "selected_at": _iso(o.selected_at),
            "expired_at": _iso(o.expired_at),
            "delivery_id": o.delivery_id,
            "superseded": bool(o.superseded),
            "at": _iso(o.created_at),
        }
        for o in tx.deliveries.offers_of(job_id, history=True)
    ]
    # the money this distribution moved: its deliveries' sales, payouts and their reversals
    money = tx.ledger.entries(delivery_ids=[d.id for d in found]) if found else []
    out["ledger"] = [entry_dict(e) for e in money]
    if now is not None:
        sold = [d.partner for d in found if d.status == DeliveryStatus.DELIVERED]
        resends = tx.jobs.open_resends(row.lead_id, sold) if row.status == JobStatus.DELIVERED else []
        views = delivery_views(found, tx)
        allowed = available_actions(job_view(row), views, now, cancel_periods or {}, resends)
        out["actions"] = {name: a.as_dict() for name, a in allowed.items()}
    return out


def _batches(tx: Tx, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The batches (file or digest) some deliveries went into, with every attempt to deliver them."""
    if not ids:
        return {}
    tries: dict[str, list[dict[str, Any]]] = {}
    for a in tx.log.batch_attempts(ids):
        tries.setdefault(a.batch_id, []).append(
            {
                "number": a.number,
                "started_at": _iso(a.started_at),
                "duration_ms": round(a.duration_ms, 2),
                "outcome": a.outcome,
                "location": a.location,
                "bytes": a.bytes,
                "reason": a.reason,
            }
        )
    return {
        b.id: {
            "id": b.id,
            "status": b.status,
            "trigger": b.trigger,
            "filename": b.filename,
            "lead_count": b.lead_count,
            "location": b.location,
            "reason": b.reason,
            "sent_at": _iso(b.sent_at),
            "attempts": tries.get(b.id, []),
        }
        for b in tx.log.batches(ids)
    }


def list_audit(tx: Tx, *, cursor: str | None = None, limit: int = 100) -> dict[str, Any]:
    limit = max(1, min(limit, 500))
    rows = tx.log.audit_entries(cursor, limit + 1)
    page = rows[:limit]
    items = [
        {
            "id": r.id,
            "at": _iso(r.at),
            "actor": r.actor,
            "action": r.action,
            "object_kind": r.object_kind,
            "object_id": r.object_id,
            "reason": r.reason,
            "detail": r.detail,
        }
        for r in page
    ]
    return {"items": items, "next_cursor": page[-1].id if len(rows) > limit else None}


class LogView:
    def __init__(
        self,
        storage: Storage,
        links: PostbackLinks | None = None,
        configs: ConfigCache | None = None,
        *,
        clock: Clock = system_clock,
    ) -> None:
        self.storage = storage
        self.links = links
        self.configs = configs  # for the partners' cancellation periods (the actions' availability)
        self.clock = clock

    async def distributions(self, f: DistributionFilter) -> dict[str, Any]:
        return await self.storage.run_read(lambda tx: list_distributions(tx, f))

    async def distribution(self, job_id: str, *, postback_urls: bool = False) -> dict[str, Any]:
        """The job's record. ``postback_urls``: with each delivery's signed postback URL (a credential:
        whoever holds it reports the lead's outcome, so only for callers who may configure); else None."""
        sign: Callable[[str], str] | None = None
        if self.links is not None and postback_urls:
            key, base = await self.links.key(), self.links.base_url
            sign = functools.partial(postback_url, base, key)
        periods = cancel_periods(await self.configs.get(self.storage)) if self.configs is not None else {}
        now = self.clock()
        return await self.storage.run_read(
            lambda tx: get_distribution(tx, job_id, sign, now=now, cancel_periods=periods)
        )

    async def audit(self, cursor: str | None, limit: int) -> dict[str, Any]:
        return await self.storage.run_read(lambda tx: list_audit(tx, cursor=cursor, limit=limit))
