"""`leadrelay keys`: the data keys that encrypt sensitive lead fields at rest (rotate, list, prune).

Rotation is online: values are re-sealed in small transactions beside live traffic. A replaced key is only
dropped once no value names it and running processes have had time (``--grace``) to stop sealing with it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from leadrelay.adapters.crypto import (
    MISSING_SECRET,
    KeyInfo,
    derive_kek,
    drop_unused_keys,
    key_usage,
    list_keys,
    load_keyring,
    reencrypt_batch,
    rotate_key,
)
from leadrelay.adapters.db.engine import Database
from leadrelay.entrypoints.commands.common import DbOption, fail, out, settings_for
from leadrelay.errors import LeadrelayError

keys_app = typer.Typer(help="Data keys that encrypt sensitive lead fields at rest.", no_args_is_help=True)

GraceOption = Annotated[
    float,
    typer.Option(
        min=0,
        max=10 * 365 * 86_400,  # ten years; more (or inf) no date can subtract, found after the rotation
        help="Drop a replaced key only this many seconds after its replacement (running servers refresh "
        "their keys every minute and may seal with the old one until then).",
    ),
]
BatchOption = Annotated[int, typer.Option(min=1, max=10_000, help="Values re-encrypted per transaction.")]


@contextmanager
def _session(database_url: str | None) -> Iterator[tuple[Database, str]]:
    """The database and the secret; every expected failure becomes a one-line error and exit status 1."""
    settings = settings_for(database_url)
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if not secret:
        raise fail(MISSING_SECRET)
    db = Database(settings.database_url)
    try:
        derive_kek(secret)  # too short: say so before touching the database
        yield db, secret
    except LeadrelayError as exc:
        raise fail(exc.detail) from exc
    except DBAPIError as exc:
        raise fail(f"database error: {exc.orig} (is the schema up to date? `leadrelay db upgrade`)") from exc
    finally:
        db.dispose()


def _active(keys: list[KeyInfo]) -> str | None:
    return next((k.id for k in keys if k.active), None)


def _reencrypt_all(db: Database, secret: str, batch: int) -> int:
    """Re-seals every value not under the active key, one transaction per batch, with a progress bar."""
    ring = db.read(lambda c: load_keyring(c, secret, create=False))
    pending = sum(n for kid, n in db.read(key_usage).items() if kid != ring.active)
    resealed, after = 0, None
    columns = (TextColumn(f"[bold]re-encrypting under {ring.active}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=out) as progress:
        task = progress.add_task("reencrypt", total=pending)
        while True:
            done = db.transaction(functools.partial(reencrypt_batch, ring=ring, after=after, batch=batch))
            resealed += done.resealed
            progress.advance(task, done.scanned)
            if done.after is None:
                return resealed
            after = done.after


def _prune(db: Database, grace: float) -> None:
    """Drops replaced keys no value uses; says which remain and why."""
    cutoff = datetime.now(UTC) - timedelta(seconds=grace)
    dropped = db.transaction(lambda c: drop_unused_keys(c, retired_before=cutoff))
    out.print(f"dropped: {', '.join(dropped) or 'none'}", highlight=False)

    def remaining(conn: Connection) -> tuple[list[KeyInfo], dict[str, int]]:
        return list_keys(conn), key_usage(conn)

    keys, usage = db.read(remaining)
    for key in keys:
        if key.active:
            continue
        why = (
            f"{usage[key.id]} value(s) still use it"
            if usage[key.id]
            else f"replaced less than {grace:g}s ago"
        )
        out.print(f"kept: {key.id} ({why}); `leadrelay keys prune` drops it later", highlight=False)


@keys_app.command("rotate")
def rotate(grace: GraceOption = 300.0, batch: BatchOption = 500, database_url: DbOption = None) -> None:
    """Add a new data key, re-encrypt every sealed value with it, then drop keys no value uses."""
    with _session(database_url) as (db, secret):
        old = _active(db.read(list_keys))
        new = db.transaction(lambda c: rotate_key(c, secret))
        out.print(f"new active key: {new} (was {old or 'none'})", highlight=False)
        resealed = _reencrypt_all(db, secret, batch)
        out.print(f"re-encrypted: {resealed} value(s) now under {new}", highlight=False)
        _prune(db, grace)


@keys_app.command("prune")
def prune(grace: GraceOption = 300.0, batch: BatchOption = 500, database_url: DbOption = None) -> None:
    """Re-encrypt values still under replaced keys, then drop keys no value uses (finishes a rotation)."""
    with _session(database_url) as (db, secret):
        resealed = _reencrypt_all(db, secret, batch)
        out.print(f"re-encrypted: {resealed} value(s)", highlight=False)
        _prune(db, grace)


@keys_app.command("list")
def list_(database_url: DbOption = None) -> None:
    """The data keys: id, active, created, and how many stored values each seals."""

    def gather(conn: Connection) -> tuple[list[KeyInfo], dict[str, int]]:
        keys = list_keys(conn)
        if keys:
            load_keyring(conn, secret, create=False)  # a wrong secret is an error here too
        return keys, key_usage(conn)

    with _session(database_url) as (db, secret):
        keys, usage = db.read(gather)
    if not keys:
        out.print("no data keys yet (the first sealed value creates k1)")
        return
    columns = ("id", "active", "created", "values")
    rows = [
        (k.id, "yes" if k.active else "no", k.created_at.isoformat(timespec="seconds"), str(usage[k.id]))
        for k in keys
    ]
    if not out.is_terminal:  # piped: tab-separated, for scripts
        for row in (columns, *rows):
            sys.stdout.write("\t".join(row) + "\n")
        return
    table = Table(*columns, box=None)
    for row in rows:
        table.add_row(*row)
    out.print(table)
