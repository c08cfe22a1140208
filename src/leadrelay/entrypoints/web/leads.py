"""The console's lead pages (issue 12 point 5): the search by id, email or phone (through the lookup keys:
``services.lead_pages``), a lead's history, the CSV import from the browser with its progress and rejects
file, and the erasure of a lead (admins: the privacy permission).

An import's upload is streamed to a temporary folder (``leadrelay-import-*``) under a byte limit
(``LEADRELAY_IMPORT_MAX_BYTES``: 413 past it, nothing imported); the import runs in this server process as
a background task through ``Intake.accept`` (as ``leadrelay import`` does) and is kept in the database
(``services.lead_import.ConsoleImports``): its progress, written every half second, is read by any process;
the same file posted again by the same user is answered with the earlier import. Its folder goes when it
ends, whichever way; folders older than a day (a process that died) are swept at start-up and when an
import starts.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.responses import JSONResponse, Response

from leadrelay.domain.access import Permission, allows
from leadrelay.domain.imports import KEPT_FOR
from leadrelay.entrypoints.web.console import (
    _HEADERS,
    OperatorPage,
    PrivacyPage,
    ViewerPage,
    _message,
    _render,
    _see,
    csrf_sent_ok,
    expired_page,
    navigation,
)
from leadrelay.errors import NotFound, ValidationFailed
from leadrelay.services.csv_leads import MAX_LINE_BYTES, ImportProgress, bounded_lines
from leadrelay.services.lead_import import ConsoleImports
from leadrelay.services.user_values import SessionUser

router = APIRouter(prefix="/console", include_in_schema=False)
_CHUNK = 1 << 16
_FOLDER_PREFIX = "leadrelay-import-"
log = logging.getLogger("leadrelay.console")


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
    context["max_size"] = _bytes(request.app.state.runtime.settings.import_max_bytes)
    context["max_line"] = _bytes(MAX_LINE_BYTES)
    context.update(more)
    return _render(request, "leads/import.html", context, status)


@router.get("/leads/import", summary="Import leads from a CSV file")
async def import_page(request: Request, user: OperatorPage) -> Response:
    sources, entities = await _choices(request)
    return _import_form(request, user, sources, entities)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _imports(request: Request) -> ConsoleImports:
    imports: ConsoleImports = request.app.state.runtime.lead_imports
    return imports


class _TooLarge(Exception):
    """The request's body passed the import's byte limit."""


def _bytes(limit: int) -> str:
    """``limit`` for people: "50 MB" (MiB, as the setting's default is written), else bytes."""
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if limit % size == 0:
            return f"{limit // size} {unit}"
    return f"{limit} bytes"


def too_large_message(limit: int) -> str:
    readable = _bytes(limit)
    exact = f" ({limit} bytes)" if readable != f"{limit} bytes" else ""
    return f"the file is larger than the import limit of {readable}{exact}: nothing was imported"


# what a form holds besides the file (its other fields, the parts' boundaries and headers): the body may be
# this much larger than the file itself, which alone is held to the limit
_FORM_ROOM = 64 * 1024


async def _limited(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The request's body, chunk by chunk; ``_TooLarge`` as soon as it passes ``limit`` bytes."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        yield chunk


async def _bounded_form(request: Request, limit: int) -> FormData:
    """The posted form, its file at most ``limit`` bytes (the upload's part spooled to a temporary file by
    the parser); ``_TooLarge`` past it. The body is bounded too, with room for the form's other parts (a
    ``Content-Length`` above that is refused before reading)."""
    bound = limit + _FORM_ROOM
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > bound:
        raise _TooLarge
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        parts = MultiPartParser(request.headers, _limited(request, bound), max_files=1, max_fields=20)
        form = await parts.parse()
        upload = form.get("file")
        if isinstance(upload, UploadFile) and (upload.size or 0) > limit:
            await form.close()
            raise _TooLarge
        return form
    if media == "application/x-www-form-urlencoded":
        return await FormParser(request.headers, _limited(request, bound), max_fields=20).parse()
    return FormData()


@router.post(
    "/leads/import",
    summary="Start an import of leads from a CSV file",
    max_body_size=1 << 62,  # its own bound, the import_max_bytes setting (answered with the field named)
)
async def start_import(request: Request, user: OperatorPage) -> Response:
    limit: int = request.app.state.runtime.settings.import_max_bytes
    try:
        form = await _bounded_form(request, limit)
    except _TooLarge:
        message = too_large_message(limit)
        if _wants_json(request):
            return JSONResponse({"errors": {"file": message}, "detail": message}, 413, headers=_HEADERS)
        sources, entities = await _choices(request)
        return _import_form(request, user, sources, entities, 413, errors={"file": message})
    except MultiPartException as exc:
        if _wants_json(request):
            detail = f"the form could not be read: {exc.message}"
            return JSONResponse({"detail": detail}, 400, headers=_HEADERS)
        return _render(
            request,
            "message.html",
            _message("Form not read", exc.message, "/console/leads/import", "Back to the import"),
            400,
        )
    try:
        return await _start(request, user, form)
    finally:
        await form.close()  # the parser's spooled copy of the upload


async def _start(request: Request, user: SessionUser, form: FormData) -> Response:
    if not csrf_sent_ok(request, user, form.get("csrf_token")):
        if _wants_json(request):
            return JSONResponse({"detail": "the form expired: reload the page"}, 403)
        return expired_page(request, "/console/leads", "Back to the leads")
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
    imports = _imports(request)
    await asyncio.to_thread(sweep_folders)
    await imports.forget_old()
    folder = Path(tempfile.mkdtemp(prefix=_FOLDER_PREFIX))
    try:
        size, sha256 = await asyncio.to_thread(_save, upload, folder / "upload.csv")
        started = await imports.begin(
            owner=user.user_id,
            actor=user.actor,
            filename=str(upload.filename),
            sha256=sha256,
            source=source,
            entity=entity,
            total_bytes=size,
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    view = started.view
    status_url = f"/console/leads/import/{view['id']}"
    if started.reused:  # the same file, running or imported within the day: not imported again
        shutil.rmtree(folder, ignore_errors=True)
        if _wants_json(request):
            return JSONResponse({**view, "status_url": status_url}, 200, headers=_HEADERS)
        return _see(f"{status_url}?again=1")
    progress = ImportProgress(view["id"], source, entity, view["filename"], size)
    task = asyncio.create_task(_run(request.app.state.runtime.intake, imports, progress, folder))
    running: set[asyncio.Task[None]] = _tasks(request)
    running.add(task)
    task.add_done_callback(running.discard)
    if _wants_json(request):
        return JSONResponse({**view, "status_url": status_url}, 202, headers=_HEADERS)
    return _see(status_url)


def _tasks(request: Request) -> set[asyncio.Task[None]]:
    """The imports running in this process (held so they are not collected while they run)."""
    state = request.app.state
    if not hasattr(state, "lead_import_tasks"):
        state.lead_import_tasks = set()
    tasks: set[asyncio.Task[None]] = state.lead_import_tasks
    return tasks


def _save(upload: UploadFile, path: Path) -> tuple[int, str]:
    """Copy the upload to ``path``: its size and SHA-256."""
    digest = hashlib.sha256()
    size = 0
    upload.file.seek(0)
    with path.open("wb") as out:
        while chunk := upload.file.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def sweep_folders(
    root: Path | None = None, *, now: float | None = None, older_than: float | None = None
) -> int:
    """Remove the import folders (``leadrelay-import-*``) older than a day: left by a process that died
    during an import (a finished import removes its own). How many went."""
    base = root or Path(tempfile.gettempdir())
    cutoff = (time.time() if now is None else now) - (older_than or KEPT_FOR.total_seconds())
    gone = 0
    for folder in base.glob(f"{_FOLDER_PREFIX}*"):
        try:
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                gone += 1
        except OSError:  # another process swept it first
            continue
    return gone


async def _run(intake: Any, imports: ConsoleImports, progress: ImportProgress, folder: Path) -> None:
    """Run the import, then remove its folder (the upload and the rejects, stored by then), whichever way
    it ended."""
    try:
        with (
            (folder / "upload.csv").open("rb") as upload,
            (folder / "rejects.csv").open("w+", newline="", encoding="utf-8") as rejects,
        ):
            await imports.run(intake, progress, bounded_lines(upload), rejects)
    except Exception:  # its end not stored (the database unreachable): it shows as interrupted later
        log.exception("lead import %s: its end could not be stored", progress.id)
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)


@router.get("/leads/import/{import_id}", summary="An import's progress")
async def import_status(request: Request, import_id: str, user: OperatorPage) -> Response:
    view = await _imports(request).view(import_id, user.user_id)
    if view is None:
        return _not_found(request, f"No import {import_id}.")
    again = request.query_params.get("again") == "1"
    context = _context(user, "/console/leads", progress=view, again=again)
    return _render(request, "leads/import_status.html", context)


@router.get("/leads/import/{import_id}/progress", summary="An import's progress (JSON)")
async def import_progress(request: Request, import_id: str, user: OperatorPage) -> Response:
    view = await _imports(request).view(import_id, user.user_id)
    if view is None:
        return JSONResponse({"detail": f"unknown import {import_id}"}, 404, headers=_HEADERS)
    return JSONResponse(view, headers=_HEADERS)


@router.get("/leads/import/{import_id}/rejects.csv", summary="An import's rejected rows with their reasons")
async def import_rejects(request: Request, import_id: str, user: OperatorPage) -> Response:
    body = await _imports(request).rejects(import_id, user.user_id)
    if body is None:
        return _not_found(request, "No rejects file for this import (yet).")
    name = f"rejects-{import_id}.csv"
    headers = {**_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)


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
        return expired_page(request, "/console/leads", "Back to the leads")
    reason = str(form.get("reason") or "").strip()[:500] or None
    try:
        await request.app.state.runtime.privacy.erase_lead(lead_id, actor=user.actor, reason=reason)
    except NotFound:
        return _not_found(request, f"No lead {lead_id}.")
    return _see(f"/console/leads/{lead_id}?done=erased")
