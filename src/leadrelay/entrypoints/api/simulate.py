"""The routing simulator and backtest over the admin API (``services.simulation``): ``POST /v1/simulate``
and ``POST /v1/backtest``. Nothing is delivered, no buyer is pinged and nothing is written. A bad draft
answers 422 with the configuration path of each problem (the same words as ``apply``).

Simulating a stored lead under the configuration in force needs only ``view``; a draft needs
``configure`` (a draft's rule conditions would otherwise probe a stored lead's sealed values, one match at
a time), and so does the backtest (a draft over many leads, and heavy)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from leadrelay.configuration.load import MAX_POSTED_CHARS
from leadrelay.domain.access import Permission, allows, refusal
from leadrelay.entrypoints.api.deps import ConfigureDep, RuntimeDep, ViewerDep
from leadrelay.entrypoints.api.guards import MAX_DEPTH, StoredText, too_deep
from leadrelay.errors import FieldProblem, Forbidden, ValidationFailed
from leadrelay.services.simulation import DEFAULT_LIMIT, MAX_LIMIT, parse_since
from leadrelay.services.simulation_views import backtest_dict, simulation_dict

router = APIRouter(prefix="/v1", tags=["simulator"])

_DRAFT = (
    "A draft configuration: a YAML document as the apply command takes it, checked the same way, applied "
    "over the configuration in force and never stored (omitted: the configuration in force). At most "
    f"{MAX_POSTED_CHARS:,} characters."
)
DraftText = Annotated[StoredText, Field(max_length=MAX_POSTED_CHARS)]
LeadId = Annotated[str, Field(max_length=64, pattern="^[A-Za-z0-9_-]+$")]
Name = Annotated[StoredText, Field(max_length=100)]


class SimulateBody(BaseModel):
    lead_id: LeadId | None = Field(default=None, description="A stored lead (else entity, source and lead).")
    entity: Name | None = Field(default=None, description="The pasted lead's entity.")
    source: Name | None = Field(default=None, description="The pasted lead's source.")
    lead: dict[str, Any] | None = Field(default=None, description="A pasted lead (field: value).")
    draft: DraftText | None = Field(default=None, description=_DRAFT)


class PartnerOut(BaseModel):
    partner: str
    verdict: str = Field(
        description="chosen, offered (user choice), not needed, not won (an auction), skipped, not eligible, "
        "not in the rule"
    )
    reasons: list[str] = Field(description="Routing's own words: filters, hours, caps, pacing, dedup ...")
    position: int | None = Field(description="Its place in the strategy's pick order (None: not a candidate)")
    price: str | None = Field(description="The expected price of a chosen partner")
    price_basis: str | None = Field(description="bid, rule, profile or list")


class ProfileOut(BaseModel):
    profile: str
    rule: str | None = Field(description='The rule that matched, "default", or None')
    strategy: str | None
    outcome: str = Field(description="What the distribution would become: delivering, held, unsold, offered")
    reason: str | None = Field(description="Why nobody takes the lead, when nobody does")
    order: list[str] = Field(description="The eligible partners in the order the strategy offers them")
    expected_revenue: str
    auction_prices: str | None = Field(description="An auction's bids: recorded bids, or list prices")
    partners: list[PartnerOut]
    trace: list[str] = Field(description="The routing trace, as the distribution log would show it")


class SimulationOut(BaseModel):
    config: str = Field(description='"in force" or "draft"')
    version: int
    lead_id: str | None
    entity: str
    source: str
    at: str
    delivered: bool = Field(description="Always false: nothing is delivered")
    profiles: list[ProfileOut]
    notes: list[str]


class BacktestBody(BaseModel):
    draft: DraftText = Field(description=_DRAFT)
    since: Annotated[StoredText, Field(max_length=40)] = Field(
        default="7d", description="7d, 12h, 30m, or an ISO date or time"
    )
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="The most leads replayed")


class SideOut(BaseModel):
    leads: int
    routed: int
    sold: int
    unsold: int
    revenue: str


class ShareOut(BaseModel):
    partner: str
    actual: int
    draft: int
    difference: int
    actual_share: str = Field(description="Percent of the sales")
    draft_share: str
    share_difference: str
    actual_revenue: str
    draft_revenue: str


class AuctionsOut(BaseModel):
    on_recorded_bids: int
    on_list_prices: int


class BacktestOut(BaseModel):
    since: str
    until: str
    limit: int
    leads: int
    truncated: bool = Field(description="More leads in the range than the limit: the newest were left out")
    actual: SideOut
    draft: SideOut
    difference: SideOut = Field(description="Draft less actual")
    partners: list[ShareOut]
    auctions: AuctionsOut
    notes: list[str]


@router.post(
    "/simulate",
    summary="Route a stored or pasted lead through the configuration or a draft; nothing is delivered",
    response_model=SimulationOut,
)
async def simulate(body: SimulateBody, rt: RuntimeDep, caller: ViewerDep) -> dict[str, Any]:
    if body.draft is not None and not allows(caller.role, Permission.CONFIGURE):
        raise Forbidden(f"a draft: {refusal(caller.role, Permission.CONFIGURE)}")
    if body.lead is not None and (where := too_deep(body.lead)) is not None:
        raise ValidationFailed([FieldProblem("lead", f"{where}: nested deeper than {MAX_DEPTH} levels")])
    result = await rt.simulator.simulate(
        lead_id=body.lead_id, entity=body.entity, source=body.source, lead=body.lead, draft=body.draft
    )
    return simulation_dict(result)


@router.post(
    "/backtest",
    summary="Replay the last leads through a draft configuration against what happened; nothing moves",
    response_model=BacktestOut,
)
async def backtest(body: BacktestBody, rt: RuntimeDep, _admin: ConfigureDep) -> dict[str, Any]:
    since = parse_since(body.since, rt.simulator.now())
    return backtest_dict(await rt.simulator.backtest(body.draft, since=since, limit=body.limit))
