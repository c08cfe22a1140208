"""``leadrelay check-field``: how one value parses as a field type, for writing entity configs."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from leadrelay.domain.fields import normalize_field, type_names

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def check_field(
    type_name: Annotated[str, typer.Argument(help="The field type: phone, email, postal_code, dob, …")],
    value: Annotated[str, typer.Argument(help="The value as a form would send it.")],
    region: Annotated[str, typer.Option(help="Phone numbers: the default country (ISO alpha-2).")] = "US",
    choices: Annotated[
        list[str] | None, typer.Option("--choice", help="Enum: an allowed value (repeat the option).")
    ] = None,
) -> None:
    """Parse VALUE as TYPE_NAME and show its normal form, parts and flags; exit 1 when it is invalid."""
    options: dict[str, Any] = {"region": region}
    if choices:
        options["choices"] = choices
    try:
        result = normalize_field(type_name, value, **options)
    except ValueError as exc:
        err.print(f"[red]unknown field type {type_name!r}[/red]; one of: {', '.join(type_names())}")
        raise typer.Exit(2) from exc
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("raw", repr(result.raw))
    table.add_row("valid", "[green]yes[/green]" if result.valid else "[red]no[/red]")
    if result.valid:
        table.add_row("normal", str(result.normal))
        table.add_row("value", f"{result.value!r} ({type(result.value).__name__})")
    else:
        table.add_row("error", f"[red]{result.error}[/red]")
    for name, part in result.parts.items():
        table.add_row(f"  {name}", "-" if part is None else str(part))
    if result.flags:
        table.add_row("flags", ", ".join(f"[yellow]{flag}[/yellow]" for flag in result.flags))
    out.print(table)
    if not result.valid:
        raise typer.Exit(1)
