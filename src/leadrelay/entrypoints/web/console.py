"""The web console's shell at ``/console``: log in, log out, the invitation page and the dashboard, rendered
on the server (Jinja2; templates and static files beside this module, nothing from a CDN).

Every form carries a CSRF token: the session's own secret once logged in, and before that (the login and
invitation forms) a random value also set as a cookie (double submit). The session cookie is HttpOnly,
SameSite=Lax, and Secure when the request came over https or ``LEADRELAY_SECURE_COOKIES`` says so.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from leadrelay.domain.access import Permission, Role, allows, refusal
from leadrelay.entrypoints.api import shared_routes
from leadrelay.entrypoints.api.deps import CSRF_HEADER, SESSION_COOKIE, session_of
from leadrelay.errors import Gone, LeadrelayError, NotFound, TooManyRequests, Unauthorized, ValidationFailed
from leadrelay.services.user_values import SessionUser

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
static_files = StaticFiles(directory=HERE / "static")
FORM_COOKIE = "lr_form_csrf"  # the double-submit token of the forms shown before a session exists
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # an invitation's token is in its URL
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    path: str
    permission: Permission
    ready: bool  # False: announced, not built yet


NAVIGATION = (
    NavItem("Dashboard", "/console", Permission.VIEW, True),
    NavItem("Distribution log", "/console/log", Permission.VIEW, True),
    NavItem("Audit log", "/console/audit", Permission.VIEW, True),
    NavItem("Leads", "/console/leads", Permission.VIEW, True),
    NavItem("Simulator", "/console/simulator", Permission.VIEW, True),
    NavItem("Configuration", "/console/config", Permission.CONFIGURE, True),
    NavItem("Users", "/console/users", Permission.USERS, True),
    NavItem("Suppression lists", "/console/suppression", Permission.VIEW, True),
    NavItem("Keys", "/console/keys", Permission.SECRETS, True),
    NavItem("Settings", "/console/settings", Permission.CONFIGURE, True),
    NavItem("Portal", "/console", Permission.PARTNER_PORTAL, True),
    NavItem("Leads", "/console/partner/leads", Permission.PARTNER_PORTAL, True),
    NavItem("Returns", "/console/partner/returns", Permission.PARTNER_PORTAL, True),
    NavItem("Invoices", "/console/partner/invoices", Permission.PARTNER_PORTAL, True),
    NavItem("Availability", "/console/partner/availability", Permission.PARTNER_PORTAL, True),
    NavItem("Postbacks", "/console/partner/postbacks", Permission.PARTNER_PORTAL, True),
    NavItem("Portal", "/console", Permission.SOURCE_PORTAL, True),
    NavItem("Submissions", "/console/source/submissions", Permission.SOURCE_PORTAL, True),
    NavItem("Payouts", "/console/source/payouts", Permission.SOURCE_PORTAL, True),
    NavItem("API keys", "/console/source/keys", Permission.SOURCE_PORTAL, True),
    NavItem("Posting specification", "/console/source/spec", Permission.SOURCE_PORTAL, True),
)


def navigation(role: Role) -> list[NavItem]:
    return [item for item in NAVIGATION if allows(role, item.permission)]


class SignedIn:
    """A page's dependency: a live console session (any role). Without one the page redirects to the
    login (``NeedsLogin``), unlike the API's 401."""

    permission = None

    async def __call__(self, request: Request) -> SessionUser:
        user = await session_of(request)
        if user is None:
            # back to the page asked for, its filters too (its query string)
            raise NeedsLogin(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return user


class PageNeeds:
    """A page's dependency: a live session whose role has ``permission`` (the role table of
    ``leadrelay.domain.access``). Without a session: the login; with one whose role may not: a 403 page."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, request: Request) -> SessionUser:
        user = await SignedIn()(request)
        if not allows(user.role, self.permission):
            raise PageForbidden(refusal(user.role, self.permission))
        return user


class PageForbidden(Exception):
    """The signed-in user's role may not see this page (answered as a 403 page)."""


def csrf_sent_ok(request: Request, user: SessionUser, field: object) -> bool:
    """A console POST carries the session's CSRF secret: its form's ``csrf_token`` field (``field``), or
    a script's ``X-CSRF-Token`` header."""
    sent = field if isinstance(field, str) and field else request.headers.get(CSRF_HEADER)
    return isinstance(sent, str) and bool(sent) and user.csrf_ok(sent)


class NeedsLogin(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


UserDep = Annotated[SessionUser, Depends(SignedIn())]
# pages of staff (viewer and up), of operators (acting on leads), of admins (configuration, users), of tenants
ViewerPage = Annotated[SessionUser, Depends(PageNeeds(Permission.VIEW))]
OperatorPage = Annotated[SessionUser, Depends(PageNeeds(Permission.ACT))]
ConfigurePage = Annotated[SessionUser, Depends(PageNeeds(Permission.CONFIGURE))]
UsersPage = Annotated[SessionUser, Depends(PageNeeds(Permission.USERS))]
PartnerPage = Annotated[SessionUser, Depends(PageNeeds(Permission.PARTNER_PORTAL))]
SourcePage = Annotated[SessionUser, Depends(PageNeeds(Permission.SOURCE_PORTAL))]
SecretsPage = Annotated[SessionUser, Depends(PageNeeds(Permission.SECRETS))]
PrivacyPage = Annotated[SessionUser, Depends(PageNeeds(Permission.PRIVACY))]  # personal data, erasure
router = APIRouter(prefix="/console", include_in_schema=False)


def _render(
    request: Request, name: str, context: dict[str, Any], status: int = 200, *, form_token: str | None = None
) -> Response:
    """A page; ``form_token``: the double-submit cookie of its form, set with it."""
    response = templates.TemplateResponse(request, name, context, status_code=status, headers=_HEADERS)
    if form_token is not None:
        response.set_cookie(
            FORM_COOKIE, form_token, httponly=True, samesite="lax", secure=_secure(request), path="/console"
        )
    return response


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or bool(request.app.state.runtime.settings.secure_cookies)


def _form_token(request: Request) -> str:
    """The double-submit token of a form shown before a session: the cookie's, else a new one."""
    return request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(24)


def _form_token_ok(request: Request, sent: object) -> bool:
    cookie = request.cookies.get(FORM_COOKIE)
    return (
        cookie is not None and isinstance(sent, str) and hmac.compare_digest(cookie.encode(), sent.encode())
    )


def _next(target: object) -> str:
    """Only a page of the console (no other site, no scheme-relative URL)."""
    if isinstance(target, str) and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console"


def _see(path: str) -> Response:
    return RedirectResponse(path, status_code=303, headers=_HEADERS)


def login_redirect(path: str) -> Response:
    return _see(f"/console/login?next={quote(path, safe='/')}")


# ---------------------------------------------------------------- pages


@router.get("/login", summary="The login page")
async def login_page(request: Request, next: str = "/console") -> Response:
    if await session_of(request) is not None:
        return _see(_next(next))
    token = _form_token(request)
    context = {"csrf": token, "next": _next(next), "email": "", "error": None, "notice": None}
    if request.query_params.get("done") == "password":
        context["notice"] = "Your password is set: log in with it."
    return _render(request, "login.html", context, form_token=token)


@router.post("/login", summary="Log in")
async def login(request: Request) -> Response:
    form = await request.form()
    email = str(form.get("email") or "")
    target = _next(form.get("next"))
    token = _form_token(request)
    context: dict[str, Any] = {"csrf": token, "next": target, "email": email, "error": None, "notice": None}
    if not _form_token_ok(request, form.get("csrf_token")):
        context["error"] = "The form expired: please try again."
        return _render(request, "login.html", context, 403, form_token=token)
    address = request.client.host if request.client else "-"
    accounts = request.app.state.runtime.accounts
    try:
        session = await accounts.login(email, str(form.get("password") or ""), address)
    except TooManyRequests as exc:
        wait = exc.retry_after
        later = f"{wait} seconds" if wait < 60 else "a few minutes"
        context["error"] = f"Too many failed logins. Wait {later} before trying again."
        response = _render(request, "login.html", context, 429, form_token=token)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Unauthorized:
        context["error"] = "Wrong email or password."
        return _render(request, "login.html", context, 401, form_token=token)
    await accounts.logout(request.cookies.get(SESSION_COOKIE))  # a session from before ends (fixation)
    response = _see(target)
    response.set_cookie(
        SESSION_COOKIE,
        session.cookie,
        max_age=int(accounts.session_limits.absolute.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",  # the API takes the session too
    )
    response.delete_cookie(FORM_COOKIE, path="/console")
    return response


@router.post("/logout", summary="Log out")
async def logout(request: Request, user: UserDep) -> Response:
    form = await request.form()
    if not csrf_sent_ok(request, user, form.get("csrf_token")):
        return expired_page(request, "/console/login", "Log in")
    await request.app.state.runtime.accounts.logout(request.cookies.get(SESSION_COOKIE))
    response = _see("/console/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _message(
    title: str, text: str, link: str = "/console/login", link_text: str = "Log in"
) -> dict[str, Any]:
    return {"title": title, "text": text, "link": link, "link_text": link_text}


def expired_page(
    request: Request, back: str = "/console", back_text: str = "Back to the console"
) -> Response:
    """The 403 page of a form posted without the session's CSRF secret (expired, or from elsewhere)."""
    return _render(
        request, "message.html", _message("The form expired", "Go back and try again.", back, back_text), 403
    )


def _invitation_problem(request: Request, exc: LeadrelayError) -> Response:
    status = 404 if isinstance(exc, NotFound) else 410 if isinstance(exc, Gone) else 400
    return _render(request, "message.html", _message("This invitation cannot be used", exc.detail), status)


@router.get("/invite/{token}", summary="Set a password from an invitation")
async def invite_page(request: Request, token: str) -> Response:
    try:
        invited = await request.app.state.runtime.accounts.invitation(token)
    except (NotFound, Gone) as exc:
        return _invitation_problem(request, exc)
    form_token = _form_token(request)
    context = {"csrf": form_token, "invited": invited, "error": None, "token": token}
    return _render(request, "invite.html", context, form_token=form_token)


@router.post("/invite/{token}", summary="Accept an invitation")
async def accept_invite(request: Request, token: str) -> Response:
    accounts = request.app.state.runtime.accounts
    form = await request.form()
    try:
        invited = await accounts.invitation(token)
    except (NotFound, Gone) as exc:
        return _invitation_problem(request, exc)
    form_token = _form_token(request)
    context: dict[str, Any] = {"csrf": form_token, "invited": invited, "error": None, "token": token}
    password = str(form.get("password") or "")
    if not _form_token_ok(request, form.get("csrf_token")):
        context["error"] = "The form expired: please try again."
        return _render(request, "invite.html", context, 403, form_token=form_token)
    if password != str(form.get("password_again") or ""):
        context["error"] = "The two passwords differ."
        return _render(request, "invite.html", context, 422, form_token=form_token)
    try:
        await accounts.accept_invitation(token, password)
    except ValidationFailed as exc:
        context["error"] = "Password " + exc.problems[0].error + "."
        return _render(request, "invite.html", context, 422, form_token=form_token)
    except (NotFound, Gone) as exc:
        return _invitation_problem(request, exc)
    return _see("/console/login?done=password")


def install(app: Any) -> None:
    """The console's pages, its static files, and the redirect to the login for a page without a
    session."""
    # the pages' modules import this one (its dependencies and rendering): imported here, not at the top
    from leadrelay.entrypoints.web import admin, config, leads, log, portals, simulator, suppression_pages
    from leadrelay.entrypoints.web import dashboard as web_dashboard

    async def needs_login(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NeedsLogin)
        return login_redirect(exc.path)

    async def forbidden(request: Request, exc: Exception) -> Response:
        message = _message("Not for your role", str(exc), "/console", "Back to the console")
        return _render(request, "message.html", message, 403)

    app.add_exception_handler(NeedsLogin, needs_login)
    app.add_exception_handler(PageForbidden, forbidden)
    shared_routes.include(
        app,
        router,
        log.router,  # the distribution log, its drawer and actions, the audit log
        config.router,  # entities, sources, partners, profiles: forms, diff, apply
        admin.router,  # users, keys, settings
        suppression_pages.router,  # suppression lists, an upload with its progress
        portals.router,  # the partner and source portals
        web_dashboard.router,  # GET /console: the dashboard, or a portal's welcome
        simulator.router,  # the routing simulator and backtest
        leads.router,  # lead search, a lead's history, CSV import, erasure
    )
    app.mount("/console/static", static_files, name="console-static")
