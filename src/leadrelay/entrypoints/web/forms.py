"""The hosted lead form (issue 12, point 8; ``services.hosted_form``): HTML pages for consumers.

- ``GET /f/{source}/{entity}``: the form, generated from the entity's fields, with the consent checkbox.
- ``POST /f/{source}/{entity}``: the post, through the same intake as ``POST /v1/leads``: the form again
  with a message next to each bad field, or a thank-you page (with the offers under user choice).
- ``POST /f/{source}/{entity}/offers/{offer_id}``: the consumer selects an offer.

No API key: the source opted in (``sources.<name>.form``). A post needs the page's signed token (a
cross-site post, or one older than ``token_ttl``, is refused with a page saying why) and is counted
against the client address's limit (429). Pages load nothing from elsewhere (their Content-Security-Policy
says so): the style is inline, and there is no script.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, Response

from leadrelay.bootstrap import Runtime
from leadrelay.domain.hosted_form import TokenCheck, form_subject, offer_subject
from leadrelay.entrypoints.web.form_inputs import honeypot_name, input_of
from leadrelay.errors import Conflict, Forbidden, Gone, LeadrelayError, NotFound, SourceCapReached
from leadrelay.services.hosted_form import FormSetup, HostedForms, Submitted

__all__ = ["router"]

log = logging.getLogger("leadrelay.forms")

router = APIRouter(prefix="/f", include_in_schema=False)

TOKEN = "_token"
CONSENT = "_consent"
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates" / "form"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
_REFUSED = {
    TokenCheck.MISSING: "The form was not sent from its page on this site. Load the form and send it "
    "from there.",
    TokenCheck.INVALID: "The form was changed or was not sent from its page on this site. Load the form "
    "again and send it from there.",
    TokenCheck.EXPIRED: "The form was open too long. Load it again and send it: your answers were not sent.",
}


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _message(status: int, title: str, text: str, link: str | None = None) -> HTMLResponse:
    return _page("message.html", status, title=title, text=text, link=link)


def _not_found() -> HTMLResponse:
    return _message(404, "Form not found", "There is no form at this address.")


def _forms(request: Request) -> HostedForms:
    """The service, one per runtime (it holds the rate limit's counts)."""
    rt: Runtime = request.app.state.runtime
    held: tuple[Runtime, HostedForms] | None = getattr(request.app.state, "hosted_forms", None)
    if held is None or held[0] is not rt:
        forms = HostedForms(rt.storage, rt.configs, rt.intake, rt.offers, rt.dedup_keys)
        held = request.app.state.hosted_forms = (rt, forms)
    return held[1]


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _cross_site(request: Request) -> bool:
    """A browser's word that the post comes from another site: ``Sec-Fetch-Site: cross-site``, or an
    ``Origin`` that is neither this host nor the installation's public URL. ``Origin: null`` is an origin
    hidden from us (another site's page with ``Referrer-Policy: no-referrer``, a sandboxed frame): never
    the form's own page, which is served with ``same-origin``."""
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        return True
    origin = request.headers.get("origin")
    if not origin:
        return False
    if origin == "null":
        return True
    rt: Runtime = request.app.state.runtime
    ours = {request.headers.get("host", ""), urlsplit(rt.settings.base_url()).netloc}
    return urlsplit(origin).netloc not in ours


async def _body(request: Request) -> dict[str, str] | None:
    """The posted form's values (urlencoded, as the page posts them); None past the body limit."""
    rt: Runtime = request.app.state.runtime
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > rt.settings.max_body_bytes:
            return None
        chunks.append(chunk)
    return dict(parse_qsl(b"".join(chunks).decode("utf-8", "replace"), keep_blank_values=True))


def _too_large(link: str) -> HTMLResponse:
    return _message(413, "Form not sent", "The form is too large to send.", link)


async def _render_form(
    forms: HostedForms,
    setup: FormSetup,
    *,
    values: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    consented: bool = False,
    status: int = 200,
) -> HTMLResponse:
    source, entity = setup.source.name, setup.entity.name
    token = await forms.token(form_subject(source, entity))
    return _page(
        "form.html",
        status,
        title=setup.form.title or entity.replace("_", " ").replace("-", " ").capitalize(),
        action=f"/f/{source}/{entity}",
        inputs=[input_of(spec) for spec in setup.inputs],
        values=values or {},
        problems=problems or {},
        consent_text=setup.form.consent_text,
        consented=consented,
        honeypot=honeypot_name(set(setup.entity.fields)),
        token=token,
        token_name=TOKEN,
        consent_name=CONSENT,
    )


@router.get("/{source}/{entity}")
async def show_form(source: str, entity: str, request: Request) -> Response:
    forms = _forms(request)
    try:
        setup = await forms.setup(source, entity)
    except NotFound:
        return _not_found()
    return await _render_form(forms, setup)


@router.post("/{source}/{entity}")
async def post_form(source: str, entity: str, request: Request) -> Response:
    forms = _forms(request)
    try:
        setup = await forms.setup(source, entity)
    except NotFound:
        return _not_found()
    link = f"/f/{source}/{entity}"
    if _cross_site(request):
        return _message(
            403, "Form not sent", "The form was sent from another site. Load it here and send it.", link
        )
    data = await _body(request)
    if data is None:
        return _too_large(link)
    check = await forms.check(form_subject(source, entity), data.get(TOKEN), setup.form.token_ttl_s)
    if check is not TokenCheck.OK:
        log.info("hosted form %s/%s: refused a post (token %s)", source, entity, check)
        return _message(403, "Form not sent", _REFUSED[check], link)
    wait = await forms.admit(setup, _client(request))
    if wait is not None:
        seconds = max(int(wait + 0.999), 1)
        page = _message(
            429, "Too many requests", f"Too many forms were sent from your address. Wait {seconds} s.", link
        )
        page.headers["Retry-After"] = str(seconds)
        return page
    consented = bool(data.get(CONSENT))
    try:
        done = await forms.submit(
            setup,
            data,
            consented=consented,
            honeypot=data.get(honeypot_name(set(setup.entity.fields)), ""),
            client=_client(request),
            user_agent=request.headers.get("user-agent", ""),
        )
    except SourceCapReached as exc:  # the source has sent what its caps allow in the window
        later = _human_wait(exc.retry_after)
        page = _message(
            429, "Form not sent", f"This form takes no more requests for now. Try again in {later}.", link
        )
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    except Forbidden:  # past the source's total cap (or the source may no longer post the entity)
        return _message(403, "Form closed", "This form takes no more requests.", link)
    except LeadrelayError as exc:
        log.warning("hosted form %s/%s: intake refused the post: %s", source, entity, exc)
        return _message(503, "Form not sent", "The form could not be sent now. Try again in a minute.", link)
    if done.problems:
        return await _render_form(
            forms, setup, values=data, problems=done.problems, consented=consented, status=422
        )
    return await _thanks(forms, setup, done)


async def _thanks(forms: HostedForms, setup: FormSetup, done: Submitted) -> HTMLResponse:
    source, entity = setup.source.name, setup.entity.name
    offers = []
    for offer in done.answer.offers if done.answer is not None else []:
        offers.append(
            {
                "name": offer["partner"],
                "price": offer.get("price"),
                "action": f"/f/{source}/{entity}/offers/{offer['id']}",
                "token": await forms.token(offer_subject(source, offer["id"])),
            }
        )
    return _page("thanks.html", offers=offers, token_name=TOKEN)


@router.post("/{source}/{entity}/offers/{offer_id}")
async def select_offer(source: str, entity: str, offer_id: str, request: Request) -> Response:
    forms = _forms(request)
    try:
        setup = await forms.setup(source, entity)
    except NotFound:
        return _not_found()
    link = f"/f/{source}/{entity}"
    if _cross_site(request):
        return _message(403, "Choice not sent", "The choice was sent from another site.", link)
    data = await _body(request)
    if data is None:
        return _too_large(link)
    check = await forms.check(offer_subject(source, offer_id), data.get(TOKEN), setup.form.token_ttl_s)
    if check is not TokenCheck.OK:
        return _message(403, "Choice not sent", _REFUSED[check], link)
    try:
        name = await forms.select(source, offer_id)
    except NotFound:
        return _message(404, "Offer not found", "There is no such offer.")
    except Gone:
        return _message(410, "Offer expired", "This offer has expired: the choice was not sent.")
    except Conflict:
        return _message(409, "Already chosen", "A choice was already made for this request.")
    return _page("chosen.html", partner=name)


def _human_wait(seconds: int) -> str:
    """``3 minutes``, ``5 hours``: how long, roughly, as a person reads it."""
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = round(seconds / size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"
