"""`leadrelay suppression`: import a file into a suppression list (any size, bounded memory), list lists.

The import streams the file and commits every 50,000 rows, so a million-line do-not-call list needs no
more memory than a small one, and an interrupted import can simply be run again.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from leadrelay.adapters.db import suppression_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.domain.suppression import KINDS
from leadrelay.entrypoints.commands.common import DbOption, actor, err, fail, out, settings_for
from leadrelay.errors import LeadrelayError
from leadrelay.services.suppression import ImportReport, import_file

suppression_app = typer.Typer(
    help="Suppression lists: do-not-call, litigators, existing customers, competitors…", no_args_is_help=True
)


def _database(database_url: str | None) -> Database:
    return Database(settings_for(database_url).database_url)


@suppression_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="One value per line, or a CSV with a header row.")],
    list_name: Annotated[str, typer.Option("--list", help="The suppression list to add to.")],
    kind: Annotated[
        str | None,
        typer.Option(help=f"Create the list if it does not exist, holding {' | '.join(KINDS)} values."),
    ] = None,
    column: Annotated[
        str | None, typer.Option(help="The CSV column holding the values (default: the first).")
    ] = None,
    hashed: Annotated[
        bool, typer.Option("--hashed", help="The values are SHA-256 hashes of normalized values.")
    ] = False,
    description: Annotated[str | None, typer.Option(help="When creating the list: what it is.")] = None,
    database_url: DbOption = None,
) -> None:
    """Import FILE into a suppression list: values stored hashed, repeats counted, bad lines reported."""
    if not file.is_file():
        raise fail(f"no such file: {file}")
    db = _database(database_url)
    try:
        with Progress(
            TextColumn("[bold]importing"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,  # no bar in a pipe or a log
        ) as progress:
            task = progress.add_task("import", total=file.stat().st_size)
            report = import_file(
                SqlStorage(db),
                file,
                list_name,
                column=column,
                hashed=hashed,
                kind=kind,
                description=description,
                actor=actor(),
                progress=lambda done: progress.update(task, completed=done),
            )
    except LeadrelayError as exc:
        raise fail(exc.detail) from exc
    finally:
        db.dispose()
    _summary(report)


def _summary(report: ImportReport) -> None:
    if report.created:
        out.print(f"created {report.kind} list {report.list_name!r}", highlight=False)
    if report.header is not None:
        out.print(f"header row: values read from column {report.header!r}", highlight=False)
    out.print(
        f"imported {report.total} values into {report.list_name!r}: {report.added} added, "
        f"{report.already_present} already present, {report.invalid} invalid"
        + (f" ({report.blank} blank rows skipped)" if report.blank else ""),
        highlight=False,
    )
    for line, text, why in report.examples:
        out.print(f"  line {line}: {text!r}: {why}", highlight=False, markup=False)
    if report.invalid > len(report.examples):
        out.print(f"  … and {report.invalid - len(report.examples)} more invalid lines", highlight=False)


@suppression_app.command("lists")
def lists_command(database_url: DbOption = None) -> None:
    """Every suppression list with its kind and number of entries."""
    db = _database(database_url)
    try:
        rows = db.read(suppression_store.lists)
    except LeadrelayError as exc:
        raise fail(exc.detail) from exc
    finally:
        db.dispose()
    columns = ("name", "kind", "entries", "description")
    cells = [(r.name, r.kind, str(r.entries), r.description or "") for r in rows]
    if not out.is_terminal:  # piped: tab-separated, for scripts
        for row in (columns, *cells):
            sys.stdout.write("\t".join(row) + "\n")
        return
    table = Table(*columns, box=None)
    for row in cells:
        table.add_row(*row)
    out.print(table)
