"""`leadrelay dedup`: the key of the dedup marks (check it, recompute the marks under a new one)."""

from __future__ import annotations

import typer
from sqlalchemy.exc import DBAPIError

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.dedup_keys import DedupKeys, rekey
from leadrelay.config import Settings
from leadrelay.entrypoints.commands.common import DbOption, fail, out, settings_for
from leadrelay.errors import LeadrelayError

dedup_app = typer.Typer(help="The key of the dedup marks.", no_args_is_help=True)


def _secret(settings: Settings) -> str | None:
    return settings.secret_key.get_secret_value() if settings.secret_key else None


def check_dedup_key(settings: Settings) -> None:
    """Start-up check of `serve` and `worker`: this process's dedup key is the one the marks were made
    with (recorded on first use); else one error line and exit status 1."""
    db = Database(settings.database_url)
    try:
        DedupKeys(db, _secret(settings)).hasher_sync()
    except LeadrelayError as exc:
        raise fail(f"dedup: {exc.detail}") from exc
    finally:
        db.dispose()


@dedup_app.command("check")
def check(database_url: DbOption = None) -> None:
    """Check that this process's key (from LEADRELAY_SECRET_KEY, or generated) made the stored marks."""
    check_dedup_key(settings_for(database_url))
    out.print("the dedup key matches the stored marks")


@dedup_app.command("rekey")
def rekey_(database_url: DbOption = None) -> None:
    """Recompute every dedup mark under this process's key, from the stored leads' values (after
    setting, changing or removing LEADRELAY_SECRET_KEY), then record that key. One transaction."""
    settings = settings_for(database_url)
    db = Database(settings.database_url)
    try:
        done = db.transaction(lambda c: rekey(c, _secret(settings)))
    except LeadrelayError as exc:
        raise fail(exc.detail) from exc
    except DBAPIError as exc:
        raise fail(f"database error: {exc.orig} (is the schema up to date? `leadrelay db upgrade`)") from exc
    finally:
        db.dispose()
    out.print(
        f"dedup marks: {done.kept} under the new key, {done.dropped} dropped (their lead's values are gone)"
    )
    from leadrelay.entrypoints.commands.leads import reindex_leads

    out.print(f"lead search: lookup keys written again for {reindex_leads(settings)} lead(s)")
