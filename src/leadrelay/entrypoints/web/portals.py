"""The partner and source portals (issue 12 point 7), under ``/console/partner/…`` and ``/console/source/…``.

Every page takes the signed-in user's own partner or source (``user.tenant``) and reads only its rows
(``services.portals``, ``rt.returns``, ``rt.invoices``, ``rt.intake``): another tenant's lead, return,
invoice, statement or key answers 404, without telling whether it exists. Staff roles get the 403 page
(``PartnerPage`` / ``SourcePage``). Every form carries the session's CSRF token.

A partner files returns (its ``returns:`` policy decides, as ``POST /v1/partner/returns`` does), reads its
invoices (issued, paid or void) and their PDFs, checks itself in or out (``services.availability``,
audited) and reads its postback instructions. A source reads its submissions as its API answers tell them,
its payouts and statements, manages its own API keys (created, shown once, revoked: audited) and reads the
posting specification of each entity it may post (``domain.posting_spec``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from leadrelay.adapters.documents.invoices import invoice_pdf, invoice_view
from leadrelay.domain.invoices import InvoiceStatus
from leadrelay.domain.ledger import Party
from leadrelay.entrypoints.web.console import (
    _HEADERS,
    PartnerPage,
    SourcePage,
    _render,
    _see,
    csrf_sent_ok,
    navigation,
)
from leadrelay.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from leadrelay.services import credentials
from leadrelay.services.availability import PartnerAvailability
from leadrelay.services.returns import ReturnRequest
from leadrelay.services.user_values import SessionUser

router = APIRouter(prefix="/console", include_in_schema=False)

MAX_NOTE = 2000
MAX_CURSOR = 40


def _tenant(user: SessionUser) -> str:
    assert user.tenant is not None  # a partner's or a source's user always names its own
    return user.tenant


def _page(
    request: Request, user: SessionUser, name: str, here: str, status: int = 200, **context: Any
) -> Response:
    context |= {"user": user, "nav": navigation(user.role), "here": here}
    return _render(request, f"portals/{name}", context, status)


def _problem(request: Request, user: SessionUser, status: int, title: str, text: str, back: str) -> Response:
    context = {"title": title, "text": text, "link": back, "link_text": "Back", "user": user}
    context["nav"] = navigation(user.role)
    context["here"] = back
    return _render(request, "message.html", context, status)


def _not_found(request: Request, user: SessionUser, exc: NotFound, back: str) -> Response:
    return _problem(request, user, 404, "Not found", exc.detail, back)


def _expired(request: Request, user: SessionUser, back: str) -> Response:
    return _problem(request, user, 403, "The form expired", "Go back, reload the page and try again.", back)


def _cursor(value: str | None) -> str | None:
    return value[:MAX_CURSOR] if value else None


async def _form(request: Request, user: SessionUser) -> dict[str, str] | None:
    """The posted form's fields, or None when its CSRF token is not the session's."""
    form = await request.form()
    if not csrf_sent_ok(request, user, form.get("csrf_token")):
        return None
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _pdf(content: bytes, name: str) -> Response:
    headers = dict(_HEADERS) | {"Content-Disposition": f'attachment; filename="{name}.pdf"'}
    return Response(content, media_type="application/pdf", headers=headers)


# ---------------------------------------------------------------- the partner portal


@router.get("/partner/leads", summary="The partner's leads")
async def partner_leads(request: Request, user: PartnerPage, cursor: str | None = None) -> Response:
    page = await request.app.state.runtime.portals.partner_leads(_tenant(user), _cursor(cursor))
    return _page(request, user, "partner_leads.html", "/console/partner/leads", page=page, cursor=cursor)


async def _lead_page(
    request: Request, user: SessionUser, delivery_id: str, status: int = 200, **extra: Any
) -> Response:
    rt = request.app.state.runtime
    try:
        lead = await rt.portals.partner_lead(_tenant(user), delivery_id)
    except NotFound as exc:
        return _not_found(request, user, exc, "/console/partner/leads")
    policy, _ = await rt.portals.partner_terms(_tenant(user))
    context: dict[str, Any] = {"lead": lead, "policy": policy, "error": None, "field": None}
    context |= {"reason": "", "note": ""} | extra
    if policy is not None and lead["delivered_at"]:
        delivered = dt.datetime.fromisoformat(lead["delivered_at"])
        context["window_ends"] = (delivered + policy.window).isoformat(timespec="minutes")
    return _page(request, user, "partner_lead.html", "/console/partner/leads", status, **context)


@router.get("/partner/leads/{delivery_id}", summary="One of the partner's leads, as delivered")
async def partner_lead(request: Request, user: PartnerPage, delivery_id: str) -> Response:
    return await _lead_page(request, user, delivery_id)


@router.post("/partner/leads/{delivery_id}/return", summary="File a return of one of the partner's leads")
async def file_return(request: Request, user: PartnerPage, delivery_id: str) -> Response:
    form = await _form(request, user)
    if form is None:
        return _expired(request, user, f"/console/partner/leads/{delivery_id}")
    reason = form.get("reason", "").strip()
    note = form.get("note", "").strip() or None
    kept = {"reason": reason, "note": note or ""}
    if not reason:
        return await _lead_page(
            request, user, delivery_id, 422, error="choose a reason", field="reason", **kept
        )
    if note is not None and len(note) > MAX_NOTE:
        error = f"at most {MAX_NOTE} characters"
        return await _lead_page(request, user, delivery_id, 422, error=error, field="note", **kept)
    req = ReturnRequest(_tenant(user), reason[:64], delivery_id, None, note)
    try:
        rec = await request.app.state.runtime.returns.request(req, actor=user.actor)
    except NotFound as exc:
        return _not_found(request, user, exc, "/console/partner/leads")
    except ValidationFailed as exc:
        problem = exc.problems[0] if exc.problems else None
        error, field = (problem.error, problem.field) if problem else (exc.detail, "reason")
        return await _lead_page(request, user, delivery_id, 422, error=error, field=field, **kept)
    except (InvalidTransition, Forbidden) as exc:  # past the window, over the rate, already returned …
        code = 409 if isinstance(exc, InvalidTransition) else 403
        return await _lead_page(request, user, delivery_id, code, error=exc.detail, field=None, **kept)
    return _see(f"/console/partner/returns?filed={rec.id}")


@router.get("/partner/returns", summary="The partner's returns")
async def partner_returns(
    request: Request, user: PartnerPage, filed: str | None = None, cursor: str | None = None
) -> Response:
    page = await request.app.state.runtime.portals.partner_returns(_tenant(user), _cursor(cursor))
    context = {"page": page, "cursor": cursor, "filed": filed}
    return _page(request, user, "partner_returns.html", "/console/partner/returns", **context)


@router.get("/partner/invoices", summary="The partner's invoices")
async def partner_invoices(request: Request, user: PartnerPage) -> Response:
    found = await request.app.state.runtime.invoices.find(party_kind=Party.PARTNER, party=_tenant(user))
    items = [invoice_view(i) for i in found if i.status is not InvoiceStatus.DRAFT]
    return _page(request, user, "invoices.html", "/console/partner/invoices", items=items, kind="partner")


@router.get("/partner/invoices/{invoice_id}.pdf", summary="One of the partner's invoices as PDF")
async def partner_invoice_pdf(request: Request, user: PartnerPage, invoice_id: str) -> Response:
    try:
        invoice = await request.app.state.runtime.invoices.get_own(invoice_id, Party.PARTNER, _tenant(user))
    except NotFound as exc:
        return _not_found(request, user, exc, "/console/partner/invoices")
    return _pdf(invoice_pdf(invoice), invoice.number or invoice.id)


async def _availability_page(
    request: Request, user: SessionUser, status: int = 200, **extra: Any
) -> Response:
    rt = request.app.state.runtime
    (row,) = await PartnerAvailability(rt.storage).show(_tenant(user))
    _, paused = await rt.portals.partner_terms(_tenant(user))
    context: dict[str, Any] = {"row": row, "paused": paused, "error": None, "done": None} | extra
    return _page(
        request, user, "partner_availability.html", "/console/partner/availability", status, **context
    )


@router.get("/partner/availability", summary="The partner's availability switch")
async def partner_availability(request: Request, user: PartnerPage) -> Response:
    return await _availability_page(request, user)


@router.post("/partner/availability", summary="Check the partner in or out (audited)")
async def set_partner_availability(request: Request, user: PartnerPage) -> Response:
    form = await _form(request, user)
    if form is None:
        return _expired(request, user, "/console/partner/availability")
    wanted = form.get("available")
    if wanted not in ("on", "off"):
        return await _availability_page(request, user, 422, error="choose on or off")
    note = form.get("note", "").strip() or None
    if note is not None and len(note) > 500:
        return await _availability_page(request, user, 422, error="the note: at most 500 characters")
    rt = request.app.state.runtime
    await PartnerAvailability(rt.storage).set(_tenant(user), wanted == "on", actor=user.actor, note=note)
    return _see("/console/partner/availability?done=1")


@router.get("/partner/postbacks", summary="The partner's postback instructions")
async def partner_postbacks(request: Request, user: PartnerPage) -> Response:
    guide = await request.app.state.runtime.portals.postbacks(_tenant(user))
    return _page(request, user, "partner_postbacks.html", "/console/partner/postbacks", guide=guide)


# ---------------------------------------------------------------- the source portal


@router.get("/source/submissions", summary="The source's submissions")
async def source_submissions(request: Request, user: SourcePage, cursor: str | None = None) -> Response:
    page = await request.app.state.runtime.portals.source_submissions(_tenant(user), _cursor(cursor))
    return _page(
        request, user, "source_submissions.html", "/console/source/submissions", page=page, cursor=cursor
    )


@router.get("/source/submissions/{lead_id}", summary="One of the source's submissions and its outcome")
async def source_submission(request: Request, user: SourcePage, lead_id: str) -> Response:
    try:
        answer = await request.app.state.runtime.intake.outcome(lead_id, source=_tenant(user))
    except NotFound as exc:
        return _not_found(request, user, exc, "/console/source/submissions")
    return _page(
        request, user, "source_submission.html", "/console/source/submissions", answer=answer.as_dict()
    )


@router.get("/source/payouts", summary="The source's payouts and statements")
async def source_payouts(request: Request, user: SourcePage, cursor: str | None = None) -> Response:
    rt = request.app.state.runtime
    page = await rt.portals.entries(Party.SOURCE, _tenant(user), _cursor(cursor))
    found = await rt.invoices.find(party_kind=Party.SOURCE, party=_tenant(user))
    statements = [invoice_view(i) for i in found if i.status is not InvoiceStatus.DRAFT]
    return _page(
        request,
        user,
        "source_payouts.html",
        "/console/source/payouts",
        page=page,
        cursor=cursor,
        items=statements,
    )


@router.get("/source/statements/{invoice_id}.pdf", summary="One of the source's statements as PDF")
async def source_statement_pdf(request: Request, user: SourcePage, invoice_id: str) -> Response:
    try:
        invoice = await request.app.state.runtime.invoices.get_own(invoice_id, Party.SOURCE, _tenant(user))
    except NotFound as exc:
        return _not_found(request, user, exc, "/console/source/payouts")
    return _pdf(invoice_pdf(invoice), invoice.number or invoice.id)


async def _keys_page(request: Request, user: SessionUser, status: int = 200, **extra: Any) -> Response:
    rt = request.app.state.runtime
    source = _tenant(user)
    keys = await rt.storage.run_read(lambda tx: credentials.list_keys(tx, source))
    context: dict[str, Any] = {"keys": keys, "created": None, "error": None} | extra
    return _page(request, user, "source_keys.html", "/console/source/keys", status, **context)


@router.get("/source/keys", summary="The source's API keys")
async def source_keys(request: Request, user: SourcePage) -> Response:
    return await _keys_page(request, user)


@router.post("/source/keys", summary="Create an API key for the source (shown once; audited)")
async def create_source_key(request: Request, user: SourcePage) -> Response:
    if await _form(request, user) is None:
        return _expired(request, user, "/console/source/keys")
    rt = request.app.state.runtime
    source, key, now = _tenant(user), credentials.new_source_key(), dt.datetime.now(dt.UTC)
    key_id = await rt.storage.run(
        lambda tx: credentials.create_key(tx, source, key, actor=user.actor, now=now)
    )
    return await _keys_page(request, user, created={"id": key_id, "key": key})


@router.post("/source/keys/{key_id}/revoke", summary="Revoke one of the source's API keys (audited)")
async def revoke_source_key(request: Request, user: SourcePage, key_id: str) -> Response:
    if await _form(request, user) is None:
        return _expired(request, user, "/console/source/keys")
    rt = request.app.state.runtime
    source, now = _tenant(user), dt.datetime.now(dt.UTC)
    try:
        await rt.storage.run(
            lambda tx: credentials.revoke_key(tx, source, key_id[:40], actor=user.actor, now=now)
        )
    except NotFound as exc:
        return _not_found(request, user, exc, "/console/source/keys")
    rt.configs.invalidate()
    return _see("/console/source/keys")


@router.get("/source/spec", summary="The source's posting specification")
async def source_spec(request: Request, user: SourcePage) -> Response:
    rt = request.app.state.runtime
    today = dt.datetime.now(dt.UTC).date()
    specs = await rt.portals.posting_specs(_tenant(user), rt.settings.base_url(), today)
    return _page(request, user, "source_spec.html", "/console/source/spec", specs=specs)
