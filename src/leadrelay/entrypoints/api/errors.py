"""The one place where the exception tree becomes HTTP answers: ``{"code", "detail"}`` (+ ``errors``)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import body_limit
from starlette.responses import JSONResponse, Response

from leadrelay.errors import (
    ConfigError,
    Conflict,
    Expired,
    Forbidden,
    Gone,
    InvalidTransition,
    LeadrelayError,
    NotFound,
    StorageError,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)

log = logging.getLogger("leadrelay.api")

_STATUS: dict[type[LeadrelayError], int] = {  # the first class that matches wins
    Unavailable: 503,
    ValidationFailed: 422,
    ConfigError: 422,
    NotFound: 404,
    Conflict: 409,
    Gone: 410,
    InvalidTransition: 409,
    Unauthorized: 401,
    Forbidden: 403,
    Expired: 410,
    TooManyRequests: 429,
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
    """The answer for any error of the tree (also used by the intake fast path). A database's own words
    (its host, port, database name) go to the log, not to whoever called: the answer says what to do."""
    detail = exc.detail
    if isinstance(exc, StorageError):
        log.warning("answered 503: %s", detail)
        detail = "the database is unavailable: try again shortly"
    body: dict[str, object] = {"code": exc.code, "detail": detail}
    if isinstance(exc, ValidationFailed):
        body["errors"] = [p.as_dict() for p in exc.problems]
    if isinstance(exc, ConfigError):
        body["errors"] = [{"path": p.path, "error": p.message} for p in exc.problems]
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse(body, status_code=_status(exc), headers=headers)


async def _leadrelay_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LeadrelayError)
    return error_response(exc)


async def _request_validation(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    broken = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
    if broken is not None:  # a body that does not parse: as every route documents it (not a field's 422)
        where = broken.get("ctx", {}).get("error", "")
        detail = f"the body is not valid JSON{f': {where}' if where else ''}"
        return JSONResponse({"code": "malformed_body", "detail": detail}, 400)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path")), "error": e["msg"]}
        for e in exc.errors()
    ]
    return JSONResponse({"code": "validation_failed", "detail": "invalid request", "errors": errors}, 422)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
}


async def _http_exception(_request: Request, exc: Exception) -> Response:
    """The framework's own answers (no such route, wrong method, a body that does not parse) in the same
    ``{"code", "detail"}`` shape as ours."""
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "internal_error" if exc.status_code >= 500 else "error")
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 400 and detail == "There was an error parsing the body":
        detail = "the body is not valid JSON (or is nested too deeply)"
        code = "malformed_body"
    return JSONResponse({"code": code, "detail": detail}, exc.status_code, headers=exc.headers)


# Starlette's signal that a body passed the app's ``max_body_size`` (it has no public type; FastAPI reads it
# the same way): answered in our shape instead of its plain "Content Too Large"
_BODY_TOO_LARGE: type[Exception] | None = getattr(body_limit, "_RequestBodyTooLarge", None)


async def _body_too_large(request: Request, _exc: Exception) -> Response:
    limit = request.scope.get(body_limit.MAX_BODY_SIZE_SCOPE_KEY)
    detail = f"the body is larger than {limit} bytes" if isinstance(limit, int) else "the body is too large"
    return JSONResponse({"code": "body_too_large", "detail": detail}, 413)


async def _unexpected(_request: Request, exc: Exception) -> Response:
    """A bug: logged with its traceback (by the server too), answered in the usual shape, never as text."""
    log.error("unhandled error", exc_info=exc)
    return JSONResponse({"code": "internal_error", "detail": "internal server error"}, 500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(LeadrelayError, _leadrelay_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    if _BODY_TOO_LARGE is not None:
        app.add_exception_handler(_BODY_TOO_LARGE, _body_too_large)
    app.add_exception_handler(Exception, _unexpected)
