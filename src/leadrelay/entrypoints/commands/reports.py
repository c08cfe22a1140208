"""`leadrelay report`: counts, money, latency, auctions and conversions by one or two dimensions and a
grain, as a table or ``--csv`` (see ``services.reports``); `leadrelay report --roll-up` first rolls up the
closed hours."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.entrypoints.commands.common import DbOption, fail, print_rows, settings_for
from leadrelay.errors import LeadrelayError, ValidationFailed
from leadrelay.services.reports import report_query, report_tx, roll_up_now

# the table's columns (the CSV has every figure)
SHORT = (
    "received", "accepted", "rejected", "duplicates", "offered", "sold", "acceptance_rate", "revenue",
    "payout", "margin", "average_price", "effective_price", "returns", "return_rate", "latency_p50_ms",
    "latency_p95_ms", "left_on_table", "contacted", "converted", "rejected_by_buyer", "conversion_rate",
    "conversion_revenue",
)  # fmt: skip


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def report(
    by: Annotated[
        list[str] | None, typer.Option("--by", help="source, entity, partner or profile (once or twice).")
    ] = None,
    grain: Annotated[str, typer.Option(help="hour, day or month.")] = "day",
    since: Annotated[str | None, typer.Option(help="ISO date or time (default: by the grain).")] = None,
    until: Annotated[str | None, typer.Option(help="ISO date or time, excluded (default: now).")] = None,
    tz: Annotated[str | None, typer.Option(help="IANA time zone of the buckets (default UTC).")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Every figure, as CSV.")] = False,
    roll_up: Annotated[bool, typer.Option("--roll-up", help="Roll up the closed hours first.")] = False,
    database_url: DbOption = None,
) -> None:
    """Leads received, accepted, rejected, duplicates; deliveries offered and sold (acceptance rate);
    revenue, payout and margin from the ledger; average and effective price; returns; delivery latency
    p50/p95 (approximate: from buckets); auctions' money left on the table; the buyers' postbacks
    (contacted, converted, rejected by the buyer, conversion rate and revenue)."""
    now = datetime.now(UTC)
    names = [n for item in by or ["partner"] for n in item.split(",")]
    try:
        query = report_query(by=names, grain=grain, since=since, until=until, tz=tz, now=now)
    except ValidationFailed as exc:
        raise fail("; ".join(f"--{p.field}: {p.error}" for p in exc.problems), code=2) from exc
    db = Database(settings_for(database_url).database_url)
    try:
        storage = SqlStorage(db)
        if roll_up:
            roll_up_now(storage, now)
        rep = storage.read(lambda tx: report_tx(tx, query, now))
    except LeadrelayError as exc:
        raise fail(exc.detail) from exc
    finally:
        db.dispose()
    if as_csv:
        sys.stdout.write(rep.to_csv())
        return
    columns = ("start", *query.dims, *SHORT)
    rows = [[_text(record[c]) for c in columns] for record in rep.records()]
    print_rows(columns, rows)
