"""The partner and source portals' reads (issue 12 point 7): every query names the tenant, so another
partner's or source's object is simply not found (404, without telling whether it exists).

A partner sees the leads it bought as they were delivered to it (the request of the delivery's successful
attempt, secrets redacted), each with its signed postback URL and its return; a source sees its
submissions as its own API answers tell them (``public_lead_status``: never a buyer's answer, the buyer and
the price only when the source is configured ``show_buyer``), and the ledger entries where it is the party.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadrelay.domain.after_sale_states import DeliveryOutcome
from leadrelay.domain.derived_states import public_lead_status
from leadrelay.domain.ledger import Party
from leadrelay.domain.postbacks import postback_url
from leadrelay.domain.posting_spec import PostingSpec, posting_spec
from leadrelay.domain.returns import ReturnPolicy
from leadrelay.domain.states import LeadStatus
from leadrelay.errors import NotFound
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.ledger import entry_dict
from leadrelay.services.ports import Record, Storage, Tx
from leadrelay.services.postback_links import PostbackLinks

MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _sold(row: Record, returned: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row.id,
        "lead_id": row.lead_id,
        "entity": row.entity,
        "price": row.price,
        "reference": row.reference,
        "outcome": row.outcome,
        "invoiced": bool(row.invoiced),
        "test": bool(row.is_test),
        "delivered_at": _iso(row.delivered_at),
        "return": returned.get(row.id),
    }


def _limit(limit: int) -> int:
    return max(1, min(limit, MAX_PAGE))


def partner_leads(tx: Tx, partner: str, cursor: str | None, limit: int) -> Page:
    n = _limit(limit)
    rows = tx.portal.partner_deliveries(partner, cursor, n + 1)
    page = rows[:n]
    returned = {r.delivery_id: r.as_dict() for r in tx.returns.of_deliveries([r.id for r in page])}
    items = [_sold(r, returned) for r in page]
    return Page(items, page[-1].id if len(rows) > n else None)


def partner_lead(tx: Tx, partner: str, delivery_id: str, sign: Callable[[str], str] | None) -> dict[str, Any]:
    row = tx.portal.partner_delivery(partner, delivery_id)
    if row is None:
        raise NotFound(f"no lead delivered to {partner} as {delivery_id}")
    returned = {r.delivery_id: r.as_dict() for r in tx.returns.of_deliveries([row.id])}
    out = _sold(row, returned)
    sent = [a for a in tx.log.attempts(row.job_id) if a.delivery_id == row.id and a.outcome == "success"]
    out["sent"] = sent[-1].request if sent else None  # what it received (secrets redacted)
    out["sent_body"] = _body_of(out["sent"])
    out["postback_url"] = sign(row.id) if sign is not None else None
    return out


def _body_of(request: Any) -> Any:
    """A JSON request's body, parsed (as the buyer read it); else None."""
    body = request.get("body") if isinstance(request, dict) else None
    if not isinstance(body, str):
        return body if isinstance(body, dict | list) else None
    try:
        return json.loads(body)
    except ValueError:
        return None


def partner_returns(tx: Tx, partner: str, cursor: str | None, limit: int) -> Page:
    n = _limit(limit)
    found = tx.portal.partner_returns(partner, cursor, n + 1)
    page = found[:n]
    return Page([r.as_dict() for r in page], page[-1].id if len(found) > n else None)


def source_submissions(tx: Tx, source: str, cursor: str | None, limit: int) -> Page:
    n = _limit(limit)
    rows = tx.portal.source_leads(source, cursor, n + 1)
    page = rows[:n]
    items = []
    for r in page:
        public = public_lead_status(r.status)
        items.append(
            {
                "id": r.id,
                "entity": r.entity,
                "status": public.value,
                "sold": public is LeadStatus.DELIVERED,
                "test": bool(r.is_test),
                "created_at": _iso(r.created_at),
            }
        )
    return Page(items, page[-1].id if len(rows) > n else None)


def party_entries(tx: Tx, kind: Party, party: str, cursor: str | None, limit: int) -> Page:
    n = _limit(limit)
    # ASCII digits only ("²".isdigit() is true) and below BIGINT's bound: anything else is no cursor
    after = int(cursor) if cursor is not None and re.fullmatch(r"[0-9]{1,18}", cursor) else None
    rows = tx.portal.party_entries(kind, party, after, n + 1)
    page = rows[:n]
    return Page([entry_dict(e) for _, e in page], str(page[-1][0]) if len(rows) > n else None)


@dataclass(frozen=True, slots=True)
class PostbackInstructions:
    template: str  # the URL with {delivery_id} and {sig} in place
    example: str | None  # the signed URL of the partner's newest lead
    outcomes: tuple[str, ...]


class Portals:
    """The portals' use cases: each reads one tenant's rows only."""

    def __init__(self, storage: Storage, configs: ConfigCache, links: PostbackLinks | None = None) -> None:
        self.storage = storage
        self.configs = configs
        self.links = links

    async def _signer(self) -> Callable[[str], str] | None:
        if self.links is None:
            return None
        return functools.partial(postback_url, self.links.base_url, await self.links.key())

    async def partner_leads(self, partner: str, cursor: str | None = None, limit: int = 50) -> Page:
        return await self.storage.run_read(lambda tx: partner_leads(tx, partner, cursor, limit))

    async def partner_lead(self, partner: str, delivery_id: str) -> dict[str, Any]:
        sign = await self._signer()
        return await self.storage.run_read(lambda tx: partner_lead(tx, partner, delivery_id, sign))

    async def partner_returns(self, partner: str, cursor: str | None = None, limit: int = 50) -> Page:
        return await self.storage.run_read(lambda tx: partner_returns(tx, partner, cursor, limit))

    async def source_submissions(self, source: str, cursor: str | None = None, limit: int = 50) -> Page:
        return await self.storage.run_read(lambda tx: source_submissions(tx, source, cursor, limit))

    async def entries(self, kind: Party, party: str, cursor: str | None = None, limit: int = 50) -> Page:
        return await self.storage.run_read(lambda tx: party_entries(tx, kind, party, cursor, limit))

    async def postbacks(self, partner: str) -> PostbackInstructions:
        base = self.links.base_url if self.links is not None else ""
        template = f"{base}/v1/postbacks/{{delivery_id}}?sig={{sig}}"
        newest = await self.partner_leads(partner, None, 1)
        example = None
        if newest.items:
            example = (await self.partner_lead(partner, newest.items[0]["id"]))["postback_url"]
        return PostbackInstructions(template, example, tuple(o.value for o in DeliveryOutcome))

    async def posting_specs(self, source: str, base_url: str, today: dt.date) -> list[PostingSpec]:
        """The specification of every entity the source may post (its ``entities``; none listed: all)."""
        specs = (await self.configs.get(self.storage)).specs
        spec = specs.sources.get(source)
        if spec is None:
            return []
        names = spec.entities or tuple(sorted(specs.entities))
        return [
            posting_spec(
                source,
                specs.entities[name],
                base_url,
                today,
                show_buyer=spec.show_buyer,
                paid=spec.payout_for(name) is not None,
            )
            for name in names
            if name in specs.entities
        ]

    async def partner_terms(self, partner: str) -> tuple[ReturnPolicy | None, bool]:
        """The partner's returns policy (None: it may not return leads) and its configured ``paused``."""
        spec = (await self.configs.get(self.storage)).specs.partners.get(partner)
        if spec is None:
            return None, False
        return spec.returns, spec.paused
