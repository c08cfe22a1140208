"""The money ledger: its entries (filtered), the balances of partners and sources, and manual entries
(credits, top-ups, payments, adjustments), posted by an admin and audited. Amounts travel as decimal
strings ("12.40"): exact, never a float."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, BeforeValidator, Field

from leadrelay.domain.ledger import EntryKind, Party
from leadrelay.entrypoints.amounts import plain_amount
from leadrelay.entrypoints.api.deps import FinanceDep, RuntimeDep, ViewDep
from leadrelay.entrypoints.api.distributions import Instant
from leadrelay.entrypoints.api.guards import StoredText
from leadrelay.services.ledger import LedgerBook, entry_dict

router = APIRouter(prefix="/v1", tags=["money"])


def _utc(value: datetime | None) -> datetime | None:
    """A time without a zone is read as UTC (the ledger stores UTC; a naive time cannot be compared)."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _book(rt: Any) -> LedgerBook:
    return LedgerBook(rt.storage, rt.configs)


@router.get("/ledger", summary="Ledger entries, oldest first (filters combine)")
async def list_entries(
    rt: RuntimeDep,
    _admin: ViewDep,
    party_kind: Annotated[Party | None, Query(description="partner or source")] = None,
    party: Annotated[str | None, Query(max_length=64)] = None,
    lead: Annotated[str | None, Query(max_length=40)] = None,
    delivery: Annotated[str | None, Query(max_length=40)] = None,
    kind: Annotated[list[EntryKind] | None, Query()] = None,
    since: Annotated[Instant, Query(description="inclusive, ISO 8601 (UTC without a zone)")] = None,
    until: Annotated[Instant, Query(description="exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> dict[str, Any]:
    entries = await _book(rt).entries(
        party_kind=party_kind,
        party=party,
        lead_ids=[lead] if lead else None,
        delivery_ids=[delivery] if delivery else None,
        kinds=kind,
        since=_utc(since),
        until=_utc(until),
        limit=limit,
    )
    return {"items": [entry_dict(e) for e in entries]}


@router.get("/balances", summary="Each party's balance: + it owes the operator, - the operator owes it")
async def balances(
    rt: RuntimeDep,
    _admin: ViewDep,
    party_kind: Annotated[Party, Query(description="partner or source")] = Party.PARTNER,
) -> dict[str, Any]:
    got = await _book(rt).balances(party_kind)
    return {"party_kind": party_kind.value, "balances": {name: str(v) for name, v in sorted(got.items())}}


class ManualKind(StrEnum):
    """The entries an operator posts by hand (``services.ledger.MANUAL``)."""

    CREDIT = EntryKind.CREDIT.value
    TOPUP = EntryKind.TOPUP.value
    PAYMENT = EntryKind.PAYMENT.value
    ADJUSTMENT = EntryKind.ADJUSTMENT.value


class EntryBody(BaseModel):
    kind: ManualKind = Field(description="credit or topup (a partner's), payment or adjustment (either's)")
    party_kind: Party = Party.PARTNER
    party: str = Field(min_length=1, max_length=64)
    amount: Annotated[Decimal, BeforeValidator(plain_amount)] = Field(
        max_digits=14,
        decimal_places=2,
        description="As the operator reads it: a credit, top-up or payment of 50 is 50; an adjustment is "
        "signed (+: the party owes more)",
    )
    memo: StoredText | None = Field(default=None, max_length=500)
    lead_id: str | None = Field(default=None, max_length=40)


@router.post("/ledger", status_code=201, summary="Post a manual entry (audited; a correction is a new entry)")
async def post_entry(rt: RuntimeDep, admin: FinanceDep, body: EntryBody = Body(...)) -> dict[str, Any]:
    entry = await _book(rt).post(
        kind=EntryKind(body.kind.value),
        party_kind=body.party_kind,
        party=body.party,
        amount=body.amount,
        actor=admin,
        memo=body.memo,
        lead_id=body.lead_id,
    )
    return entry_dict(entry)
