"""``leadrelay wallets list|show|topup``: partner wallets (balance, held, available, credit limit) and
top-ups (a ``TOPUP`` entry in the ledger, audited as the CLI's user)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.entrypoints.amounts import written_amount
from leadrelay.entrypoints.commands.common import DbOption, actor, fail, out, print_rows, settings_for
from leadrelay.errors import LeadrelayError, ValidationFailed
from leadrelay.services.config_in_force import ConfigCache, LiveConfig
from leadrelay.services.ports import Tx, system_ids
from leadrelay.services.wallets import WalletView, list_wallets, show_wallet, top_up

wallets_app = typer.Typer(help="Partner wallets: balances, holds, top-ups.", no_args_is_help=True)
T = TypeVar("T")
COLUMNS = ("partner", "balance", "held", "available", "credit limit", "low balance")


def _run(database_url: str | None, fn: Callable[[Tx, LiveConfig], T]) -> T:
    db = Database(settings_for(database_url).database_url)
    configs = ConfigCache()
    try:
        return SqlStorage(db).transaction(lambda tx: fn(tx, configs.current(tx)))
    except ValidationFailed as exc:
        raise fail("; ".join(f"{p.field}: {p.error}" for p in exc.problems) or exc.detail) from exc
    except LeadrelayError as exc:
        raise fail(exc.detail) from exc
    finally:
        db.dispose()


def _row(w: WalletView) -> tuple[str, ...]:
    low = "" if w.low_balance is None else f"{w.low_balance}" + (" (low)" if w.low else "")
    return (w.partner, str(w.balance), str(w.held), str(w.available), str(w.credit_limit), low)


@wallets_app.command("list")
def list_(database_url: DbOption = None) -> None:
    """Every partner with a wallet."""
    print_rows(COLUMNS, [_row(w) for w in _run(database_url, list_wallets)])


@wallets_app.command("show")
def show(name: Annotated[str, typer.Argument(help="The partner.")], database_url: DbOption = None) -> None:
    """One partner's wallet."""
    print_rows(COLUMNS, [_row(_run(database_url, lambda tx, live: show_wallet(tx, live, name)))])


@wallets_app.command("topup")
def topup(
    name: Annotated[str, typer.Argument(help="The partner.")],
    amount: Annotated[str, typer.Argument(help="The amount paid in, e.g. 200 or 49.99.")],
    memo: Annotated[str | None, typer.Option("--memo", help="A note (a payment reference).")] = None,
    database_url: DbOption = None,
) -> None:
    """Pay AMOUNT into partner NAME's wallet (a top-up entry in the ledger)."""
    try:
        value = written_amount(amount)
    except ValueError as exc:
        raise fail(f"AMOUNT: {exc}") from None
    entry, wallet = _run(
        database_url,
        lambda tx, live: top_up(
            tx, live, name, value, actor=actor(), now=datetime.now(UTC), ids=system_ids, memo=memo
        ),
    )
    out.print(f"{name}: topped up {-entry.amount} ({entry.id}); balance {wallet.balance}", highlight=False)
