"""The one place where the exception tree becomes HTTP answers: ``{"code", "detail"}`` (+ ``errors``)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import JSONResponse, Response

from leadrelay.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    InvalidTransition,
    LeadrelayError,
    NotFound,
    StorageError,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)

_STATUS: dict[type[LeadrelayError], int] = {  # the first class that matches wins
    Unavailable: 503,
    ValidationFailed: 422,
    ConfigError: 422,
    NotFound: 404,
    Conflict: 409,
    InvalidTransition: 409,
    Unauthorized: 401,
    Forbidden: 403,
    StorageError: 503,
}


class HTTPProblem(LeadrelayError):
    """A request-level problem with its own status (body too large, wrong media type)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code


def _status(exc: LeadrelayError) -> int:
    if isinstance(exc, HTTPProblem):
        return exc.status
    for cls, status in _STATUS.items():
        if isinstance(exc, cls):
            return status
    return 400


def error_response(exc: LeadrelayError) -> Response:
    """The answer for any error of the tree (also used by the intake fast path)."""
    body: dict[str, object] = {"code": exc.code, "detail": exc.detail}
    if isinstance(exc, ValidationFailed):
        body["errors"] = [p.as_dict() for p in exc.problems]
    if isinstance(exc, ConfigError):
        body["errors"] = [{"path": p.path, "error": p.message} for p in exc.problems]
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return JSONResponse(body, status_code=_status(exc), headers=headers)


async def _leadrelay_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LeadrelayError)
    return error_response(exc)


async def _request_validation(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path")), "error": e["msg"]}
        for e in exc.errors()
    ]
    return JSONResponse({"code": "validation_failed", "detail": "invalid request", "errors": errors}, 422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(LeadrelayError, _leadrelay_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
