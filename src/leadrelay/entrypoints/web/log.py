"""The distribution log in the console (issue 12, point 3): a filterable table paginated by cursor that
updates live (``static/log.js`` asks ``/console/log/rows`` for what is new), a distribution's detail (a
drawer over the table, and its own page at ``/console/log/{job_id}``), the actions of its three-dots menu
(resend, rerun, cancel, approve or deny a return: forms with the session's CSRF token, for roles that may
act), and the audit log (``/console/audit``).

Everything is read through ``rt.logview`` and done through ``rt.actions`` / ``rt.returns`` with the user as
the actor (``user:<email>``), so the console says and refuses exactly what the API does.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from leadrelay.domain.access import Permission, allows
from leadrelay.domain.after_sale_states import ReturnStatus
from leadrelay.domain.instants import utc_instant
from leadrelay.domain.log_filter import DistributionFilter
from leadrelay.domain.states import JOB_OPEN, JobStatus
from leadrelay.entrypoints.web.console import (
    OperatorPage,
    ViewerPage,
    _message,
    _render,
    _see,
    csrf_sent_ok,
    expired_page,
    navigation,
)
from leadrelay.errors import LeadrelayError, NotFound
from leadrelay.services.user_values import SessionUser

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE_SIZE = 50
MAX_PAGE = 200
TEXT_FILTERS = ("partner", "profile", "source", "rule")
DONE = {  # the flash message after an action (the redirect carries only this code)
    "resend": "Resent: a new distribution goes to the partner.",
    "rerun": "Rerun started: the distribution is routed again.",
    "cancel": "Cancelled.",
    "approve": "Return approved: the partner is credited.",
    "deny": "Return denied: the sale stands.",
}
MAX_REASON = 2000
OPEN = frozenset(s.value for s in JOB_OPEN)  # a row in these may still change: the live table watches it


@dataclass(slots=True)
class LogQuery:
    """The table's filter as the form sent it (``values``, shown back) and as the log reads it."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    since: datetime | None = None
    until: datetime | None = None
    limit: int = PAGE_SIZE

    def filter(self, cursor: str | None = None, after: str | None = None) -> DistributionFilter:
        v = self.values
        return DistributionFilter(
            status=v.get("status") or None,
            partner=v.get("partner") or None,
            profile=v.get("profile") or None,
            source=v.get("source") or None,
            since=self.since,
            until=self.until,
            cursor=cursor,
            limit=self.limit,
            rule=v.get("rule") or None,
            after=after,
        )

    def query_string(self, **more: str) -> str:
        pairs = {k: v for k, v in self.values.items() if v}
        pairs.update({k: v for k, v in more.items() if v})
        return urlencode(pairs)


def _instant(text: str) -> datetime:
    """A ``datetime-local`` value (``2026-12-03T09:30``), read as UTC; ``ValueError`` when it is not one, or
    when its offset takes it outside the calendar."""
    return utc_instant(datetime.fromisoformat(text))


def read_query(request: Request) -> LogQuery:
    params = request.query_params
    values = {name: params.get(name, "").strip()[:200] for name in ("status", *TEXT_FILTERS)}
    q = LogQuery(values)
    if values["status"] and values["status"] not in {s.value for s in JobStatus}:
        q.errors["status"] = "Status must be one of the listed statuses."
    for name in ("since", "until"):
        text = params.get(name, "").strip()[:40]
        q.values[name] = text
        if not text:
            continue
        try:
            setattr(q, name, _instant(text))
        except ValueError:
            q.errors[name] = "Must be a date and time such as 2026-12-03T09:30 (UTC)."
    limit = params.get("limit", "").strip()[:10]
    if limit:
        q.values["limit"] = limit
        if re.fullmatch(r"[0-9]{1,9}", limit) and 1 <= int(limit) <= MAX_PAGE:
            q.limit = int(limit)
        else:
            q.errors["limit"] = f"Rows per page must be a whole number from 1 to {MAX_PAGE}."
    if q.since and q.until and q.until <= q.since and "until" not in q.errors:
        q.errors["until"] = "Must be after the start of the range."
    return q


