"""What the OpenAPI document says about answers every route shares: the one error model and its statuses.

``COMMON_RESPONSES`` is given to the application, so every route — today's and any added later — documents
``{"code", "detail", "errors"}`` for its 4xx answers (and 503 when the database is away), instead of
FastAPI's default 422 shape, which leadrelay never sends.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field


class Problem(BaseModel):
    """One bad input: ``field`` (a request field or parameter) or ``path`` (in a configuration)."""

    model_config = ConfigDict(extra="allow")
    field: str | None = None
    path: str | None = None
    error: str


class ErrorBody(BaseModel):
    """Every error answer: a stable machine-readable ``code``, a sentence, and the bad inputs if any."""

    code: str = Field(examples=["validation_failed"])
    detail: str = Field(examples=["the input is invalid"])
    errors: list[Problem] | None = Field(default=None, description="for 422: each bad field or path")


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("Malformed request (a body that does not parse)"),
    401: _error("Missing, unknown or revoked credential"),
    404: _error("No such object"),
    409: _error("Conflicts with the current state"),
    422: _error("Invalid input: `errors` names each bad field or configuration path"),
    "4XX": _error("Another client error"),
    503: _error("The database is unavailable; try again"),
}


class OfferShown(BaseModel):
    """One offer of a lead routed by ``strategy: user_choice`` (``POST /v1/offers/{id}/select``)."""

    id: str
    partner: str = Field(description="the partner's display name")
    logo_url: str | None = None
    price: float | None = Field(default=None, description="only where the partner shows its price")
    expires_at: str = Field(description="ISO 8601, UTC: the offer cannot be selected from then on (410)")


class IntakeAnswer(BaseModel):
    """The answer to a posted lead (``POST /v1/leads``, ``GET /v1/leads/{id}``)."""

    model_config = ConfigDict(extra="allow")
    lead_id: str
    status: str = Field(description="queued | delivered | unsold | failed | rejected | duplicate")
    errors: list[Problem] | None = Field(default=None, description="for rejected: each bad field")
    offers: list[OfferShown] | None = Field(
        default=None, description="strategy user_choice, while queued: the offers the consumer may select"
    )


LEAD_BODY: dict[str, Any] = {
    "description": "The lead's fields, by the entity's field names (and `entity` unless the source posts "
    "one only, or it is given as `?entity=`); with POST /v1/leads, `ping_token`: what POST /v1/ping answered",
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"entity": {"type": "string", "minLength": 1}},
                "additionalProperties": True,
            }
        },
        "application/x-www-form-urlencoded": {
            "schema": {"type": "object", "additionalProperties": {"type": "string"}}
        },
    },
}


PRINTABLE = r"^[^\u0000-\u001f\u007f]*$"  # what guards.check_request_line lets through
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def _printable(schema: dict[str, Any]) -> None:
    """Add the no-control-characters pattern to a string schema (or to the string arm of an anyOf)."""
    if schema.get("type") == "string" and "pattern" not in schema and "enum" not in schema:
        schema["pattern"] = PRINTABLE
    for arm in schema.get("anyOf", []):
        _printable(arm)


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """The last touches FastAPI cannot express per route: every path and query string refuses control
    characters (one guard, ``guards.check_request_line``), and every error answer is JSON, whatever the
    route's own media type (``holds.csv`` answers its errors as JSON too)."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") in ("path", "query"):
                    _printable(parameter.setdefault("schema", {}))
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" not in content:
                    response["content"] = _ERROR_CONTENT
    return document


def install(app: FastAPI) -> None:
    """Serve the finished document (built once, on first request, as FastAPI does)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
