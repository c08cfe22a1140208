"""The console's lead pages (issue 12 point 5): the search by id, email or phone (through the lookup keys:
``services.lead_pages``), a lead's history, the CSV import from the browser with its progress and rejects
file, and the erasure of a lead (admins: the privacy permission).

An import runs in this server process as a background task through ``Intake.accept`` (as ``leadrelay
import`` does); its progress and rejects file live in memory and a temporary directory until the process
ends (the last ``_KEPT`` imports are kept).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, JSONResponse, Response

from leadrelay.domain.access import Permission, allows
from leadrelay.entrypoints.web.console import (
    _HEADERS,
    OperatorPage,
    PrivacyPage,
    ViewerPage,
    _message,
    _render,
    _see,
    csrf_sent_ok,
    navigation,
)
from leadrelay.errors import NotFound, ValidationFailed
from leadrelay.ids import new_id
from leadrelay.services.lead_import import ImportProgress, import_rows
from leadrelay.services.users import SessionUser

router = APIRouter(prefix="/console", include_in_schema=False)
_KEPT = 20  # imports whose progress and rejects file are kept per process
_CHUNK = 1 << 16


@dataclass
class _Import:
    progress: ImportProgress
    folder: Path
    user_id: str  # who started it: the only user its progress and rejects are shown to
    task: asyncio.Task[ImportProgress] | None = None

    @property
    def rejects(self) -> Path:
        return self.folder / "rejects.csv"


def _imports(request: Request) -> OrderedDict[str, _Import]:
    state = request.app.state
    if not hasattr(state, "lead_imports"):
        state.lead_imports = OrderedDict()
    imports: OrderedDict[str, _Import] = state.lead_imports
    return imports


def _keep(request: Request, run: _Import) -> None:
    imports = _imports(request)
    imports[run.progress.id] = run
    while len(imports) > _KEPT:
        _, old = imports.popitem(last=False)
        if old.task is None or old.task.done():
            shutil.rmtree(old.folder, ignore_errors=True)


def _expired(request: Request) -> Response:
    return _render(
        request,
        "message.html",
        _message("The form expired", "Go back and try again.", "/console/leads", "Back to the leads"),
        403,
    )


def _context(user: SessionUser, here: str, **more: Any) -> dict[str, Any]:
    return {"user": user, "nav": navigation(user.role), "here": here, **more}


# ---------------------------------------------------------------- search


@router.get("/leads", summary="Find a lead by id, email or phone")
async def search_page(
    request: Request, user: ViewerPage, q: str | None = None, before: str | None = None
) -> Response:
    context = _context(user, "/console/leads", q=q or "", found=None, error=None)
    context["may_import"] = allows(user.role, Permission.ACT)
    if q is None or not q.strip():
        return _render(request, "leads/search.html", context)
    try:
        context["found"] = await request.app.state.runtime.lead_pages.search(
            q, before=before or None, sensitive=allows(user.role, Permission.PRIVACY)
        )
    except ValidationFailed as exc:
        context["error"] = exc.problems[0].error
        return _render(request, "leads/search.html", context, 422)
    return _render(request, "leads/search.html", context)


# ---------------------------------------------------------------- import


async def _choices(request: Request) -> tuple[list[str], list[str]]:
    rt = request.app.state.runtime
    live = await rt.configs.get(rt.storage)
    return sorted(live.specs.sources), sorted(live.specs.entities)


def _import_form(
    request: Request,
    user: SessionUser,
    sources: list[str],
    entities: list[str],
    status: int = 200,
    **more: Any,
) -> Response:
    context = _context(user, "/console/leads", sources=sources, entities=entities, errors={}, chosen={})
    context.update(more)
    return _render(request, "leads/import.html", context, status)


@router.get("/leads/import", summary="Import leads from a CSV file")
async def import_page(request: Request, user: OperatorPage) -> Response:
    sources, entities = await _choices(request)
    return _import_form(request, user, sources, entities)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@router.post("/leads/import", summary="Start an import of leads from a CSV file")
async def start_import(request: Request, user: OperatorPage) -> Response:
    form = await request.form()
    if not csrf_sent_ok(request, user, form.get("csrf_token")):
        if _wants_json(request):
            return JSONResponse({"detail": "the form expired: reload the page"}, 403)
        return _expired(request)
    sources, entities = await _choices(request)
    source, entity, upload = form.get("source"), form.get("entity"), form.get("file")
    errors: dict[str, str] = {}
    if not isinstance(source, str) or source not in sources:
        errors["source"] = "choose one of the sources"
    if not isinstance(entity, str) or entity not in entities:
        errors["entity"] = "choose one of the entities"
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["file"] = "choose a CSV file"
    if errors or not isinstance(upload, UploadFile):
        if _wants_json(request):
            return JSONResponse({"errors": errors}, 422)
        chosen = {"source": source, "entity": entity}
        return _import_form(request, user, sources, entities, 422, errors=errors, chosen=chosen)
    assert isinstance(source, str) and isinstance(entity, str)
    folder = Path(tempfile.mkdtemp(prefix="leadrelay-import-"))
    size = await asyncio.to_thread(_save, upload, folder / "upload.csv")
    progress = ImportProgress(new_id("imp"), source, entity, str(upload.filename), size)
    run = _Import(progress, folder, user.user_id)
    run.task = asyncio.create_task(_run(request.app.state.runtime.intake, run))
    _keep(request, run)
    status_url = f"/console/leads/import/{progress.id}"
    if _wants_json(request):
        return JSONResponse({**progress.as_dict(), "status_url": status_url}, 202, headers=_HEADERS)
    return _see(status_url)


def _save(upload: UploadFile, path: Path) -> int:
    upload.file.seek(0)
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out, _CHUNK)
    return path.stat().st_size


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        yield from fh


async def _run(intake: Any, run: _Import) -> ImportProgress:
    upload = run.folder / "upload.csv"
    try:
        with run.rejects.open("w", newline="", encoding="utf-8") as rejects:
            return await import_rows(intake, run.progress, _lines(upload), rejects)
    finally:
        upload.unlink(missing_ok=True)  # the leads are stored now: the plaintext file goes


def _import_of(request: Request, import_id: str, user: SessionUser) -> _Import | None:
    """The import, if it exists and ``user`` started it (to anyone else it does not exist)."""
    found = _imports(request).get(import_id)
    return found if found is not None and found.user_id == user.user_id else None


@router.get("/leads/import/{import_id}", summary="An import's progress")
async def import_status(request: Request, import_id: str, user: OperatorPage) -> Response:
    run = _import_of(request, import_id, user)
    if run is None:
        return _not_found(request, f"No import {import_id} in this server (imports are kept until it stops).")
    context = _context(user, "/console/leads", progress=run.progress.as_dict())
    return _render(request, "leads/import_status.html", context)


@router.get("/leads/import/{import_id}/progress", summary="An import's progress (JSON)")
async def import_progress(request: Request, import_id: str, user: OperatorPage) -> Response:
    run = _import_of(request, import_id, user)
    if run is None:
        return JSONResponse({"detail": f"unknown import {import_id}"}, 404, headers=_HEADERS)
    return JSONResponse(run.progress.as_dict(), headers=_HEADERS)


@router.get("/leads/import/{import_id}/rejects.csv", summary="An import's rejected rows with their reasons")
async def import_rejects(request: Request, import_id: str, user: OperatorPage) -> Response:
    run = _import_of(request, import_id, user)
    if run is None or not run.progress.done or not run.rejects.exists():
        return _not_found(request, "No rejects file for this import (yet).")
    name = f"rejects-{import_id}.csv"
    return FileResponse(run.rejects, media_type="text/csv", filename=name, headers=_HEADERS)


def _not_found(request: Request, text: str) -> Response:
    message = _message("Not found", text, "/console/leads", "Back to the leads")
    return _render(request, "message.html", message, 404)


# ---------------------------------------------------------------- a lead's history and its erasure


@router.get("/leads/{lead_id}", summary="A lead's history")
async def lead_page(request: Request, lead_id: str, user: ViewerPage) -> Response:
    reveal = allows(user.role, Permission.PRIVACY)
    try:
        page = await request.app.state.runtime.lead_pages.lead(lead_id, reveal=reveal, actor=user.actor)
    except NotFound:
        return _not_found(request, f"No lead {lead_id}.")
    context = _context(user, "/console/leads", page=page, lead=page["lead"], revealed=reveal)
    context["may_erase"] = reveal
    context["erased"] = request.query_params.get("done") == "erased"
    return _render(request, "leads/lead.html", context)


@router.get("/leads/{lead_id}/erase", summary="Confirm the erasure of a lead's personal data")
async def erase_page(request: Request, lead_id: str, user: PrivacyPage) -> Response:
    return _render(request, "leads/erase.html", _context(user, "/console/leads", lead_id=lead_id))


@router.post("/leads/{lead_id}/erase", summary="Erase a lead's personal data")
async def erase(request: Request, lead_id: str, user: PrivacyPage) -> Response:
    form = await request.form()
    if not csrf_sent_ok(request, user, form.get("csrf_token")):
        return _expired(request)
    reason = str(form.get("reason") or "").strip()[:500] or None
    try:
        await request.app.state.runtime.privacy.erase_lead(lead_id, actor=user.actor, reason=reason)
    except NotFound:
        return _not_found(request, f"No lead {lead_id}.")
    return _see(f"/console/leads/{lead_id}?done=erased")
