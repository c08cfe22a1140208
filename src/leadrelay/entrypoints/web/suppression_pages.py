"""The console's suppression lists: the lists, a new list, an entry removed, and a file uploaded with its
progress. Every change goes through ``SuppressionLists``/``import_file``, which audits it.

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
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from leadrelay.domain.access import Permission, allows
from leadrelay.domain.suppression import KINDS
from leadrelay.entrypoints.web.admin_forms import (
    checked_form,
    error_status,
    field_errors,
    page,
    text_field,
)
from leadrelay.entrypoints.web.console import (
    ConfigurePage,
    ViewerPage,
    csrf_sent_ok,
    expired_page,
)
from leadrelay.errors import LeadrelayError, NotFound, ValidationFailed
from leadrelay.services.suppression import ImportReport, SuppressionLists, check_file, import_file
from leadrelay.services.user_values import SessionUser

router = APIRouter(prefix="/console", include_in_schema=False)

MAX_UPLOAD = 1 << 30  # 1 GiB: a larger list is a job for `leadrelay suppression import`
_SPOOL = 1 << 20


async def _suppression(request: Request, user: SessionUser, status: int = 200, **context: Any) -> Response:
    lists = await SuppressionLists(request.app.state.runtime.storage).lists()
    context.setdefault("errors", {})
    return page(
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
    form = await checked_form(request, user)
    if form is None:
        return expired_page(request)
    name, kind = text_field(form, "name", 200), text_field(form, "kind", 40)
    description = text_field(form, "description", 2000) or None
    lists = SuppressionLists(request.app.state.runtime.storage)
    try:
        await lists.create(name, kind, description, actor=user.actor)
    except LeadrelayError as exc:
        errors = field_errors(exc)
        if "_" in errors:  # a name taken
            errors["name"] = errors.pop("_")
        entered = {"name": name, "kind": kind, "description": description or ""}
        return await _suppression(request, user, error_status(exc), errors=errors, entered=entered)
    return await _suppression(request, user, notice=f"The list {name} ({kind}) is created.")


@router.post("/suppression/{name}/remove", summary="Remove an entry from a suppression list")
async def remove_entry(request: Request, name: str, user: ConfigurePage) -> Response:
    form = await checked_form(request, user)
    if form is None:
        return expired_page(request)
    value = text_field(form, "value")
    lists = SuppressionLists(request.app.state.runtime.storage)
    key = f"value-{name}"
    if not value:
        return await _suppression(request, user, 422, errors={key: "give the value to remove"})
    try:
        outcome = await lists.remove(name, [value], hashed=False, actor=user.actor)
    except LeadrelayError as exc:
        return await _suppression(request, user, error_status(exc), errors={key: exc.detail})
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
