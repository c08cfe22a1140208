"""Supplier-side ping: ``POST /v1/ping`` (issue 10, point 6; ``services.supplier_ping``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from leadrelay.entrypoints.api.deps import RuntimeDep, SourceDep
from leadrelay.entrypoints.api.leads import json_response, parse_body, read_body
from leadrelay.entrypoints.api.openapi import LEAD_BODY, ErrorBody
from leadrelay.errors import FieldProblem, ValidationFailed

router = APIRouter(prefix="/v1", tags=["leads"])


class PingAnswer(BaseModel):
    """A supplier ping's quote."""

    ping_id: str
    accepted: bool = Field(description="whether a bid counted (at or above its floor)")
    price: float | None = Field(
        description="the best winning bid: what the lead fetches; only for a source that may see buyers' "
        "prices (`show_buyer: true`), else null"
    )
    payout: str | None = Field(
        description="what the lead would earn the source at that bid (a decimal string), for a source paid "
        "for the entity; else null"
    )
    ping_token: str | None = Field(
        description="send it with the lead (POST /v1/leads, body field `ping_token`) before `expires_at`; "
        "single-use, for this source only; null when nothing was accepted"
    )
    expires_at: str | None


@router.post(
    "/ping",
    summary="Ping: what would a lead fetch? (no personal fields)",
    response_model=PingAnswer,
    responses={
        403: {"model": ErrorBody, "description": "The source may not post this entity"},
        422: {"model": ErrorBody, "description": "A personal field was sent (named), or a value is invalid"},
    },
    openapi_extra={"requestBody": LEAD_BODY},
)
async def post_ping(
    request: Request,
    rt: RuntimeDep,
    source: SourceDep,
    entity: Annotated[str | None, Query(description="the entity, unless named in the body")] = None,
) -> Response:
    """Run the auction on the lead's non-personal fields without posting it: the buyers are pinged, their
    bids ranked and kept (no personal data is stored). The answer quotes the best bid (as the source may
    see it) and gives a token; the lead posted with it within its life, with the same values for the
    fields pinged, goes to the winning bid first, at its bid."""
    body = await read_body(request, rt.settings.max_body_bytes)
    data = parse_body(request.headers.get("content-type", ""), body)
    in_body = data.pop("entity", None)
    name = entity or in_body
    live = await rt.configs.get(rt.storage)
    spec = live.specs.sources.get(source)
    if not name and spec is not None and len(spec.entities) == 1:
        name = spec.entities[0]
    if not name or not isinstance(name, str):
        raise ValidationFailed([FieldProblem("entity", 'required: name the entity (e.g. "entity": "solar")')])
    quote = await rt.supplier_pings.ping(source, name, data)
    answer: dict[str, Any] = quote.as_dict()
    return json_response(answer, 200)
