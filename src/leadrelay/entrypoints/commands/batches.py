"""``leadrelay batches``: the log of batch files and email digests, their files, redelivery."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from leadrelay.adapters.crypto import Sealer
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.files.sender import FileShipper
from leadrelay.domain.states import BatchStatus
from leadrelay.entrypoints.commands.common import (
    DbOption,
    actor,
    check_folder,
    fail,
    out,
    print_rows,
    settings_for,
    write_file,
)
from leadrelay.errors import LeadrelayError
from leadrelay.services.batch_log import BatchLog
from leadrelay.services.config_in_force import ConfigCache

batches_app = typer.Typer(
    help="Batch files and email digests: list, show, download, deliver again.", no_args_is_help=True
)
STATUSES = tuple(BatchStatus)


@contextmanager
def _log(database_url: str | None) -> Iterator[BatchLog]:
    settings = settings_for(database_url)
    db = Database(settings.database_url)
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    sealer = Sealer(db, secret)
    configs = ConfigCache()
    configs.sealer = sealer
    try:
        yield BatchLog(SqlStorage(db), configs, sealer, FileShipper())  # renders files, never ships them
    except LeadrelayError as exc:
        raise fail(exc.detail) from exc
    finally:
        db.dispose()


@batches_app.command("list")
def list_batches(
    partner: Annotated[str | None, typer.Option(help="Only this partner's batches.")] = None,
    status: Annotated[
        str | None, typer.Option(help=f"Only batches in this status: {', '.join(STATUSES)}.")
    ] = None,
    database_url: DbOption = None,
) -> None:
    """Batches, newest first, and the leads waiting for each partner's next one."""
    if status is not None and status not in STATUSES:
        raise fail(f"--status must be one of {', '.join(STATUSES)}, not {status!r}", code=2)
    with _log(database_url) as log:
        items = asyncio.run(log.find(partner, status))
        waiting = asyncio.run(log.waiting())
    columns = ("id", "partner", "channel", "status", "leads", "file", "trigger", "created", "reason")
    rows = [
        (
            b["id"],
            b["partner"],
            b["channel"],
            b["status"],
            str(b["lead_count"]),
            b["filename"],
            b["trigger"],
            b["created_at"][:19],
            b["reason"] or "",
        )
        for b in items
    ]
    print_rows(columns, rows, no_wrap=("id", "file"))
    for w in waiting:
        if partner is None or w["partner"] == partner:
            out.print(
                f"{w['partner']}: {w['waiting']} lead(s) waiting since {w['oldest'][:19]}", highlight=False
            )


@batches_app.command("show")
def show(batch_id: str, database_url: DbOption = None) -> None:
    """One batch: its leads and every attempt to deliver it (JSON)."""
    with _log(database_url) as log:
        detail = asyncio.run(log.show(batch_id))
    out.print_json(data=detail)


@batches_app.command("download")
def download(
    batch_id: str,
    to: Annotated[
        Path | None, typer.Option("--to", help="Where to write it (default: its file name).")
    ] = None,
    database_url: DbOption = None,
) -> None:
    """Write the batch's file as the partner gets it (rendered from the stored leads; audited)."""
    if to is not None:
        check_folder(to, "--to")
    with _log(database_url) as log:
        name, _, data = asyncio.run(log.file(batch_id, actor=actor()))
    target = to or Path(name)
    write_file(target, data, "--to")
    out.print(f"{target}: {len(data):,} bytes")


@batches_app.command("redeliver")
def redeliver(batch_id: str, database_url: DbOption = None) -> None:
    """Deliver a batch again with the same leads and file name (a running worker sends it)."""
    with _log(database_url) as log:
        detail = asyncio.run(log.redeliver(batch_id, actor=actor()))
    out.print(f"batch {batch_id}: {detail['status']} (a worker sends it on its next pass)")
