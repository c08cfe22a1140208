"""`leadrelay apply -f FILE` and `leadrelay export`: the YAML configuration in and out of the store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from leadrelay.adapters.crypto import Sealer
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.configuration.load import load_yaml_text
from leadrelay.entrypoints.commands.common import (
    DbOption,
    actor,
    check_folder,
    err,
    fail,
    out,
    settings_for,
    write_file,
)
from leadrelay.errors import ConfigError
from leadrelay.services import configure


def apply(
    file: Annotated[Path, typer.Option("-f", "--file", help="A YAML configuration document.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
    database_url: DbOption = None,
) -> None:
    """Create or update entities, sources, partners and profiles from YAML (all or nothing)."""
    try:
        data = load_yaml_text(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise fail(f"cannot read {file}: not UTF-8 text (byte {exc.start})") from exc
    except ConfigError as exc:
        raise _config_fail(exc) from exc
    settings = settings_for(database_url)
    db = Database(settings.database_url)
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    try:
        sealer = Sealer(db, secret)
        changes = configure.apply_document_sync(
            SqlStorage(db), data, actor=actor(), dry_run=dry_run, sealer=sealer
        )
    except ConfigError as exc:
        raise _config_fail(exc) from exc
    finally:
        db.dispose()
    table = Table("kind", "name", "action" if not dry_run else "would be", box=None)
    for c in changes:
        colour = {"created": "green", "updated": "yellow", "unchanged": "dim"}.get(c.action, "")
        table.add_row(c.kind, c.name, f"[{colour}]{c.action}[/]")
    out.print(table)
    if dry_run:
        out.print("dry run: nothing was changed")


def _config_fail(exc: ConfigError) -> typer.Exit:
    err.print(f"[bold red]invalid configuration[/] ({len(exc.problems)} problem(s)); nothing was applied:")
    for p in exc.problems:
        err.print(f"  {p}", highlight=False, markup=False)
    return typer.Exit(2)


def export(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")
    ] = None,
    database_url: DbOption = None,
) -> None:
    """Write the stored configuration as YAML that re-applies to the same state."""
    if output is not None:
        check_folder(output, "--output")
    db = Database(settings_for(database_url).database_url)
    try:
        text = configure.export_yaml(SqlStorage(db))
    finally:
        db.dispose()
    if output:
        write_file(output, text, "--output")
    else:
        sys.stdout.write(text)
