"""The console's administration pages: users, source and partner keys with admin tokens, SMTP and alert
settings (the suppression lists' pages are ``suppression_pages``).

Every change goes through a service (``Accounts``, ``services.credentials``, ``Alerting``), which audits
it. Forms carry the session's CSRF secret (``csrf_token``) or, from script, the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from leadrelay.domain.access import STAFF_ROLES, Role
from leadrelay.entrypoints.web.admin_forms import (
    checked_form,
    error_status,
    field_errors,
    page,
    text_field,
)
from leadrelay.entrypoints.web.console import (
    ConfigurePage,
    SecretsPage,
    UsersPage,
    expired_page,
)
from leadrelay.errors import ConfigError, LeadrelayError, NotFound
from leadrelay.services import credentials
from leadrelay.services.user_values import SessionUser

router = APIRouter(prefix="/console", include_in_schema=False)


# ---------------------------------------------------------------- users


async def _users(request: Request, user: SessionUser, status: int = 200, **context: Any) -> Response:
    rt = request.app.state.runtime
    users = await asyncio.to_thread(rt.accounts.list_users)
    live = await rt.configs.get(rt.storage)
    context.setdefault("errors", {})
    context.setdefault("entered", {})
    return page(
        request,
        user,
        "admin/users.html",
        "/console/users",
        status,
        users=users,
        roles=[r.value for r in Role],
        tenants=sorted({*live.specs.partners, *live.specs.sources}),
        **context,
    )


@router.get("/users", summary="Console users")
async def users_page(request: Request, user: UsersPage) -> Response:
    return await _users(request, user)


def _invite_link(request: Request, token: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/console/invite/{token}"


@router.post("/users/invite", summary="Invite a user (the link shown once)")
async def invite(request: Request, user: UsersPage) -> Response:
    form = await checked_form(request, user)
    if form is None:
        return expired_page(request)
    entered = {k: text_field(form, k, 200) for k in ("email", "role", "tenant", "display_name")}
    accounts = request.app.state.runtime.accounts
    try:
        view, token = await asyncio.to_thread(
            accounts.invite,
            entered["email"],
            entered["role"],
            actor=user.actor,
            display_name=entered["display_name"] or None,
            tenant=entered["tenant"] or None,
        )
    except LeadrelayError as exc:
        errors = field_errors(exc, {"partner": "tenant", "source": "tenant"})
        if "_" in errors:
            errors["email"] = errors.pop("_")
        return await _users(request, user, error_status(exc), errors=errors, entered=entered)
    return await _users(
        request, user, shown={"email": view["email"], "link": _invite_link(request, token), "what": "invite"}
    )


@router.post("/users/disable", summary="Disable a user")
async def disable(request: Request, user: UsersPage) -> Response:
    form = await checked_form(request, user)
    if form is None:
        return expired_page(request)
    email = text_field(form, "email")
    if email.lower() == user.email:
        return await _users(request, user, 422, problem="You cannot disable your own account.")
    try:
        view = await asyncio.to_thread(request.app.state.runtime.accounts.disable, email, actor=user.actor)
    except LeadrelayError as exc:
        return await _users(request, user, error_status(exc), problem=exc.detail)
    return await _users(request, user, notice=f"{view['email']} is disabled; its sessions ended.")


@router.post("/users/reset", summary="Reset a user's password (a one-time password, or a new invitation)")
async def reset(request: Request, user: UsersPage) -> Response:
    """A user with a password gets a new random one, shown once (its sessions end); one without (an
    invitation not taken up) gets a new invitation link."""
    form = await checked_form(request, user)
    if form is None:
        return expired_page(request)
    email = text_field(form, "email")
    accounts = request.app.state.runtime.accounts
    try:
        users = await asyncio.to_thread(accounts.list_users)
        found = next((u for u in users if u["email"] == email.lower()), None)
        if found is None:
            raise NotFound(f"no user with the email {email!r}")
        if found["has_password"]:
            password = secrets.token_urlsafe(12)
            await asyncio.to_thread(accounts.reset_password, email, password, actor=user.actor)
            shown = {"email": found["email"], "password": password, "what": "password"}
        else:
            _, token = await asyncio.to_thread(
                accounts.invite, email, found["role"], actor=user.actor, tenant=found["tenant"]
            )
            shown = {"email": found["email"], "link": _invite_link(request, token), "what": "invite"}
    except LeadrelayError as exc:
        return await _users(request, user, error_status(exc), problem=exc.detail)
    return await _users(request, user, shown=shown)


# ---------------------------------------------------------------- keys and admin tokens


async def _keys(request: Request, user: SessionUser, status: int = 200, **context: Any) -> Response:
    rt = request.app.state.runtime
    data = await rt.storage.run_read(credentials.overview)
    context.setdefault("errors", {})
    return page(
        request,
        user,
        "admin/keys.html",
        "/console/keys",
        status,
        data=data,
        staff_roles=sorted(r.value for r in STAFF_ROLES),
        **context,
    )


@router.get("/keys", summary="Source and partner keys, admin tokens")
async def keys_page(request: Request, user: SecretsPage) -> Response:
    return await _keys(request, user)


def _owner(text: str) -> tuple[str, str] | None:
    kind, _, name = text.partition(":")
    return (kind, name) if kind in ("source", "partner") and name else None


@router.post("/keys", summary="Create a source's or partner's key (shown once)")
async def create_key(request: Request, user: SecretsPage) -> Response:
    form = await checked_form(request, user)
    if form is None:
        return expired_page(request)
    rt = request.app.state.runtime
    owner = _owner(text_field(form, "owner", 300))
    if owner is None:
        return await _keys(request, user, 422, errors={"owner": "choose a source or a partner"})
    kind, name = owner
    key = credentials.new_source_key() if kind == "source" else credentials.new_partner_key()
    create = credentials.create_key if kind == "source" else credentials.create_partner_key
    now = datetime.now(UTC)
    try:
        key_id = await rt.storage.run(lambda tx: create(tx, name, key, actor=user.actor, now=now))
    except LeadrelayError as exc:
        return await _keys(request, user, error_status(exc), errors={"owner": exc.detail})
    return await _keys(request, user, shown={"what": f"{kind} {name}", "id": key_id, "secret": key})


@router.post("/keys/revoke", summary="Revoke a source's or partner's key")
async def revoke_key(request: Request, user: SecretsPage) -> Response:
    form = await checked_form(request, user)
    if form is None:
        return expired_page(request)
    rt = request.app.state.runtime
    owner, key_id = _owner(text_field(form, "owner", 300)), text_field(form, "key_id", 100)
    if owner is None or not key_id:
        return await _keys(request, user, 422, problem="Choose the key to revoke.")
    kind, name = owner
    revoke = credentials.revoke_key if kind == "source" else credentials.revoke_partner_key
    now = datetime.now(UTC)
    try:
        await rt.storage.run(lambda tx: revoke(tx, name, key_id, actor=user.actor, now=now))
    except LeadrelayError as exc:
        return await _keys(request, user, error_status(exc), problem=exc.detail)
    rt.configs.invalidate()
    return await _keys(request, user, notice=f"Key {key_id} of {kind} {name} is revoked.")


@router.post("/keys/tokens", summary="Create an admin token (shown once)")
async def create_token(request: Request, user: SecretsPage) -> Response:
    form = await checked_form(request, user)
    if form is None:
        return expired_page(request)
    rt = request.app.state.runtime
    name, role, days = (
        text_field(form, "name", 100),
        text_field(form, "role", 20),
        text_field(form, "days", 10),
    )
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "give the token a name (who or what uses it)"
    if role not in {r.value for r in STAFF_ROLES}:
        errors["role"] = "choose admin, operator or viewer"
    expires: timedelta | None = None
    if days:
        if not re.fullmatch(r"[0-9]{1,9}", days) or not 1 <= int(days) <= 3650:
            errors["days"] = "a whole number of days from 1 to 3650, or empty for no expiry"
        else:
            expires = timedelta(days=int(days))
    entered = {"name": name, "role": role, "days": days}
    if errors:
        return await _keys(request, user, 422, errors=errors, entered=entered)
    token = credentials.new_admin_token()
    now = datetime.now(UTC)
    try:
        view = await rt.storage.run(
            lambda tx: credentials.create_token(
                tx, name, token, actor=user.actor, now=now, expires_in=expires, role=Role(role)
            )
        )
    except LeadrelayError as exc:
        return await _keys(request, user, error_status(exc), errors=field_errors(exc), entered=entered)
    shown = {"what": f"admin token {name}", "id": view["id"], "secret": token}
    return await _keys(request, user, shown=shown)


@router.post("/keys/tokens/revoke", summary="Revoke an admin token")
async def revoke_token(request: Request, user: SecretsPage) -> Response:
    form = await checked_form(request, user)
    if form is None:
        return expired_page(request)
    rt = request.app.state.runtime
    token_id = text_field(form, "token_id", 100)
    if not token_id.isprintable():  # a NUL would fail in PostgreSQL's text (a 500): no token has one
        return await _keys(request, user, 404, problem="no admin token has this id")
    now = datetime.now(UTC)
    try:
        await rt.storage.run(lambda tx: credentials.revoke_token(tx, token_id, actor=user.actor, now=now))
    except LeadrelayError as exc:
        return await _keys(request, user, error_status(exc), problem=exc.detail)
    rt.configs.invalidate()
    return await _keys(request, user, notice=f"Admin token {token_id} is revoked.")


# ---------------------------------------------------------------- SMTP and alert settings


async def _settings(request: Request, user: SessionUser, status: int = 200, **context: Any) -> Response:
    rt = request.app.state.runtime
    live = await rt.configs.get(rt.storage)
    smtp_error = None
    smtp = None
    try:
        smtp = await rt.channels.smtp()
    except ConfigError as exc:
        smtp_error = exc.detail
    origin = "the configuration's smtp section" if live.specs.smtp else "the environment (LEADRELAY_SMTP_*)"
    alerts = await rt.alerts.overview(20)
    return page(
        request,
        user,
        "admin/settings.html",
        "/console/settings",
        status,
        smtp=smtp,
        smtp_error=smtp_error,
        smtp_origin=origin,
        alerts=alerts,
        **context,
    )


@router.get("/settings", summary="SMTP and alert settings")
async def settings_page(request: Request, user: ConfigurePage) -> Response:
    return await _settings(request, user)


@router.post("/settings/test-alert", summary="Send an alert rule a test message")
async def test_alert(request: Request, user: ConfigurePage) -> Response:
    form = await checked_form(request, user)
    if form is None:
        return expired_page(request)
    name = text_field(form, "alert", 200)
    try:
        sent = await request.app.state.runtime.alerts.test(name)
    except LeadrelayError as exc:
        return await _settings(request, user, error_status(exc), problem=exc.detail)
    outcomes = [{"target": s.target, "error": s.error} for s in sent.sent]
    return await _settings(request, user, tested={"alert": name, "outcomes": outcomes})
