"""Intake: ``POST /v1/leads`` (JSON or form), ``GET /v1/leads/{id}``."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from leadrelay.adapters.observability import traces
from leadrelay.bootstrap import Runtime
from leadrelay.entrypoints.api.deps import (
    KeyCache,
    RuntimeDep,
    SourceDep,
    credential_of,
    source_of_credential,
)
from leadrelay.entrypoints.api.errors import HTTPProblem, error_response
from leadrelay.entrypoints.api.guards import MAX_DEPTH, too_deep
from leadrelay.entrypoints.api.openapi import LEAD_BODY, ErrorBody, IntakeAnswer
from leadrelay.errors import FieldProblem, LeadrelayError, ValidationFailed
from leadrelay.services import intake_answers
from leadrelay.services.intake_answers import IntakeRequest
from leadrelay.services.supplier_ping import TOKEN_FIELD

router = APIRouter(prefix="/v1/leads", tags=["leads"])


def json_response(payload: Any, status: int) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and re.fullmatch(r"[0-9]+", declared) and int(declared) > limit:
        raise HTTPProblem(413, "body_too_large", f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, "body_too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


# 20 digits or more: maybe past an unsigned 64-bit integer; a negative one of 19: maybe below a signed one
_LONG_NUMBER = re.compile(rb"[0-9]{20}|-[0-9]{19}")


def _exact_int(digits: str) -> int | str:
    """A JSON integer as a number where it fits 64 bits (what can be stored as one), else as its digits:
    a text field keeps every digit, a number field reads the text, an integer field says it is too big."""
    value = int(digits)
    return value if -(2**63) <= value < 2**64 else digits


def parse_body(content_type: str, body: bytes, *, of: str = "lead fields") -> dict[str, Any]:
    """A JSON object or a form's fields (``of``: what they are, for the message when the body is neither)."""
    media = content_type.split(";")[0].strip().lower()
    if media in ("application/json", "") or media.endswith("+json"):
        try:
            data = orjson.loads(body) if body else None
        except orjson.JSONDecodeError as exc:
            raise HTTPProblem(400, "malformed_body", f"the body is not valid JSON: {exc}") from exc
        if _LONG_NUMBER.search(body):  # orjson reads an integer past 64 bits as a float: rounded
            try:
                data = json.loads(body, parse_int=_exact_int)  # valid JSON (orjson read it)
            except RecursionError:  # nested deeper than the interpreter recurses (orjson reads 1,024)
                raise HTTPProblem(400, "malformed_body", "the body is nested too deeply") from None
        if not isinstance(data, dict):
            raise HTTPProblem(400, "malformed_body", f"the body must be a JSON object of {of}")
        if any(isinstance(v, dict | list) for v in data.values()) and (where := too_deep(data)) is not None:
            field = where.split(".")[0].split("[")[0]
            problem = f"nested deeper than {MAX_DEPTH} levels"
            raise ValidationFailed([FieldProblem(field, problem)], f"{field}: {problem}")
        return data
    if media == "application/x-www-form-urlencoded":
        charset = _charset(content_type)
        try:  # an escaped byte not of the charset is refused too, not replaced
            text = body.decode(charset)
            # as browsers send forms: an empty part (a trailing &) is skipped, a name without = is empty
            pairs = parse_qsl(text, keep_blank_values=True, encoding=charset, errors="strict")
        except (UnicodeDecodeError, ValueError) as exc:
            raise HTTPProblem(400, "malformed_body", f"the body is not valid form data: {exc}") from exc
        data = dict(pairs)
        if len(data) < len(pairs):  # a field sent twice: neither value is dropped unsaid
            field = next(name for i, (name, _) in enumerate(pairs) if any(n == name for n, _ in pairs[:i]))
            problem = "sent more than once: send one value (join a list's items into one value)"
            raise ValidationFailed([FieldProblem(field, problem)], f"{field}: {problem}")
        return data
    raise HTTPProblem(
        415, "unsupported_media_type", "send application/json or application/x-www-form-urlencoded"
    )


def _charset(content_type: str) -> str:
    """The form's charset (``; charset=ISO-8859-1``), UTF-8 where none is named; 415 for one unknown."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"'):
            wanted = value.strip().strip('"')
            try:
                info = codecs.lookup(wanted)
                if not getattr(info, "_is_text_encoding", True):  # base64, rot13 …: no text encodings
                    raise LookupError(wanted)
                return info.name
            except (LookupError, ValueError):  # ValueError: a name no codec can have (a NUL in it)
                raise HTTPProblem(415, "unsupported_media_type", f"unknown charset {wanted[:40]!r}") from None
    return "utf-8"


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
        403: {
            "model": ErrorBody,
            "description": "The source may not post this entity, or its ping_token; or it sent its total cap",
        },
        409: {"model": ErrorBody, "description": "An Idempotency-Key conflict, or a ping_token already used"},
        410: {"model": ErrorBody, "description": "The ping_token expired"},
        413: {"model": ErrorBody, "description": "The body is too large"},
        415: {"model": ErrorBody, "description": "Neither JSON nor a form"},
        422: {
            "description": "The lead is rejected (`errors` per field), or a parameter is invalid",
            "content": {"application/json": {"schema": {"anyOf": [_ANSWER, _ERROR]}}},
        },
        429: {
            "model": ErrorBody,
            "description": "The source has sent what one of its caps allows in the window (`source_cap`; "
            "`Retry-After`: seconds until the window ends); nothing is stored",
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
    this declaration documents it in the OpenAPI schema, and answers the same.)"""
    return await accept(request, rt, source)


