"""The configuration pages (``/console/config``): entities, sources, partners and profiles listed, edited
through a structured form or their whole YAML, the change shown as a YAML diff, then saved through the
same path as ``leadrelay apply -f FILE`` (``services.config_editing``); a partner's test delivery and
ping; the configuration as ``leadrelay export`` writes it.

Secrets never come back in a page: the forms leave them blank ("set — leave blank to keep"; blank keeps
the stored one), the YAML shows ``***`` as ``export`` does, and the previewed change travels to the save
sealed with the installation's key (``config_editing.seal_draft``).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from leadrelay.configuration import secrets
from leadrelay.configuration.load import MAX_POSTED_CHARS, dump_yaml, load_yaml_text
from leadrelay.entrypoints.web import config_forms as forms
from leadrelay.entrypoints.web import config_inputs, partner_tests
from leadrelay.entrypoints.web.console import ConfigurePage, _render, _see, csrf_sent_ok, navigation
from leadrelay.errors import ConfigError, ConfigProblem, Conflict, InvalidTransition, NotFound
from leadrelay.services import config_editing as editing
from leadrelay.services.user_values import SessionUser

router = APIRouter(prefix="/console", include_in_schema=False)

SINGULAR = {"entities": "entity", "sources": "source", "partners": "partner", "profiles": "profile"}


def _context(user: SessionUser, **more: Any) -> dict[str, Any]:
    return {"user": user, "nav": navigation(user.role), "here": "/console/config", **more}


def _problem_page(request: Request, user: SessionUser, status: int, title: str, text: str) -> Response:
    context = _context(
        user, title=title, text=text, link="/console/config", link_text="Back to the configuration"
    )
    return _render(request, "message.html", context, status)


def _kind_or_none(kind: str) -> str | None:
    return kind if kind in editing.EDITABLE else None


async def _form(request: Request, user: SessionUser) -> dict[str, str] | Response:
    """The submitted form, or the 403 page when it does not carry the session's CSRF token."""
    form = await request.form()
    if not csrf_sent_ok(request, user, form.get("csrf_token")):
        return _problem_page(
            request, user, 403, "The form expired", "Go back, reload the page and try again."
        )
    return {key: value for key, value in form.items() if isinstance(value, str)}


# ---------------------------------------------------------------- the list and the export


@router.get("/config", summary="The configuration: entities, sources, partners, profiles")
async def config_list(request: Request, user: ConfigurePage) -> Response:
    objects = await editing.exported(request.app.state.runtime.storage)
    sections = [(kind, objects.get(kind, {})) for kind in editing.EDITABLE]
    context = _context(user, sections=sections, singular=SINGULAR, notice=request.query_params.get("saved"))
    return _render(request, "config/list.html", context)


@router.get("/config/export.yaml", summary="The configuration as `leadrelay export` writes it")
async def config_export(request: Request, user: ConfigurePage) -> Response:
    objects = await editing.exported(request.app.state.runtime.storage)
    return Response(
        dump_yaml(objects),
        media_type="application/yaml; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="leadrelay.yaml"', "Cache-Control": "no-store"},
    )


# ---------------------------------------------------------------- one object's form


def _edit_context(
    user: SessionUser,
    kind: str,
    name: str,
    doc: dict[str, Any] | None,
    *,
    stored: dict[str, Any] | None,
    new: bool,
    yaml_text: str | None = None,
    placed: dict[str, list[str]] | None = None,
    top: list[str] | None = None,
    parsed: forms.Parsed | None = None,
) -> dict[str, Any]:
    raw = parsed.raw if parsed else {}
    origins = parsed.origins if parsed else None
    return _context(
        user,
        kind=kind,
        singular=SINGULAR[kind],
        name=name,
        new=new,
        doc=doc or {},
        stored=stored or {},
        sections=config_inputs.FORMS[kind],
        shown=lambda item: raw.get(item.path, forms.shown(item, doc)),
        stored_at=lambda path: forms.value_at(stored, path) is not None,
        condition_json=lambda path: forms.condition_json(forms.value_at(doc, path)),
        field_rows=forms.field_rows(doc, origins) if kind == "entities" else [],
        rule_rows=forms.rule_rows(doc, origins, raw) if kind == "profiles" else [],
        field_types=config_inputs.FIELD_TYPES,
        strategies=config_inputs.STRATEGIES,
        operators=config_inputs.OPERATORS,
        yaml_text=yaml_text if yaml_text is not None else forms.dump_small(doc or {}),
        placed=placed or {},
        top=top or [],
    )


@router.get("/config/{kind}/new", summary="A form for a new object")
async def config_new(request: Request, kind: str, user: ConfigurePage) -> Response:
    if _kind_or_none(kind) is None:
        return _problem_page(request, user, 404, "Not found", f"No kind of configuration named {kind!r}.")
    context = _edit_context(user, kind, "", None, stored=None, new=True)
    return _render(request, "config/edit.html", context)


