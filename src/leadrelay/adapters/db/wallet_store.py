"""SQL for budgets and wallets (``leadrelay.services.ports.Wallets``), in whole cents.

Money is held with one conditional UPDATE, as a cap slot is taken (``cap_store``): a budget window's
``spent + amount <= limit``, a wallet's ``held + amount + owed <= credit_limit``. The UPDATE is atomic on
both databases (PostgreSQL re-checks the condition on the row as the transaction before it left it), so
no two leads can share the last of a budget or a wallet. What each job's delivery holds is a
``money_holds`` row, given back (DELETE … RETURNING: once) when the delivery fails or is cancelled.

``move_owed`` is called by the ledger's ``post`` for every partner entry, in the same transaction: the
wallet row is upserted, so a partner's first entry makes its row and the sum stays exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from leadrelay.adapters.db.money_tables import budget_counters, money_holds, wallets
from leadrelay.domain.budgets import Funds, HoldKind, WalletBalance, cents, of_cents
from leadrelay.domain.ledger import ZERO
from leadrelay.domain.model import WalletSpec

_W = wallets.c
_B = budget_counters.c
_H = money_holds.c


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


@lru_cache(maxsize=8)
def _statements(dialect: str) -> dict[str, Any]:
    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
    owed = ins(wallets).values(partner=bindparam("b_partner"), owed=bindparam("b_delta"), held=0)
    hold = ins(money_holds).values(
        job_id=bindparam("b_job"),
        partner=bindparam("b_partner"),
        kind=bindparam("b_kind"),
        scope=bindparam("b_scope"),
        window=bindparam("b_window"),
        amount=bindparam("b_amount"),
    )
    return {
        "owed": owed.on_conflict_do_update(
            index_elements=["partner"], set_={"owed": _W.owed + owed.excluded.owed}
        ),
        "wallet_row": ins(wallets)
        .values(partner=bindparam("b_partner"), owed=0, held=0)
        .on_conflict_do_nothing(index_elements=["partner"]),
        "budget_row": ins(budget_counters)
        .values(
            partner=bindparam("b_partner"), scope=bindparam("b_scope"), window=bindparam("b_window"), spent=0
        )
        .on_conflict_do_nothing(index_elements=["partner", "scope", "window"]),
        "hold": hold.on_conflict_do_update(
            index_elements=["job_id", "partner", "kind", "scope", "window"],
            set_={"amount": _H.amount + hold.excluded.amount},
        ),
    }


_BUDGET_KEY = and_(
    _B.partner == bindparam("b_partner"), _B.scope == bindparam("b_scope"), _B.window == bindparam("b_window")
)
_SPEND = (
    update(budget_counters)
    .where(_BUDGET_KEY, _B.spent + bindparam("b_amount") <= bindparam("b_limit"))
    .values(spent=_B.spent + bindparam("b_amount"))
)
_MOVE_SPENT = update(budget_counters).where(_BUDGET_KEY).values(spent=_B.spent + bindparam("b_amount"))
_HOLD_FUNDS = (
    update(wallets)
    .where(
        _W.partner == bindparam("b_partner"),
        _W.held + bindparam("b_amount") + _W.owed <= bindparam("b_limit"),
    )
    .values(held=_W.held + bindparam("b_amount"))
)
_MOVE_HELD = (
    update(wallets).where(_W.partner == bindparam("b_partner")).values(held=_W.held - bindparam("b_amount"))
)


def move_owed(conn: Connection, deltas: Mapping[str, Decimal]) -> None:
    """Add each partner's posted amounts to what it owes (in sorted order: no two transactions lock two
    partners' rows in opposite orders)."""
    params = [{"b_partner": p, "b_delta": cents(d)} for p, d in sorted(deltas.items())]
    if params:
        conn.execute(_statements(conn.dialect.name)["owed"], params)


def _hold(
    conn: Connection, job_id: str, partner: str, kind: HoldKind, scope: str, window: str, amount: int
) -> None:
    conn.execute(
        _statements(conn.dialect.name)["hold"],
        {"b_job": job_id, "b_partner": partner, "b_kind": kind.value, "b_scope": scope, "b_window": window,
         "b_amount": amount},
    )  # fmt: skip


def reserve_budget(
    conn: Connection, job_id: str, partner: str, scope: str, window: str, amount: Decimal, limit: Decimal
) -> tuple[bool, Decimal]:
    key = {"b_partner": partner, "b_scope": scope, "b_window": window}
    conn.execute(_statements(conn.dialect.name)["budget_row"], key)
    if conn.execute(_SPEND, {**key, "b_amount": cents(amount), "b_limit": cents(limit)}).rowcount == 1:
        _hold(conn, job_id, partner, HoldKind.BUDGET, scope, window, cents(amount))
        return True, ZERO
    spent = conn.execute(select(_B.spent).where(_BUDGET_KEY), key).scalar_one()
    return False, of_cents(int(spent))


def reserve_funds(
    conn: Connection, job_id: str, partner: str, amount: Decimal, credit_limit: Decimal
) -> Funds | None:
    conn.execute(_statements(conn.dialect.name)["wallet_row"], {"b_partner": partner})
    params = {"b_partner": partner, "b_amount": cents(amount), "b_limit": cents(credit_limit)}
    if conn.execute(_HOLD_FUNDS, params).rowcount == 1:
        _hold(conn, job_id, partner, HoldKind.WALLET, "", "", cents(amount))
        return None
    row = conn.execute(select(_W.owed, _W.held).where(_W.partner == partner)).one()
    return Funds(of_cents(int(row.owed)), of_cents(int(row.held)), credit_limit)