def _base(user: SessionUser, here: str) -> dict[str, Any]:
    return {
        "user": user,
        "nav": navigation(user.role),
        "here": here,
        "can_act": allows(user.role, Permission.ACT),
        "can_reveal": allows(user.role, Permission.PRIVACY),
    }


# ---------------------------------------------------------------- the table


@router.get("/log", summary="The distribution log")
async def log_page(request: Request, user: ViewerPage, cursor: str | None = None) -> Response:
    q = read_query(request)
    context = _base(user, "/console/log")
    context.update({"q": q, "statuses": [s.value for s in JobStatus], "items": [], "next": None})
    context["open_statuses"] = OPEN
    if q.errors:
        return _render(request, "log/index.html", context, 422)
    page = await request.app.state.runtime.logview.distributions(q.filter(cursor=cursor or None))
    context["items"] = page["items"]
    context["cursor"] = cursor
    if page["next_cursor"]:
        context["next"] = "/console/log?" + q.query_string(cursor=page["next_cursor"])
    context["rows_url"] = "/console/log/rows?" + q.query_string()
    return _render(request, "log/index.html", context)


@router.get("/log/rows", summary="The distributions newer than one (the live table's poll)")
async def log_rows(request: Request, user: ViewerPage, after: str = "", watch: str = "") -> Response:
    """Table rows (HTML) of the distributions after ``after`` that match the filter, newest first, and the
    current state of the ones in ``watch`` (comma-separated ids: the open rows the table shows)."""
    q = read_query(request)
    if q.errors:
        return _render(request, "message.html", _message("Bad filter", "; ".join(q.errors.values())), 422)
    watched = tuple(dict.fromkeys(i for i in watch.split(",") if 0 < len(i) <= 64))[:PAGE_SIZE]
    f = replace(q.filter(after=after or None), ids=watched, limit=q.limit + len(watched))
    page = await request.app.state.runtime.logview.distributions(f)
    context = {"items": page["items"], "user": user, "open_statuses": OPEN}
    return _render(request, "log/rows.html", context)


# ---------------------------------------------------------------- one distribution


async def _detail_context(
    request: Request, user: SessionUser, job_id: str, *, reveal: bool = False
) -> dict[str, Any]:
    rt = request.app.state.runtime
    signed = allows(user.role, Permission.CONFIGURE) or allows(user.role, Permission.SECRETS)
    job = await rt.logview.distribution(job_id, postback_urls=signed)  # NotFound: by the caller
    reveal = reveal and allows(user.role, Permission.PRIVACY)
    try:
        lead = await asyncio.to_thread(
            rt.privacy.lead_record, job["lead_id"], reveal=reveal, actor=user.actor
        )
    except NotFound:
        lead = None
    context = _base(user, "/console/log")
    context.update(
        {
            "job": job,
            "lead": lead,
            "revealed": reveal,
            "requested_returns": [r for r in job["returns"] if r["status"] == ReturnStatus.REQUESTED],
            "done": None,
            "problem": None,
            "form": {},
        }
    )
    return context


def _not_found(request: Request, job_id: str) -> Response:
    message = _message(
        "No such distribution", f"There is no distribution {job_id}.", "/console/log", "Back to the log"
    )
    return _render(request, "message.html", message, 404)


@router.get("/log/{job_id}", summary="One distribution: its lead, trace, deliveries and money")
async def detail_page(
    request: Request, user: ViewerPage, job_id: str, reveal: bool = False, done: str = "", part: bool = False
) -> Response:
    """``part``: only the drawer's content (the table opens it without leaving the page)."""
    try:
        context = await _detail_context(request, user, job_id, reveal=reveal)
    except NotFound:
        return _not_found(request, job_id)
    context["done"] = DONE.get(done)
    return _render(request, "log/drawer.html" if part else "log/detail.html", context)


@router.get("/log/{job_id}/{action}", summary="Confirm an action on a distribution (resend, cancel)")
async def confirm_page(request: Request, user: OperatorPage, job_id: str, action: str) -> Response:
    """Without script the menu links here: the same confirmation the dialog shows."""
    if action not in ("resend", "cancel"):
        return _not_found(request, f"{job_id}/{action}")
    try:
        context = await _detail_context(request, user, job_id)
    except NotFound:
        return _not_found(request, job_id)
    context["action"] = action
    return _render(request, "log/confirm.html", context)


