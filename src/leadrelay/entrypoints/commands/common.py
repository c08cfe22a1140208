"""What every command shares: the consoles, the --database-url option, settings, the actor, failing."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from leadrelay.config import Settings, load_settings
from leadrelay.errors import ConfigError

out = Console(soft_wrap=True)  # long paths and ids stay on one line, greppable in logs
err = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[str | None, typer.Option("--database-url", help="Overrides LEADRELAY_DATABASE_URL.")]


def settings_for(database_url: str | None = None) -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise fail(exc.detail) from exc
    if database_url:
        settings.database_url = database_url
    return settings


def actor() -> str:
    """Who runs the command, for the audit log."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one error line on stderr; raise the returned Exit (no traceback for an expected failure)."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def check_folder(path: Path, option: str) -> None:
    """Before any work: the folder ``path`` (an option's file) is to be written in exists, else one line
    naming the option (exit 2)."""
    if not path.parent.is_dir():
        raise fail(f"{option}: no folder {str(path.parent)!r} to write {path.name!r} in", 2)


def write_file(path: Path, data: bytes | str, option: str) -> None:
    """``data`` written to ``path`` (text as UTF-8), or one line naming the option when it cannot be."""
    check_folder(path, option)
    try:
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
    except OSError as exc:  # not writable, a folder by that name, a full disk
        raise fail(f"{option}: cannot write {str(path)!r}: {exc.strerror or exc}") from exc


def print_rows(
    columns: Sequence[str], rows: Sequence[Sequence[str]], *, no_wrap: Collection[str] = ()
) -> None:
    """A table on a terminal; piped, whole values tab-separated (for scripts and copy-paste)."""
    if not out.is_terminal:
        for row in (columns, *rows):
            sys.stdout.write("\t".join(row) + "\n")
        return
    table = Table(box=None)
    for name in columns:
        table.add_column(name, no_wrap=name in no_wrap)
    for row in rows:
        table.add_row(*row)
    out.print(table)
