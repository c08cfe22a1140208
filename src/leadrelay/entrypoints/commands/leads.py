"""``leadrelay leads``: erase a person's data, purge by retention, show a stored lead, rebuild the search's
lookup keys."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated

import typer

from leadrelay.adapters.crypto import Sealer
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.dedup_keys import DedupKeys
from leadrelay.config import Settings
from leadrelay.entrypoints.commands.common import DbOption, actor, fail, out, settings_for
from leadrelay.errors import LeadrelayError
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.lead_pages import LeadPages
from leadrelay.services.privacy import Privacy

leads_app = typer.Typer(
    help="Leads: personal data (erasure, retention) and stored records.", no_args_is_help=True
)


@contextmanager
def _privacy(settings: Settings) -> Iterator[Privacy]:
    """The privacy service on the configured database; an expected failure is one line and exit 1."""
    db = Database(settings.database_url)
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    try:
        yield Privacy(SqlStorage(db), Sealer(db, secret), ConfigCache(), db, keys=DedupKeys(db, secret))
    except LeadrelayError as exc:
        problems = getattr(exc, "problems", None)
        detail = "; ".join(f"{p.field}: {p.error}" for p in problems) if problems else exc.detail
        raise fail(detail) from exc
    finally:
        db.dispose()


@leads_app.command("erase")
def erase(
    email: Annotated[str | None, typer.Option(help="Erase every lead with this email.")] = None,
    phone: Annotated[str | None, typer.Option(help="Erase every lead with this phone.")] = None,
    lead: Annotated[str | None, typer.Option(help="Erase this lead (its id).")] = None,
    region: Annotated[str, typer.Option(help="Default country of --phone.")] = "US",
    database_url: DbOption = None,
) -> None:
    """Remove personal data (values, sealed fields, recorded requests, hashes); keep the business record."""
    with _privacy(settings_for(database_url)) as privacy:
        if lead is not None:
            erased = asyncio.run(privacy.erase_lead(lead, actor=actor()))
            out.print(f"lead {lead}: {'erased' if erased else 'already erased'}")
            return
        found = asyncio.run(privacy.erase_person(email=email, phone=phone, region=region, actor=actor()))
        out.print(f"{len(found)} lead(s) found and erased" + (f": {', '.join(found)}" if found else ""))


@leads_app.command("purge")
def purge(
    older_than_days: Annotated[
        int | None,
        typer.Option(
            min=1, max=36_500, help="Erase leads older than this (default LEADRELAY_RETENTION_DAYS)."
        ),
    ] = None,
    database_url: DbOption = None,
) -> None:
    """Erase the personal data of every lead older than the retention period (what the workers do hourly)."""
    settings = settings_for(database_url)
    days = older_than_days if older_than_days is not None else settings.retention_days
    if days is None:
        raise fail("give --older-than-days or set LEADRELAY_RETENTION_DAYS")
    with _privacy(settings) as privacy:
        erased = privacy.purge_sync(timedelta(days=days), actor=actor())
        out.print(f"erased the personal data of {erased} lead(s) older than {days} day(s)")


@leads_app.command("show")
def show(
    lead_id: str,
    reveal: Annotated[bool, typer.Option(help="Open the sensitive fields (audited).")] = False,
    database_url: DbOption = None,
) -> None:
    """A stored lead as JSON; sensitive values masked unless --reveal."""
    with _privacy(settings_for(database_url)) as privacy:
        out.print_json(json.dumps(privacy.lead_record(lead_id, reveal=reveal, actor=actor())))


def reindex_leads(settings: Settings) -> int:
    """Every stored lead's lookup keys computed again (``LeadPages.reindex_sync``)."""
    db = Database(settings.database_url)
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    storage = SqlStorage(db)
    privacy = Privacy(storage, Sealer(db, secret), ConfigCache(), db)
    try:
        return LeadPages(storage, DedupKeys(db, secret), privacy).reindex_sync()
    except LeadrelayError as exc:
        raise fail(exc.detail) from exc
    finally:
        db.dispose()


@leads_app.command("reindex")
def reindex(database_url: DbOption = None) -> None:
    """Write again the keyed hashes the console's search finds leads by (their emails and phones): for
    leads received before the search existed, and after `leadrelay dedup rekey`."""
    count = reindex_leads(settings_for(database_url))
    out.print(f"lookup keys written for {count} lead(s)")
