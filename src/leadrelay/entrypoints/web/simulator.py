"""The console's routing simulator and backtest (issue 12, point 6), over ``rt.simulator``
(``services.simulation``): nothing is delivered, no buyer is pinged, no counter moves.

- ``GET /console/simulator``: the two forms.
- ``POST /console/simulator``: route a stored lead (its id) or a pasted one (entity, source, the lead as
  JSON) through the configuration in force or a pasted *draft* (YAML, as ``apply`` takes it): the rule
  that matches, every partner's verdict and why, the pick order and the expected price, per profile.
- ``POST /console/simulator/backtest``: replay the leads since a time (at most ``limit``) through a draft:
  volume, revenue and each partner's share, actual against draft.

A draft (and so the backtest) needs the ``configure`` permission: a draft's rule conditions over a stored
lead would otherwise tell a viewer its sealed values, one match at a time. A viewer sees neither the draft's
text area nor the backtest's form, and a post of one answers 403.

Both posts carry the session's CSRF token. Bad input answers 422 with the message next to its field; a
draft's problems are listed with their configuration paths next to the draft's text area.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from leadrelay.configuration.load import MAX_POSTED_CHARS
from leadrelay.domain.access import Permission, allows, refusal
from leadrelay.entrypoints.api.guards import MAX_DEPTH, too_deep
from leadrelay.entrypoints.web.console import (
    ConfigurePage,
    PageForbidden,
    ViewerPage,
    _message,
    _render,
    csrf_sent_ok,
    navigation,
)
from leadrelay.errors import ConfigError, NotFound, ValidationFailed
from leadrelay.services.simulation import DEFAULT_LIMIT, MAX_LIMIT, parse_since
from leadrelay.services.simulation_views import backtest_dict, simulation_dict
from leadrelay.services.user_values import SessionUser

router = APIRouter(prefix="/console", include_in_schema=False)

MAX_DRAFT = MAX_POSTED_CHARS  # characters of a pasted draft
MAX_LEAD = 100_000  # characters of a pasted lead
_LEAD_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_OWN_FIELDS = {"lead_id", "entity", "source", "lead", "draft", "since", "limit"}


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _field_errors(exc: ValidationFailed, into: dict[str, list[str]], lead_field: str = "lead") -> None:
    """The problems by the form's field: a lead's own field (``phone``) is shown at the lead's text area."""
    for p in exc.problems:
        if p.field in _OWN_FIELDS:
            into.setdefault(p.field, []).append(p.error)
        else:
            into.setdefault(lead_field, []).append(f"{p.field}: {p.error}")


def _draft_errors(exc: ConfigError) -> list[str]:
    return [f"{p.path}: {p.message}" if p.path else p.message for p in exc.problems]


async def _context(request: Request, user: SessionUser) -> dict[str, Any]:
    rt = request.app.state.runtime
    live = await rt.storage.run_read(rt.configs.current)
    return {
        "user": user,
        "nav": navigation(user.role),
        "here": "/console/simulator",
        "entities": sorted(live.specs.entities),
        "sources": sorted(live.specs.sources),
        "sim": {"lead_id": "", "entity": "", "source": "", "lead": "", "draft": ""},
        "back": {"draft": "", "since": "7d", "limit": str(DEFAULT_LIMIT)},
        "max_limit": MAX_LIMIT,
        "errors": {},
        "back_errors": {},
        "result": None,
        "backtest": None,
        "can_draft": allows(user.role, Permission.CONFIGURE),
    }


def _refused(request: Request) -> Response:
    message = _message(
        "The form expired", "Reload the simulator and try again.", "/console/simulator", "Back"
    )
    return _render(request, "message.html", message, 403)


@router.get("/simulator", summary="The routing simulator and backtest")
async def simulator_page(request: Request, user: ViewerPage, lead_id: str = "") -> Response:
    context = await _context(request, user)
    context["sim"]["lead_id"] = lead_id if _LEAD_ID.match(lead_id) else ""  # from the log: ?lead_id=
    return _render(request, "simulator/page.html", context)