def _reason(form: FormData, name: str) -> str | None:
    text = str(form.get(name) or "").strip()
    return text or None


async def _act(request: Request, user: SessionUser, job_id: str, action: str) -> Response:
    form = await request.form()
    if not csrf_sent_ok(request, user, form.get("csrf_token")):
        return expired_page(request, f"/console/log/{job_id}", "Back")
    rt = request.app.state.runtime
    reason = _reason(form, "reason")
    if reason is not None and len(reason) > MAX_REASON:
        try:
            context = await _detail_context(request, user, job_id)
        except NotFound:
            return _not_found(request, job_id)
        context.update(action=action, form={"reason": reason})
        context["problem"] = f"The reason must be at most {MAX_REASON} characters."
        return _render(request, "log/confirm.html", context, 422)
    try:
        if action == "resend":
            await rt.actions.resend(job_id, actor=user.actor, reason=reason)
        elif action == "rerun":
            await rt.actions.rerun(job_id, actor=user.actor, reason=reason)
        elif action == "cancel":
            await rt.actions.cancel(job_id, actor=user.actor, reason=reason)
        else:  # approve / deny a return of this distribution
            return_id = str(form.get("return_id") or "")
            job = await rt.logview.distribution(job_id)
            if return_id not in {r["id"] for r in job["returns"]}:
                raise NotFound(f"distribution {job_id} has no return {return_id or '(none given)'}")
            decide = rt.returns.approve if action == "approve" else rt.returns.deny
            await decide(return_id, actor=user.actor, note=reason)
    except LeadrelayError as exc:
        if isinstance(exc, NotFound) and exc.detail.startswith("unknown distribution"):
            return _not_found(request, job_id)
        try:
            context = await _detail_context(request, user, job_id)
        except NotFound:
            return _not_found(request, job_id)
        context["problem"] = exc.detail
        return _render(request, "log/detail.html", context, 404 if isinstance(exc, NotFound) else 409)
    return _see(f"/console/log/{job_id}?done={action}")


@router.post("/log/{job_id}/resend", summary="Resend a delivered distribution to its partner")
async def resend(request: Request, user: OperatorPage, job_id: str) -> Response:
    return await _act(request, user, job_id, "resend")


@router.post("/log/{job_id}/rerun", summary="Route a failed or stuck distribution again")
async def rerun(request: Request, user: OperatorPage, job_id: str) -> Response:
    return await _act(request, user, job_id, "rerun")


@router.post("/log/{job_id}/cancel", summary="Cancel a delivered distribution")
async def cancel(request: Request, user: OperatorPage, job_id: str) -> Response:
    return await _act(request, user, job_id, "cancel")


@router.post("/log/{job_id}/approve", summary="Approve a requested return of the distribution")
async def approve(request: Request, user: OperatorPage, job_id: str) -> Response:
    return await _act(request, user, job_id, "approve")


@router.post("/log/{job_id}/deny", summary="Deny a requested return of the distribution")
async def deny(request: Request, user: OperatorPage, job_id: str) -> Response:
    return await _act(request, user, job_id, "deny")


# ---------------------------------------------------------------- the audit log


@router.get("/audit", summary="The audit log")
async def audit_page(
    request: Request, user: ViewerPage, cursor: str | None = None, limit: str = ""
) -> Response:
    size = int(limit) if re.fullmatch(r"[0-9]{1,9}", limit) and 1 <= int(limit) <= MAX_PAGE else PAGE_SIZE
    page = await request.app.state.runtime.logview.audit(cursor or None, size)
    context = _base(user, "/console/audit")
    context["items"] = page["items"]
    context["cursor"] = cursor
    context["next"] = None
    if page["next_cursor"]:
        more = {"cursor": page["next_cursor"], **({"limit": str(size)} if size != PAGE_SIZE else {})}
        context["next"] = "/console/audit?" + urlencode(more)
    return _render(request, "log/audit.html", context)
