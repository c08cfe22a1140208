"""What every command shares: the consoles, the --database-url option, settings, the actor, failing."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Collection, Sequence
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