@router.post("/simulator", summary="Simulate a lead's routing (nothing is delivered)")
async def simulate(request: Request, user: ViewerPage) -> Response:
    form = await request.form()
    if not csrf_sent_ok(request, user, _text(form, "csrf_token")):
        return _refused(request)
    context = await _context(request, user)
    sim = {name: _text(form, name) for name in ("lead_id", "entity", "source", "lead", "draft")}
    sim["draft"] = str(form.get("draft") or "")  # the YAML as pasted (its indentation kept)
    if sim["draft"].strip() and not context["can_draft"]:
        raise PageForbidden(f"a draft: {refusal(user.role, Permission.CONFIGURE)}")
    context["sim"] = sim
    errors: dict[str, list[str]] = context["errors"]
    lead: dict[str, Any] | None = None
    if sim["lead_id"]:
        if not _LEAD_ID.match(sim["lead_id"]):
            errors["lead_id"] = ["letters, digits, _ and - only, at most 64"]
    else:
        for name in ("entity", "source"):
            if not sim[name]:
                errors[name] = ["choose one, or give a stored lead's id"]
        if not sim["lead"]:
            errors["lead"] = ["paste the lead as a JSON object, or give a stored lead's id"]
        elif len(sim["lead"]) > MAX_LEAD:
            errors["lead"] = [f"at most {MAX_LEAD:,} characters"]
        else:
            try:
                parsed = json.loads(sim["lead"])
            except ValueError as exc:
                errors["lead"] = [f"not JSON: {exc}"]
            else:
                if not isinstance(parsed, dict):
                    errors["lead"] = ['a JSON object: {"field": value, …}']
                elif (where := too_deep(parsed)) is not None:
                    errors["lead"] = [f"{where}: nested deeper than {MAX_DEPTH} levels"]
                else:
                    lead = parsed
    if len(sim["draft"]) > MAX_DRAFT:
        errors["draft"] = [f"at most {MAX_DRAFT:,} characters"]
    if "\x00" in sim["draft"]:
        errors["draft"] = ["must not contain NUL characters"]
    if not errors:
        try:
            result = await request.app.state.runtime.simulator.simulate(
                lead_id=sim["lead_id"] or None,
                entity=None if sim["lead_id"] else sim["entity"],
                source=None if sim["lead_id"] else sim["source"],
                lead=None if sim["lead_id"] else lead,
                draft=sim["draft"] if sim["draft"].strip() else None,
            )
        except NotFound as exc:
            errors["lead_id"] = [exc.detail]
        except ConfigError as exc:
            errors["draft"] = _draft_errors(exc)
        except ValidationFailed as exc:
            _field_errors(exc, errors)
        else:
            context["result"] = simulation_dict(result)
    return _render(request, "simulator/page.html", context, 422 if errors else 200)


@router.post("/simulator/backtest", summary="Backtest a draft configuration (nothing moves)")
async def backtest(request: Request, user: ConfigurePage) -> Response:
    form = await request.form()
    if not csrf_sent_ok(request, user, _text(form, "csrf_token")):
        return _refused(request)
    context = await _context(request, user)
    back = {
        "draft": str(form.get("draft") or ""),
        "since": _text(form, "since"),
        "limit": _text(form, "limit"),
    }
    context["back"] = back
    errors: dict[str, list[str]] = context["back_errors"]
    rt = request.app.state.runtime
    if not back["draft"].strip():
        errors["draft"] = ["paste a draft configuration (YAML) to replay the leads through"]
    elif len(back["draft"]) > MAX_DRAFT:
        errors["draft"] = [f"at most {MAX_DRAFT:,} characters"]
    elif "\x00" in back["draft"]:
        errors["draft"] = ["must not contain NUL characters"]
    try:
        limit = int(back["limit"] or DEFAULT_LIMIT)
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError
    except ValueError:
        errors["limit"] = [f"a whole number from 1 to {MAX_LIMIT:,}"]
    try:
        since = parse_since(back["since"] or "7d", rt.simulator.now())
    except ValidationFailed as exc:
        _field_errors(exc, errors, "since")
    if not errors:
        try:
            result = await rt.simulator.backtest(back["draft"], since=since, limit=limit)
        except ConfigError as exc:
            errors["draft"] = _draft_errors(exc)
        except ValidationFailed as exc:
            _field_errors(exc, errors, "draft")
        else:
            context["backtest"] = backtest_dict(result)
    return _render(request, "simulator/page.html", context, 422 if errors else 200)
