"""What the console's administration pages share: a page drawn with its navigation, the form taken only
with the session's CSRF secret, a text field read within a bound, and a refusal as the form's field errors
and its HTTP status."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from leadrelay.entrypoints.web.console import (
    _render,
    csrf_sent_ok,
    navigation,
)
from leadrelay.errors import Conflict, LeadrelayError, NotFound, ValidationFailed
from leadrelay.services.user_values import SessionUser


def page(
    request: Request, user: SessionUser, name: str, here: str, status: int = 200, **context: Any
) -> Response:
    return _render(
        request, name, {"user": user, "nav": navigation(user.role), "here": here, **context}, status
    )


async def checked_form(request: Request, user: SessionUser) -> FormData | None:
    """The form, when it carries the session's CSRF secret (the field, or a script's header)."""
    form = await request.form()
    return form if csrf_sent_ok(request, user, form.get("csrf_token")) else None


def text_field(form: FormData, name: str, limit: int = 320) -> str:
    """A form's text, trimmed and bounded, without NUL (no browser sends one in a text input; PostgreSQL's
    text refuses it, which answered 500)."""
    value = form.get(name)
    return value.replace("\x00", "").strip()[:limit] if isinstance(value, str) else ""


def field_errors(exc: LeadrelayError, rename: dict[str, str] | None = None) -> dict[str, str]:
    """A field -> message map for the form (``_`` when the error names no field)."""
    if isinstance(exc, ValidationFailed) and exc.problems:
        out: dict[str, str] = {}
        for problem in exc.problems:
            out.setdefault((rename or {}).get(problem.field, problem.field), problem.error)
        return out
    return {"_": exc.detail}


def error_status(exc: LeadrelayError) -> int:
    return 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