async def intake_fast_path(scope: Scope, receive: Receive, send: Send, rt: Runtime, keys: KeyCache) -> None:
    """``POST /v1/leads`` straight from the ASGI entry, on the raw scope and messages: the hot path of the
    whole system. Answers exactly as :func:`accept` does through the framework."""
    headers: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        name = name.lower()
        if name in _WANTED and name not in headers:
            headers[name] = value
    try:
        source = await source_of_credential(_bearer(headers), rt, keys)
        body = await _receive_body(receive, headers.get(b"content-length"), rt.settings.max_body_bytes)
        if body is None:
            return  # the client went away: nobody to answer
        query = scope["query_string"]
        params = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True)) if query else {}
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        key = headers.get(b"idempotency-key")
        status, payload, replayed = await _accept(
            rt, source, content_type, body, params, None if key is None else key.decode("latin-1")
        )
    except LeadrelayError as exc:
        rt.metrics.lead_received("refused")
        await error_response(exc)(scope, receive, send)
        return
    content = orjson.dumps(payload)
    answer_headers = [(b"content-length", str(len(content)).encode()), (b"content-type", b"application/json")]
    if replayed:
        answer_headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": status, "headers": answer_headers})
    await send({"type": "http.response.body", "body": content})


_WANTED = frozenset((b"authorization", b"x-api-key", b"content-type", b"content-length", b"idempotency-key"))


def _bearer(headers: dict[bytes, bytes]) -> str | None:
    auth, key = headers.get(b"authorization"), headers.get(b"x-api-key")
    return credential_of(
        None if auth is None else auth.decode("latin-1"), None if key is None else key.decode("latin-1")
    )


async def _receive_body(receive: Receive, declared: bytes | None, limit: int) -> bytes | None:
    """The whole body, refused past ``limit`` bytes (declared or received); None if the client left."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPProblem(413, "body_too_large", f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, "body_too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def accept(request: Request, rt: Runtime, source: str) -> Response:
    try:
        body = await read_body(request, rt.settings.max_body_bytes)
        status, payload, replayed = await _accept(
            rt,
            source,
            request.headers.get("content-type", ""),
            body,
            request.query_params,
            request.headers.get("idempotency-key"),
        )
    except LeadrelayError:
        rt.metrics.lead_received("refused")
        raise
    response = json_response(payload, status)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


async def _accept(
    rt: Runtime,
    source: str,
    content_type: str,
    body: bytes,
    params: Mapping[str, str],
    key: str | None,
) -> tuple[int, dict[str, Any], bool]:
    """(HTTP status, body, whether it replays an Idempotency-Key's first answer)."""
    data = parse_body(content_type, body)
    in_body = data.pop("entity", None)  # never a lead field, wherever the entity is named
    entity = params.get("entity") or in_body
    live = await rt.configs.get(rt.storage)
    spec = live.specs.sources.get(source)
    if not entity and spec is not None and len(spec.entities) == 1:
        entity = spec.entities[0]
    if not entity or not isinstance(entity, str):
        raise ValidationFailed([FieldProblem("entity", 'required: name the entity (e.g. "entity": "solar")')])
    wait_param = params.get("wait")
    try:
        wait = float(wait_param) if wait_param is not None else (spec.wait_s if spec is not None else 0.0)
    except ValueError as exc:
        raise ValidationFailed([FieldProblem("wait", "must be a number of seconds")]) from exc
    if not 0 <= wait <= 60:
        raise ValidationFailed([FieldProblem("wait", "must be between 0 and 60 seconds")])
    if key is not None and not 0 < len(key) <= 200:
        raise ValidationFailed([FieldProblem("Idempotency-Key", "must be 1 to 200 characters")])
    token = data.pop(TOKEN_FIELD, None)  # a supplier ping's token: never a lead field
    if token is not None and not isinstance(token, str):
        raise ValidationFailed([FieldProblem(TOKEN_FIELD, "must be the text POST /v1/ping answered")])
    request = IntakeRequest(source, entity, data, key, wait=wait, ping_token=token)
    answer = await (_traced(rt, request) if traces.enabled() else rt.intake.accept(request))
    return answer.code, answer.body(), answer.repeat


async def _traced(rt: Runtime, request: IntakeRequest) -> intake_answers.IntakeAnswer:
    """Intake under its span (only when tracing is on: the hot path builds no attributes otherwise)."""
    attributes = {"leadrelay.source": request.source, "leadrelay.entity": request.entity}
    with traces.span("intake", attributes) as span:
        answer = await rt.intake.accept(request)
        span.set_attribute("leadrelay.lead_id", answer.lead_id)
        span.set_attribute("leadrelay.status", answer.status.value)
    return answer


@router.get("/{lead_id}", summary="A lead's outcome", response_model=IntakeAnswer)
async def get_lead(lead_id: str, rt: RuntimeDep, source: SourceDep) -> Response:
    answer = await rt.intake.outcome(lead_id, source=source)
    return json_response(answer.as_dict(), 200)