@router.get("/config/{kind}/{name}", summary="An object's form")
async def config_edit(request: Request, kind: str, name: str, user: ConfigurePage) -> Response:
    stored = await _stored(request, kind, name)
    if stored is None:
        return _problem_page(
            request, user, 404, "Not found", f"No {SINGULAR.get(kind, kind)} named {name!r}."
        )
    context = _edit_context(user, kind, name, stored, stored=stored, new=False)
    context["test"] = None
    return _render(request, "config/edit.html", context)


async def _stored(request: Request, kind: str, name: str) -> dict[str, Any] | None:
    if _kind_or_none(kind) is None:
        return None
    objects = await editing.exported(request.app.state.runtime.storage)
    return objects.get(kind, {}).get(name)


@router.post("/config/{kind}/preview", summary="The YAML diff of an edited object, before saving")
async def config_preview(request: Request, kind: str, user: ConfigurePage) -> Response:
    form = await _form(request, user)
    if isinstance(form, Response):
        return form
    if _kind_or_none(kind) is None:
        return _problem_page(request, user, 404, "Not found", f"No kind of configuration named {kind!r}.")
    oversized = sorted(key for key, value in form.items() if len(value) > MAX_POSTED_CHARS)
    if oversized:  # (the YAML textarea, or any field: none is parsed)
        return _problem_page(
            request,
            user,
            413,
            "Nothing was previewed",
            f"{', '.join(oversized)}: at most {MAX_POSTED_CHARS:,} characters.",
        )
    rt = request.app.state.runtime
    new = form.get("new") == "1"
    name = form.get("name", "").strip()
    objects = await editing.exported(rt.storage)
    stored = None if new else objects.get(kind, {}).get(name)
    if not new and stored is None:
        return _problem_page(request, user, 404, "Not found", f"No {SINGULAR[kind]} named {name!r}.")
    if new and name in objects.get(kind, {}):
        return _refused(
            request,
            user,
            kind,
            name,
            new,
            form,
            stored,
            [("", f"a {SINGULAR[kind]} named {name!r} exists already")],
        )
    if not name:
        return _refused(request, user, kind, name, new, form, stored, [("name", "required")])

    if form.get("source") == "yaml":
        text = form.get("yaml", "")
        try:
            doc = load_yaml_text(text)
        except ConfigError as exc:
            return _refused(
                request, user, kind, name, new, form, stored, [(p.path, p.message) for p in exc.problems]
            )
        if not isinstance(doc, dict):
            return _refused(
                request,
                user,
                kind,
                name,
                new,
                form,
                stored,
                [("", f"the YAML must be a mapping (the {SINGULAR[kind]}'s settings)")],
            )
        parsed = forms.Parsed(doc)
    else:
        parsed = forms.from_form(kind, form, stored)
        if parsed.problems:
            return _refused(request, user, kind, name, new, form, stored, [], parsed=parsed)
    document = editing.document_with(objects, kind, name, parsed.doc)
    try:
        preview = await editing.preview(rt.storage, document, sealer=rt.sealer)
    except ConfigError as exc:
        return _refused(
            request,
            user,
            kind,
            name,
            new,
            form,
            stored,
            [(p.path, p.message) for p in exc.problems],
            parsed=parsed,
        )
    draft = {"kind": kind, "name": name, "doc": parsed.doc, "base": preview.base}
    token = await editing.seal_draft(rt.sealer, draft, user.user_id)
    context = _context(
        user,
        kind=kind,
        singular=SINGULAR[kind],
        name=name,
        preview=preview,
        draft=token,
        deleting=False,
        back=f"/console/config/{kind}/{'new' if new else name}",
    )
    return _render(request, "config/preview.html", context)


def _refused(
    request: Request,
    user: SessionUser,
    kind: str,
    name: str,
    new: bool,
    form: dict[str, str],
    stored: dict[str, Any] | None,
    problems: list[tuple[str, str]],
    parsed: forms.Parsed | None = None,
) -> Response:
    """The form again (422), with each problem next to its input and the others at the top; what was
    submitted stays, but never a secret."""
    yaml_mode = form.get("source") == "yaml"
    named = [m for p, m in problems if p == "name"]
    problems = [(p, m) for p, m in problems if p != "name"]
    if yaml_mode:  # a YAML submission's problems go with its textarea
        placed = {"yaml": [str(ConfigProblem(p, m)) for p, m in problems]}
        top: list[str] = []
    else:
        placed, top = forms.place_problems(kind, name, problems)
    if named:
        placed["name"] = named
    if parsed is not None:
        for path, messages in parsed.problems.items():
            placed.setdefault(path, []).extend(messages)
    if not yaml_mode:  # a secret typed is not sent back to the page: say so, or it is lost unseen
        for item in config_inputs.inputs(kind):
            if item.widget == "secret" and str(form.get(item.name, "")).strip():
                placed.setdefault(item.path, []).append(forms.RETYPE_SECRET)
    doc = parsed.doc if parsed is not None else stored
    if yaml_mode:
        yaml_text = forms.masked_text(kind, form.get("yaml", ""))
    else:
        yaml_text = forms.dump_small(secrets.mask(kind, doc or {}))
    context = _edit_context(
        user,
        kind,
        name,
        doc,
        stored=stored,
        new=new,
        yaml_text=yaml_text,
        placed=placed,
        top=top,
        parsed=parsed,
    )
    context["open_yaml"] = yaml_mode
    return _render(request, "config/edit.html", context, 422)


