"""A console user's values (``services.users``): the checks on what is typed for a user (email, role,
password), a user row as the CLI and the API show it, and who a session belongs to. No I/O here.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadrelay.domain.access import Role, normal_email, password_problem
from leadrelay.errors import FieldProblem, ValidationFailed
from leadrelay.services.ports import Record

__all__ = [
    "WRONG_LOGIN",
    "NewSession",
    "SessionUser",
    "checked_email",
    "checked_password",
    "checked_role",
    "digest",
    "field_problem",
    "iso",
    "login_name",
    "user_view",
    "whole_seconds",
]

WRONG_LOGIN = "wrong email or password"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def user_view(row: Record) -> dict[str, Any]:
    return {
        "id": row.id,
        "email": row.email,
        "display_name": row.display_name,
        "role": row.role,
        "tenant": row.tenant,
        "created_at": iso(row.created_at),
        "last_login_at": iso(row.last_login_at),
        "disabled_at": iso(row.disabled_at),
        "has_password": row.password_hash is not None,
    }


@dataclass(frozen=True, slots=True)
class SessionUser:
    """Who a live session belongs to, and the secret its forms and unsafe requests must show."""

    user_id: str
    email: str
    display_name: str
    role: Role
    tenant: str | None
    csrf_secret: str

    @property
    def actor(self) -> str:
        return f"user:{self.email}"

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf_secret.encode())


@dataclass(frozen=True, slots=True)
class NewSession:
    cookie: str  # the session id, for the cookie only
    user: SessionUser
    expires_at: datetime


def field_problem(name: str, error: str) -> ValidationFailed:
    return ValidationFailed([FieldProblem(name, error)], f"{name}: {error}")


def checked_email(text: str) -> str:
    email = normal_email(text)
    if email is None:
        raise field_problem("email", "is not an email address")
    return email


def login_name(text: str) -> str:
    """What a login with something that is no email is counted under: no control character (PostgreSQL's
    text holds no NUL), at most the column's length. It matches no user."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", "?", text.strip().lower())[:320]


def whole_seconds(wait: timedelta) -> int:
    return max(1, math.ceil(wait.total_seconds()))


def checked_role(text: str | Role) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise field_problem("role", f"must be one of {', '.join(r.value for r in Role)}") from None


def checked_password(password: str) -> str:
    problem = password_problem(password)
    if problem is not None:
        raise field_problem("password", problem)
    return password
