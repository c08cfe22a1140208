"""`leadrelay ledger list|balances|post`: the money ledger from the command line. Entries are never edited:
a correction is a new entry (`post adjustment`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.domain.instants import utc_instant
from leadrelay.domain.ledger import EntryKind, Party
from leadrelay.entrypoints.amounts import written_amount
from leadrelay.entrypoints.commands.common import DbOption, actor, fail, out, print_rows, settings_for
from leadrelay.errors import LeadrelayError, ValidationFailed
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.ledger import MANUAL, LedgerBook

ledger_app = typer.Typer(help="The money ledger: entries, balances, manual entries.", no_args_is_help=True)

PartyOption = Annotated[str, typer.Option("--party-kind", help="partner or source.")]


@contextmanager
def _book(database_url: str | None) -> Iterator[LedgerBook]:
    db = Database(settings_for(database_url).database_url)
    try:
        yield LedgerBook(SqlStorage(db), ConfigCache())
    except ValidationFailed as exc:
        raise fail("; ".join(f"{p.field}: {p.error}" for p in exc.problems)) from exc
    except LeadrelayError as exc:
        raise fail(exc.detail) from exc
    finally:
        db.dispose()


def _party(value: str) -> Party:
    try:
        return Party(value)
    except ValueError:
        raise fail(
            f"--party-kind: must be one of {', '.join(p.value for p in Party)}, not {value!r}"
        ) from None


@ledger_app.command("list")
def list_entries(
    party: Annotated[str | None, typer.Option("--party", help="One partner's or source's entries.")] = None,
    party_kind: Annotated[str | None, typer.Option("--party-kind", help="partner or source.")] = None,
    lead: Annotated[str | None, typer.Option("--lead", help="One lead's entries.")] = None,
    since: Annotated[
        datetime | None, typer.Option("--since", help="From (inclusive, UTC if no zone).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 500,
    database_url: DbOption = None,
) -> None:
    """Ledger entries, oldest first."""
    kind = _party(party_kind) if party_kind is not None else None
    try:
        since = utc_instant(since) if since is not None else None
    except ValueError as exc:
        raise fail(f"--since: {exc}") from None
    with _book(database_url) as book:
        entries = asyncio.run(
            book.entries(
                party_kind=kind,
                party=party,
                lead_ids=[lead] if lead else None,
                since=since,
                limit=limit,
            )
        )
    print_rows(
        ["at", "kind", "party", "amount", "margin", "lead", "delivery", "actor", "memo"],
        [
            [
                e.at.isoformat(timespec="seconds"),
                e.kind.value,
                f"{e.party_kind.value}:{e.party}",
                f"{e.amount} {e.currency}",
                str(e.margin) if e.margin is not None else "",
                e.lead_id or "",
                e.delivery_id or "",
                e.actor,
                e.memo or "",
            ]
            for e in entries
        ],
    )


@ledger_app.command("balances")
def balances(party_kind: PartyOption = "partner", database_url: DbOption = None) -> None:
    """Each party's balance: + it owes the operator (a buyer's unpaid sales), - the operator owes it (a
    source's payouts, a buyer's prepaid funds)."""
    kind = _party(party_kind)
    with _book(database_url) as book:
        got = asyncio.run(book.balances(kind))
    print_rows([kind.value, "balance"], [[name, str(v)] for name, v in sorted(got.items())])


@ledger_app.command("post")
def post(
    kind: Annotated[str, typer.Argument(help="credit, topup, payment or adjustment.")],
    party: Annotated[str, typer.Argument(help="The partner or source.")],
    amount: Annotated[str, typer.Argument(help="As read: a credit of 50 is 50; an adjustment is signed.")],
    party_kind: PartyOption = "partner",
    memo: Annotated[str | None, typer.Option("--memo", help="Why (kept with the entry and audited).")] = None,
    database_url: DbOption = None,
) -> None:
    """Post a manual entry (audited as the CLI's user)."""
    allowed = [k.value for k in MANUAL]
    if kind not in allowed:
        raise fail(f"KIND: must be one of {', '.join(allowed)}, not {kind!r}")
    try:
        value = written_amount(amount)
    except ValueError as exc:
        raise fail(f"AMOUNT: {exc}") from None
    pk = _party(party_kind)
    with _book(database_url) as book:
        entry = asyncio.run(
            book.post(
                kind=EntryKind(kind), party_kind=pk, party=party, amount=value, actor=actor(), memo=memo
            )
        )
    out.print(f"{entry.id}: {entry.kind.value} {pk.value}:{entry.party} {entry.amount} {entry.currency}")