def _give_back(conn: Connection, partner: str, held: Sequence[Any]) -> None:
    for row in held:
        if row.kind == HoldKind.WALLET:
            conn.execute(_MOVE_HELD, {"b_partner": partner, "b_amount": int(row.amount)})
        else:
            key = {"b_partner": partner, "b_scope": row.scope, "b_window": row.window}
            conn.execute(_MOVE_SPENT, {**key, "b_amount": -int(row.amount)})


def release_holds(conn: Connection, job_id: str, partner: str) -> None:
    gone = conn.execute(
        delete(money_holds)
        .where(_H.job_id == job_id, _H.partner == partner)
        .returning(_H.kind, _H.scope, _H.window, _H.amount)
    ).all()
    _give_back(conn, partner, sorted(gone, key=lambda r: (r.kind, r.scope, r.window)))


def settle_holds(conn: Connection, sales: Sequence[tuple[str, str, Decimal]]) -> None:
    for job_id, partner, price in sorted(sales):
        mine = (_H.job_id == job_id, _H.partner == partner)
        wallet = conn.execute(
            delete(money_holds).where(*mine, _H.kind == HoldKind.WALLET.value).returning(_H.kind, _H.amount)
        ).all()
        _give_back(conn, partner, wallet)
        budget = conn.execute(
            select(_H.scope, _H.window, _H.amount).where(*mine, _H.kind == HoldKind.BUDGET.value)
        ).all()
        for row in budget:
            moved = cents(price) - int(row.amount)
            if moved:
                key = {"b_partner": partner, "b_scope": row.scope, "b_window": row.window}
                conn.execute(_MOVE_SPENT, {**key, "b_amount": moved})
                conn.execute(
                    update(money_holds)
                    .where(
                        *mine,
                        _H.kind == HoldKind.BUDGET.value,
                        _H.scope == row.scope,
                        _H.window == row.window,
                    )
                    .values(amount=cents(price))
                )


def configure_wallets(conn: Connection, specs: Mapping[str, WalletSpec | None]) -> None:
    for partner, spec in sorted(specs.items()):
        limit = cents(spec.credit_limit) if spec is not None else None
        low = cents(spec.low_balance) if spec is not None and spec.low_balance is not None else None
        stmt = _insert(conn)(wallets).values(
            partner=partner, owed=0, held=0, credit_limit=limit, low_balance=low
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["partner"], set_={"credit_limit": limit, "low_balance": low}
            )
        )


def funds(conn: Connection, partner: str) -> Funds | None:
    row = conn.execute(select(_W.owed, _W.held, _W.credit_limit).where(_W.partner == partner)).first()
    if row is None:
        return None
    return Funds(of_cents(int(row.owed)), of_cents(int(row.held)), of_cents(int(row.credit_limit or 0)))


def wallet_balances(conn: Connection) -> dict[str, WalletBalance]:
    rows = conn.execute(
        select(_W.partner, _W.owed, _W.credit_limit, _W.low_balance).where(_W.credit_limit.is_not(None))
    )
    return {
        r.partner: WalletBalance(
            -of_cents(int(r.owed)),
            of_cents(int(r.credit_limit)),
            of_cents(int(r.low_balance)) if r.low_balance is not None else None,
        )
        for r in rows
    }


def budget_spent(conn: Connection, partner: str) -> dict[tuple[str, str], Decimal]:
    rows = conn.execute(select(_B.scope, _B.window, _B.spent).where(_B.partner == partner))
    return {(r.scope, r.window): of_cents(int(r.spent)) for r in rows}


class SqlWallets:
    """``leadrelay.services.ports.Wallets`` over one open transaction."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def reserve_budget(
        self, job_id: str, partner: str, scope: str, window: str, amount: Decimal, limit: Decimal
    ) -> tuple[bool, Decimal]:
        return reserve_budget(self._conn, job_id, partner, scope, window, amount, limit)

    def reserve_funds(
        self, job_id: str, partner: str, amount: Decimal, credit_limit: Decimal
    ) -> Funds | None:
        return reserve_funds(self._conn, job_id, partner, amount, credit_limit)

    def release_holds(self, job_id: str, partner: str) -> None:
        release_holds(self._conn, job_id, partner)

    def settle_holds(self, sales: Sequence[tuple[str, str, Decimal]]) -> None:
        settle_holds(self._conn, sales)

    def configure_wallets(self, wallets: Mapping[str, WalletSpec | None]) -> None:
        configure_wallets(self._conn, wallets)

    def funds(self, partner: str) -> Funds | None:
        return funds(self._conn, partner)

    def wallet_balances(self) -> dict[str, WalletBalance]:
        return wallet_balances(self._conn)

    def balances(self) -> dict[str, Funds]:
        rows = self._conn.execute(select(_W.partner, _W.owed, _W.held, _W.credit_limit).order_by(_W.partner))
        return {
            r.partner: Funds(of_cents(int(r.owed)), of_cents(int(r.held)), of_cents(int(r.credit_limit or 0)))
            for r in rows
        }

    def budget_spent(self, partner: str) -> dict[tuple[str, str], Decimal]:
        return budget_spent(self._conn, partner)
