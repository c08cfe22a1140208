"""Postbacks: ``GET`` / ``POST /v1/postbacks/{delivery_id}?sig=…`` (issue 11 point 5, ``services.postbacks``).

No API key: the signature in the URL is the credential (each delivery's URL is its own). Buyers' systems
call either way, so both read the same parameters: ``outcome``, ``revenue``, ``event_id``, ``note``, from
the query string (GET, and POST too) and from a POST's JSON object or form body (the body wins).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from leadrelay.entrypoints.api.deps import RuntimeDep
from leadrelay.entrypoints.api.leads import json_response, parse_body, read_body
from leadrelay.entrypoints.api.openapi import ErrorBody
from leadrelay.errors import FieldProblem, ValidationFailed

router = APIRouter(prefix="/v1", tags=["postbacks"])

PARAMS = ("outcome", "revenue", "event_id", "note")


class PostbackAnswer(BaseModel):
    postback_id: str
    delivery_id: str
    outcome: str = Field(description="the delivery's outcome now: contacted, converted, rejected, returned")
    previous: str | None = Field(description="its outcome before this postback (null: none yet)")
    revenue: str | None = Field(description="the revenue received, in cents precision (e.g. 125.50)")
    event_id: str | None
    relayed: bool = Field(description="whether the event is relayed to the lead's source")


_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "The signature is not this delivery's (tampered or cut)"},
    404: {"model": ErrorBody, "description": "No such delivery"},
    409: {
        "model": ErrorBody,
        "description": "Not delivered, a replay (same event_id, or the same outcome again), or a move the "
        "outcome's states do not allow (rejected and returned are final)",
    },
    422: {"model": ErrorBody, "description": "A bad outcome, revenue, event_id or note (named)"},
}


def _query(request: Request) -> dict[str, Any]:
    return {k: v for k, v in request.query_params.items() if k in PARAMS}


@router.get(
    "/postbacks/{delivery_id}",
    summary="Report a delivered lead's outcome (query parameters)",
    response_model=PostbackAnswer,
    responses=_RESPONSES,
)
async def get_postback(
    delivery_id: str,
    request: Request,
    rt: RuntimeDep,
    sig: Annotated[str | None, Query(description="the signature of the delivery's postback URL")] = None,
    outcome: Annotated[str | None, Query(description="contacted, converted, rejected or returned")] = None,
) -> Response:
    """The buyer's system calls the delivery's postback URL (``{{ postback.url }}`` in its mapping) with
    ``outcome`` and optionally ``revenue``, ``event_id`` (its own id of the event: a repeat is refused)
    and ``note``."""
    return json_response(await rt.postbacks.receive(delivery_id, sig, _query(request)), 200)


@router.post(
    "/postbacks/{delivery_id}",
    summary="Report a delivered lead's outcome (JSON or form body)",
    response_model=PostbackAnswer,
    responses=_RESPONSES,
)
async def post_postback(
    delivery_id: str,
    request: Request,
    rt: RuntimeDep,
    sig: Annotated[str | None, Query(description="the signature of the delivery's postback URL")] = None,
) -> Response:
    """As the GET, with the parameters in a JSON object or a form body (or the query string)."""
    body = await read_body(request, rt.settings.max_body_bytes)
    params = _query(request)
    if body.strip():
        given = parse_body(request.headers.get("content-type", ""), body, of="postback parameters")
        listed = [k for k in PARAMS if isinstance(given.get(k), list | dict)]
        if listed:  # one value each: a list is not taken for its last item
            problems = [FieldProblem(k, "must be a single value, not a list or an object") for k in listed]
            raise ValidationFailed(problems, "; ".join(f"{p.field}: {p.error}" for p in problems))
        params |= {k: v for k, v in given.items() if k in PARAMS}
    return json_response(await rt.postbacks.receive(delivery_id, sig, params), 200)
