"""Intake: ``POST /v1/leads`` (JSON or form), ``GET /v1/leads/{id}``."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from leadrelay.bootstrap import Runtime
from leadrelay.entrypoints.api.deps import RuntimeDep, SourceDep, source_of
from leadrelay.entrypoints.api.errors import HTTPProblem, error_response
from leadrelay.entrypoints.api.guards import MAX_DEPTH, too_deep
from leadrelay.entrypoints.api.openapi import LEAD_BODY, ErrorBody, IntakeAnswer
from leadrelay.errors import FieldProblem, LeadrelayError, ValidationFailed
from leadrelay.services.intake import IntakeRequest

router = APIRouter(prefix="/v1/leads", tags=["leads"])


def _json(payload: Any, status: int) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPProblem(413, "body_too_large", f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, "body_too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(content_type: str, body: bytes) -> dict[str, Any]:
    media = content_type.split(";")[0].strip().lower()
    if media in ("application/json", "") or media.endswith("+json"):
        try:
            data = orjson.loads(body) if body else None
        except orjson.JSONDecodeError as exc:
            raise HTTPProblem(400, "malformed_body", f"the body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise HTTPProblem(400, "malformed_body", "the body must be a JSON object of lead fields")
        if any(isinstance(v, dict | list) for v in data.values()) and (where := too_deep(data)) is not None:
            field = where.split(".")[0].split("[")[0]
            problem = f"nested deeper than {MAX_DEPTH} levels"
            raise ValidationFailed([FieldProblem(field, problem)], f"{field}: {problem}")
        return data
    if media == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError) as exc:
            raise HTTPProblem(400, "malformed_body", f"the body is not valid form data: {exc}") from exc
        return dict(pairs)
    raise HTTPProblem(
        415, "unsupported_media_type", "send application/json or application/x-www-form-urlencoded"
    )


_ERROR = {"$ref": "#/components/schemas/ErrorBody"}
_ANSWER = {"$ref": "#/components/schemas/IntakeAnswer"}


@router.post(
    "",
    summary="Submit a lead",
    status_code=202,
    response_model=None,
    responses={
        200: {
            "model": IntakeAnswer,
            "description": "The outcome (with `?wait`), or an Idempotency-Key repeat",
        },
        202: {"model": IntakeAnswer, "description": "Accepted and queued for routing"},
        409: {"model": ErrorBody, "description": "An Idempotency-Key conflict"},
        413: {"model": ErrorBody, "description": "The body is too large"},
        415: {"model": ErrorBody, "description": "Neither JSON nor a form"},
        422: {
            "description": "The lead is rejected (`errors` per field), or a parameter is invalid",
            "content": {"application/json": {"schema": {"anyOf": [_ANSWER, _ERROR]}}},
        },
    },
    openapi_extra={"requestBody": LEAD_BODY},
)
async def post_lead(
    request: Request,
    rt: RuntimeDep,
    source: SourceDep,
    entity: Annotated[str | None, Query(description="the entity, unless named in the body")] = None,
    wait: Annotated[float | None, Query(ge=0, le=60, description="seconds to wait for the outcome")] = None,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> Response:
    """Validate and store a lead, then route it. Answers ``queued`` (202) at once, or with ``?wait=N`` the
    outcome within N seconds (``delivered`` with partner and price, ``unsold`` with the reason).

    (Served by :func:`intake_fast_path`, which skips the framework's routing and dependency machinery;
    this declaration documents it in the OpenAPI schema.)"""
    return await accept(request, rt, source)


async def intake_fast_path(request: Request, rt: Runtime) -> Response:
    """``POST /v1/leads`` straight from the ASGI entry: the hot path of the whole system."""
    try:
        return await accept(request, rt, await source_of(request))
    except LeadrelayError as exc:
        return error_response(exc)


async def accept(request: Request, rt: Runtime, source: str) -> Response:
    body = await _read_body(request, rt.settings.max_body_bytes)
    data = _parse(request.headers.get("content-type", ""), body)
    in_body = data.pop("entity", None)  # never a lead field, wherever the entity is named
    entity = request.query_params.get("entity") or in_body
    live = await rt.configs.get(rt.storage)
    spec = live.specs.sources.get(source)
    if not entity and spec is not None and len(spec.entities) == 1:
        entity = spec.entities[0]
    if not entity or not isinstance(entity, str):
        raise ValidationFailed([FieldProblem("entity", 'required: name the entity (e.g. "entity": "solar")')])
    wait_param = request.query_params.get("wait")
    try:
        wait = float(wait_param) if wait_param is not None else (spec.wait_s if spec is not None else 0.0)
    except ValueError as exc:
        raise ValidationFailed([FieldProblem("wait", "must be a number of seconds")]) from exc
    if not 0 <= wait <= 60:
        raise ValidationFailed([FieldProblem("wait", "must be between 0 and 60 seconds")])
    key = request.headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= 200:
        raise ValidationFailed([FieldProblem("Idempotency-Key", "must be 1 to 200 characters")])
    answer = await rt.intake.accept(IntakeRequest(source, entity, data, key, wait=wait))
    response = _json(answer.body(), answer.code)
    if answer.repeat:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@router.get("/{lead_id}", summary="A lead's outcome", response_model=IntakeAnswer)
async def get_lead(lead_id: str, rt: RuntimeDep, source: SourceDep) -> Response:
    answer = await rt.intake.outcome(lead_id, source=source)
    return _json(answer.as_dict(), 200)
