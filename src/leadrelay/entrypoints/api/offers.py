"""User choice: ``POST /v1/offers/{id}/select`` (``strategy: user_choice``; ``services.user_choice``)."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from leadrelay.entrypoints.api.deps import RuntimeDep, SourceDep
from leadrelay.entrypoints.api.openapi import ErrorBody, IntakeAnswer

router = APIRouter(prefix="/v1/offers", tags=["leads"])


@router.post(
    "/{offer_id}/select",
    summary="Select an offer (user choice): the lead goes to that partner only",
    status_code=200,
    response_model=None,
    responses={
        200: {
            "model": IntakeAnswer,
            "description": "Selected: the lead's outcome (with `?wait`, once known)",
        },
        404: {"model": ErrorBody, "description": "No such offer for this source"},
        409: {
            "model": ErrorBody,
            "description": "An offer of this lead was already selected, or the partner cannot take it now",
        },
        410: {"model": ErrorBody, "description": "The offer expired"},
    },
)
async def select_offer(
    offer_id: str,
    rt: RuntimeDep,
    source: SourceDep,
    wait: Annotated[float, Query(ge=0, le=60, description="seconds to wait for the outcome")] = 0.0,
) -> Response:
    """Select one of the offers a lead's answer listed (its source's key only). The other offers of the
    lead expire; the lead is posted to this offer's partner alone, at the offer's price. Answers the lead's
    outcome: ``queued`` at once, or with ``?wait=N`` the outcome within N seconds. An expired offer is
    ``410 {"code": "gone"}``; a second selection (of this offer or another of the lead's) is ``409``."""
    selection = await rt.offers.select(offer_id, source)
    if wait > 0:
        answer = await rt.intake.wait(selection.lead_id, wait)
    else:
        answer = await rt.intake.outcome(selection.lead_id)
    body = answer.as_dict() | {"offer_id": offer_id}
    return Response(orjson.dumps(body), status_code=200, media_type="application/json")
