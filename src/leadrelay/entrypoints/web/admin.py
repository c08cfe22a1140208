"""The console's administration pages: suppression lists (upload with progress), users, source and
partner keys with admin tokens, SMTP and alert settings.

Every change goes through a service (``SuppressionLists``/``import_file``, ``Accounts``,
``services.credentials``, ``Alerting``), which audits it. Forms carry the session's CSRF secret
(``csrf_token``) or, from script, the ``X-CSRF-Token`` header.

An upload is one request: the browser sends the file as the body (``XMLHttpRequest``, whose upload
progress draws the first bar); the server spools it to a temporary file, checks it (text, its header),
then imports it in a thread, chunk by chunk, and answers with a stream of JSON lines, one per chunk
written (``{"stage": "import", "read": bytes, "size": bytes}``), then the result (``{"stage": "done",
...}``) or the error (``{"stage": "error", ...}``). No job is stored: the progress lives as long as the
request, so any process of the installation can serve it. A file refused by the checks answers 422 with
the field before anything is written.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import JSONResponse, Response, StreamingResponse

from leadrelay.domain.access import STAFF_ROLES, Permission, Role, allows
from leadrelay.domain.suppression import KINDS
from leadrelay.entrypoints.web.console import (
    ConfigurePage,
    SecretsPage,
    UsersPage,
    ViewerPage,
    _message,
    _render,
    csrf_sent_ok,
    navigation,
)
from leadrelay.errors import ConfigError, Conflict, LeadrelayError, NotFound, ValidationFailed
from leadrelay.services import credentials
from leadrelay.services.suppression import ImportReport, SuppressionLists, check_file, import_file
from leadrelay.services.users import SessionUser

router = APIRouter(prefix="/console", include_in_schema=False)

MAX_UPLOAD = 1 << 30  # 1 GiB: a larger list is a job for `leadrelay suppression import`
_SPOOL = 1 << 20


def _page(
    request: Request, user: SessionUser, name: str, here: str, status: int = 200, **context: Any
) -> Response:
    return _render(
        request, name, {"user": user, "nav": navigation(user.role), "here": here, **context}, status
    )


def _expired(request: Request) -> Response:
    return _render(
        request,
        "message.html",
        _message("The form expired", "Go back and try again.", "/console", "Back to the console"),
        403,
    )


async def _form(request: Request, user: SessionUser) -> FormData | None:
    """The form, when it carries the session's CSRF secret (the field, or a script's header)."""
    form = await request.form()
    return form if csrf_sent_ok(request, user, form.get("csrf_token")) else None


def _text(form: FormData, name: str, limit: int = 320) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _errors(exc: LeadrelayError, rename: dict[str, str] | None = None) -> dict[str, str]:
    """A field -> message map for the form (``_`` when the error names no field)."""
    if isinstance(exc, ValidationFailed) and exc.problems:
        out: dict[str, str] = {}
        for problem in exc.problems:
            out.setdefault((rename or {}).get(problem.field, problem.field), problem.error)
        return out
    return {"_": exc.detail}


def _status(exc: LeadrelayError) -> int:
    return 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422


# ---------------------------------------------------------------- suppression lists


async def _suppression(request: Request, user: SessionUser, status: int = 200, **context: Any) -> Response:
    lists = await SuppressionLists(request.app.state.runtime.storage).lists()
    context.setdefault("errors", {})
    return _page(
        request,
        user,
        "admin/suppression.html",
        "/console/suppression",
        status,
        lists=lists,
        kinds=KINDS,
        can_change=allows(user.role, Permission.CONFIGURE),
        max_upload_mb=MAX_UPLOAD >> 20,
        **context,
    )


@router.get("/suppression", summary="Suppression lists")
async def suppression_page(request: Request, user: ViewerPage) -> Response:
    return await _suppression(request, user)


@router.post("/suppression", summary="Create a suppression list")
async def create_list(request: Request, user: ConfigurePage) -> Response:
    form = await _form(request, user)
    if form is None:
        return _expired(request)
    name, kind = _text(form, "name", 200), _text(form, "kind", 40)
    description = _text(form, "description", 2000) or None
    lists = SuppressionLists(request.app.state.runtime.storage)
    try:
        await lists.create(name, kind, description, actor=user.actor)
    except LeadrelayError as exc:
        errors = _errors(exc)
        if "_" in errors:  # a name taken
            errors["name"] = errors.pop("_")
        entered = {"name": name, "kind": kind, "description": description or ""}
        return await _suppression(request, user, _status(exc), errors=errors, entered=entered)
    return await _suppression(request, user, notice=f"The list {name} ({kind}) is created.")


@router.post("/suppression/{name}/remove", summary="Remove an entry from a suppression list")
async def remove_entry(request: Request, name: str, user: ConfigurePage) -> Response:
    form = await _form(request, user)
    if form is None:
        return _expired(request)
    value = _text(form, "value")
    lists = SuppressionLists(request.app.state.runtime.storage)
    key = f"value-{name}"
    if not value:
        return await _suppression(request, user, 422, errors={key: "give the value to remove"})
    try:
        outcome = await lists.remove(name, [value], hashed=False, actor=user.actor)
    except LeadrelayError as exc:
        return await _suppression(request, user, _status(exc), errors={key: exc.detail})
    if outcome.invalid:
        error = f"not a valid value for this list: {outcome.invalid[0].error}"
        return await _suppression(request, user, 422, errors={key: error})
    notice = (
        f"Removed from {name}: 1 entry."
        if outcome.changed
        else f"That value was not on {name}: nothing removed."
    )
    return await _suppression(request, user, notice=notice)


def _refuse(field: str, detail: str, status: int = 422) -> JSONResponse:
    return JSONResponse({"field": field, "detail": detail}, status_code=status)


@router.post(
    "/suppression/{name}/upload",
    summary="Upload a file to a list (its progress streamed)",
    max_body_size=1 << 62,  # its own bound (MAX_UPLOAD), answered below with the field named
)
async def upload(
    request: Request, name: str, user: ConfigurePage, column: str = "", hashed: bool = False
) -> Response:
    """The body is the file. The answer: 4xx JSON ``{field, detail}`` for a file refused before writing,
    else a stream of JSON lines (see the module's docstring)."""
    if not csrf_sent_ok(request, user, None):  # a script's upload: the header only
        return _refuse("csrf", "the form expired: reload the page and try again", 403)
    rt = request.app.state.runtime
    try:
        row = await SuppressionLists(rt.storage).show(name, count=False)
    except NotFound as exc:
        return _refuse("list", exc.detail, 404)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD:  # refused before a byte is read
        return _refuse("file", f"the file is over {MAX_UPLOAD >> 20} MiB: use the CLI", 413)
    fd, raw = tempfile.mkstemp(prefix="leadrelay-upload-", suffix=".txt")
    path = Path(raw)
    handed_over = False
    try:
        size = 0
        with os.fdopen(fd, "wb") as out:
            async for piece in request.stream():
                size += len(piece)
                if size > MAX_UPLOAD:
                    return _refuse("file", f"the file is over {MAX_UPLOAD >> 20} MiB: use the CLI", 413)
                out.write(piece)
        try:
            await asyncio.to_thread(check_file, path, row.kind, column=column or None, hashed=hashed)
        except ValidationFailed as exc:
            problem = exc.problems[0]
            return _refuse(problem.field, problem.error)
        handed_over = True
        return StreamingResponse(
            _import_lines(rt.storage, path, name, size, column or None, hashed, user.actor),
            media_type="application/x-ndjson",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
    finally:
        if not handed_over:
            await asyncio.to_thread(path.unlink, missing_ok=True)


def _line(item: dict[str, Any]) -> bytes:
    return (json.dumps(item) + "\n").encode()


async def _import_lines(
    storage: Any, path: Path, name: str, size: int, column: str | None, hashed: bool, actor: str
) -> AsyncIterator[bytes]:
    """Import in a thread; a line per chunk written, then the result. The import goes on (and the file is
    removed after it) when the browser leaves: what was written stays, as with the CLI."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[int] = asyncio.Queue()

    def progress(read: int) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, read)

    job = asyncio.ensure_future(
        asyncio.to_thread(
            import_file,
            storage,
            path,
            name,
            column=column,
            hashed=hashed,
            actor=actor,
            progress=progress,
        )
    )
    job.add_done_callback(lambda _: path.unlink(missing_ok=True))
    yield _line({"stage": "import", "read": 0, "size": size})
    while True:
        getter = asyncio.ensure_future(queue.get())
        await asyncio.wait({getter, job}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            yield _line({"stage": "import", "read": min(getter.result(), size), "size": size})
            continue
        getter.cancel()
        while not queue.empty():
            yield _line({"stage": "import", "read": min(queue.get_nowait(), size), "size": size})
        break
    error = job.exception()
    if error is not None:
        detail = error.detail if isinstance(error, LeadrelayError) else "the import failed: see the logs"
        yield _line({"stage": "error", "detail": detail})
        if not isinstance(error, LeadrelayError):
            raise error
        return
    report: ImportReport = job.result()
    yield _line({"stage": "import", "read": size, "size": size})
    yield _line(
        {
            "stage": "done",
            "list": name,
            "rows": report.total,
            "added": report.added,
            "duplicates": report.already_present,
            "rejected": report.invalid,
            "blank": report.blank,
            "examples": [{"line": n, "value": text, "why": why} for n, text, why in report.examples],
        }
    )


# ---------------------------------------------------------------- users


async def _users(request: Request, user: SessionUser, status: int = 200, **context: Any) -> Response:
    rt = request.app.state.runtime
    users = await asyncio.to_thread(rt.accounts.list_users)
    live = await rt.configs.get(rt.storage)
    context.setdefault("errors", {})
    context.setdefault("entered", {})
    return _page(
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
    form = await _form(request, user)
    if form is None:
        return _expired(request)
    entered = {k: _text(form, k, 200) for k in ("email", "role", "tenant", "display_name")}
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
        errors = _errors(exc, {"partner": "tenant", "source": "tenant"})
        if "_" in errors:
            errors["email"] = errors.pop("_")
        return await _users(request, user, _status(exc), errors=errors, entered=entered)
    return await _users(
        request, user, shown={"email": view["email"], "link": _invite_link(request, token), "what": "invite"}
    )


@router.post("/users/disable", summary="Disable a user")
async def disable(request: Request, user: UsersPage) -> Response:
    form = await _form(request, user)
    if form is None:
        return _expired(request)
    email = _text(form, "email")
    if email.lower() == user.email:
        return await _users(request, user, 422, problem="You cannot disable your own account.")
    try:
        view = await asyncio.to_thread(request.app.state.runtime.accounts.disable, email, actor=user.actor)
    except LeadrelayError as exc:
        return await _users(request, user, _status(exc), problem=exc.detail)
    return await _users(request, user, notice=f"{view['email']} is disabled; its sessions ended.")


@router.post("/users/reset", summary="Reset a user's password (a one-time password, or a new invitation)")
async def reset(request: Request, user: UsersPage) -> Response:
    """A user with a password gets a new random one, shown once (its sessions end); one without (an
    invitation not taken up) gets a new invitation link."""
    form = await _form(request, user)
    if form is None:
        return _expired(request)
    email = _text(form, "email")
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
        return await _users(request, user, _status(exc), problem=exc.detail)
    return await _users(request, user, shown=shown)


# ---------------------------------------------------------------- keys and admin tokens


async def _keys(request: Request, user: SessionUser, status: int = 200, **context: Any) -> Response:
    rt = request.app.state.runtime
    data = await rt.storage.run_read(credentials.overview)
    context.setdefault("errors", {})
    return _page(
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
    form = await _form(request, user)
    if form is None:
        return _expired(request)
    rt = request.app.state.runtime
    owner = _owner(_text(form, "owner", 300))
    if owner is None:
        return await _keys(request, user, 422, errors={"owner": "choose a source or a partner"})
    kind, name = owner
    key = credentials.new_source_key() if kind == "source" else credentials.new_partner_key()
    create = credentials.create_key if kind == "source" else credentials.create_partner_key
    now = datetime.now(UTC)
    try:
        key_id = await rt.storage.run(lambda tx: create(tx, name, key, actor=user.actor, now=now))
    except LeadrelayError as exc:
        return await _keys(request, user, _status(exc), errors={"owner": exc.detail})
    return await _keys(request, user, shown={"what": f"{kind} {name}", "id": key_id, "secret": key})


@router.post("/keys/revoke", summary="Revoke a source's or partner's key")
async def revoke_key(request: Request, user: SecretsPage) -> Response:
    form = await _form(request, user)
    if form is None:
        return _expired(request)
    rt = request.app.state.runtime
    owner, key_id = _owner(_text(form, "owner", 300)), _text(form, "key_id", 100)
    if owner is None or not key_id:
        return await _keys(request, user, 422, problem="Choose the key to revoke.")
    kind, name = owner
    revoke = credentials.revoke_key if kind == "source" else credentials.revoke_partner_key
    now = datetime.now(UTC)
    try:
        await rt.storage.run(lambda tx: revoke(tx, name, key_id, actor=user.actor, now=now))
    except LeadrelayError as exc:
        return await _keys(request, user, _status(exc), problem=exc.detail)
    rt.configs.invalidate()
    return await _keys(request, user, notice=f"Key {key_id} of {kind} {name} is revoked.")


@router.post("/keys/tokens", summary="Create an admin token (shown once)")
async def create_token(request: Request, user: SecretsPage) -> Response:
    form = await _form(request, user)
    if form is None:
        return _expired(request)
    rt = request.app.state.runtime
    name, role, days = _text(form, "name", 100), _text(form, "role", 20), _text(form, "days", 10)
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
        return await _keys(request, user, _status(exc), errors=_errors(exc), entered=entered)
    shown = {"what": f"admin token {name}", "id": view["id"], "secret": token}
    return await _keys(request, user, shown=shown)


@router.post("/keys/tokens/revoke", summary="Revoke an admin token")
async def revoke_token(request: Request, user: SecretsPage) -> Response:
    form = await _form(request, user)
    if form is None:
        return _expired(request)
    rt = request.app.state.runtime
    token_id = _text(form, "token_id", 100)
    if not token_id.isprintable():  # a NUL would fail in PostgreSQL's text (a 500): no token has one
        return await _keys(request, user, 404, problem="no admin token has this id")
    now = datetime.now(UTC)
    try:
        await rt.storage.run(lambda tx: credentials.revoke_token(tx, token_id, actor=user.actor, now=now))
    except LeadrelayError as exc:
        return await _keys(request, user, _status(exc), problem=exc.detail)
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
    return _page(
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
    form = await _form(request, user)
    if form is None:
        return _expired(request)
    name = _text(form, "alert", 200)
    try:
        sent = await request.app.state.runtime.alerts.test(name)
    except LeadrelayError as exc:
        return await _settings(request, user, _status(exc), problem=exc.detail)
    outcomes = [{"target": s.target, "error": s.error} for s in sent.sent]
    return await _settings(request, user, tested={"alert": name, "outcomes": outcomes})