@router.post("/config/{kind}/save", summary="Save a previewed change (as `leadrelay apply -f FILE`)")
async def config_save(request: Request, kind: str, user: ConfigurePage) -> Response:
    form = await _form(request, user)
    if isinstance(form, Response):
        return form
    rt = request.app.state.runtime
    draft = await editing.open_draft(rt.sealer, form.get("draft", ""), user.user_id)
    doc = None if draft is None or draft.get("delete") else draft.get("doc")
    if (
        draft is None
        or draft.get("kind") != kind
        or _kind_or_none(kind) is None
        or not (draft.get("delete") or isinstance(doc, dict))
    ):
        return _problem_page(
            request,
            user,
            400,
            "This change cannot be saved",
            "Its preview expired or was altered: edit the object again.",
        )
    name = str(draft.get("name"))
    try:
        changes = await editing.save(
            rt.storage,
            kind,
            name,
            doc,
            base=str(draft.get("base")),
            actor=user.actor,
            sealer=rt.sealer,
        )
    except Conflict:  # checked in the save's own transaction: nothing was saved
        return _problem_page(
            request,
            user,
            409,
            "The configuration changed since the preview",
            "Nothing was saved: edit the object again to review the change against what is stored now.",
        )
    except (ConfigError, NotFound) as exc:
        problems = exc.problems if isinstance(exc, ConfigError) else [ConfigProblem("", exc.detail)]
        text = "; ".join(str(p) for p in problems)
        return _problem_page(request, user, 422, "Nothing was saved", text)
    rt.configs.invalidate()
    action = next((c.action for c in changes if c.kind == kind and c.name == name), "unchanged")
    return _see(f"/console/config?saved={SINGULAR[kind]}+{name}+{action}")


# ---------------------------------------------------------------- deleting


@router.get("/config/{kind}/{name}/delete", summary="Confirm deleting an object (its diff)")
async def config_delete_page(request: Request, kind: str, name: str, user: ConfigurePage) -> Response:
    stored = await _stored(request, kind, name)
    if stored is None:
        return _problem_page(
            request, user, 404, "Not found", f"No {SINGULAR.get(kind, kind)} named {name!r}."
        )
    rt = request.app.state.runtime
    problems: list[str] = []
    try:
        preview = await editing.preview(rt.storage, {}, sealer=rt.sealer, deleting=(kind, name))
    except ConfigError as exc:
        preview, problems = None, [str(p) for p in exc.problems]
    draft = {"kind": kind, "name": name, "delete": True, "base": preview.base if preview else ""}
    token = await editing.seal_draft(rt.sealer, draft, user.user_id)
    context = _context(
        user,
        kind=kind,
        singular=SINGULAR[kind],
        name=name,
        preview=preview,
        draft=token,
        deleting=True,
        problems=problems,
        back=f"/console/config/{kind}/{name}",
    )
    return _render(request, "config/preview.html", context, 200 if preview is not None else 409)


# ---------------------------------------------------------------- a partner's test delivery and ping


@router.post(
    "/config/partners/{name}/test", summary="Send a partner a test lead (or ping) and show the answer"
)
async def config_test(request: Request, name: str, user: ConfigurePage) -> Response:
    form = await _form(request, user)
    if isinstance(form, Response):
        return form
    rt = request.app.state.runtime
    stored = await _stored(request, "partners", name)
    if stored is None:
        return _problem_page(request, user, 404, "Not found", f"No partner named {name!r}.")
    ping = form.get("what") == "ping"
    try:
        if ping:
            result = await rt.pings.test(name, actor=user.actor)
        else:
            result = await partner_tests.sent_and_answered(rt, name, user.actor)
    except (NotFound, InvalidTransition, ConfigError) as exc:
        return _problem_page(
            request, user, 409, "The test cannot be sent", str(exc.detail if hasattr(exc, "detail") else exc)
        )
    shown = json.dumps(result, indent=2, default=str)
    context = _context(
        user, name=name, ping=ping, result=result, shown=shown, attempts=partner_tests.attempts(result)
    )
    return _render(request, "config/test.html", context)
