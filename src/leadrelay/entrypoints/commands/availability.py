"""`leadrelay partners available|unavailable NAME` and `leadrelay partners availability`: check a partner
in or out at once (routing skips an unavailable partner), audited as the CLI's user."""

from __future__ import annotations

from typing import Annotated

import typer

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.entrypoints.commands.common import DbOption, actor, fail, out, print_rows, settings_for
from leadrelay.errors import LeadrelayError
from leadrelay.services.availability import Availability, availability_tx, set_availability_tx

NoteOption = Annotated[str | None, typer.Option("--note", help="Why, for the audit log.")]


def _set(name: str, available: bool, note: str | None, database_url: str | None) -> Availability:
    db = Database(settings_for(database_url).database_url)
    try:
        return SqlStorage(db).transaction(
            lambda tx: set_availability_tx(tx, name, available, actor=actor(), note=note)
        )
    except LeadrelayError as exc:
        raise fail(exc.detail) from exc
    finally:
        db.dispose()


def available(
    name: Annotated[str, typer.Argument(help="The partner.")],
    note: NoteOption = None,
    database_url: DbOption = None,
) -> None:
    """Check partner NAME in: it is offered leads again (at once)."""
    _set(name, True, note, database_url)
    out.print(f"{name}: available", highlight=False)


def unavailable(
    name: Annotated[str, typer.Argument(help="The partner.")],
    note: NoteOption = None,
    database_url: DbOption = None,
) -> None:
    """Check partner NAME out: routing skips it (trace: "partner unavailable") until it is checked in."""
    _set(name, False, note, database_url)
    out.print(f"{name}: unavailable", highlight=False)


def availability(
    name: Annotated[str | None, typer.Argument(help="One partner (default: all).")] = None,
    database_url: DbOption = None,
) -> None:
    """Every partner's availability: available or not, since when, by whom, and why."""
    db = Database(settings_for(database_url).database_url)
    try:
        rows = SqlStorage(db).read(lambda tx: availability_tx(tx, name))
    except LeadrelayError as exc:
        raise fail(exc.detail) from exc
    finally:
        db.dispose()
    print_rows(
        ("partner", "available", "since", "by", "note"),
        [
            (
                r.partner,
                "yes" if r.available else "no",
                r.changed_at.isoformat(timespec="seconds") if r.changed_at else "",
                r.changed_by or "",
                r.note or "",
            )
            for r in rows
        ],
    )
