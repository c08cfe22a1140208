"""Budgets and wallets in memory (``leadrelay.services.ports.Wallets``) over the fake tables, in whole
cents as the SQL keeps them; the fake ledger's ``post`` moves ``owed`` (``move_owed``) as the SQL's does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from leadrelay.domain.budgets import Funds, HoldKind, WalletBalance, cents, of_cents
from leadrelay.domain.ledger import ZERO
from leadrelay.domain.model import WalletSpec
from tests.fakes.tables import Tables


def move_owed(tables: Tables, deltas: Mapping[str, Decimal]) -> None:
    for partner, delta in sorted(deltas.items()):
        row = tables.find("wallets", partner)
        if row is None:
            tables.insert("wallets", {"partner": partner, "owed": cents(delta), "held": 0})
        else:
            tables.update("wallets", row, {"owed": row["owed"] + cents(delta)})


class FakeWallets:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def _hold(self, job_id: str, partner: str, kind: HoldKind, scope: str, window: str, amount: int) -> None:
        row = self._t.find("money_holds", job_id, partner, kind.value, scope, window)
        if row is None:
            self._t.insert(
                "money_holds",
                {"job_id": job_id, "partner": partner, "kind": kind.value, "scope": scope, "window": window,
                 "amount": amount},
            )  # fmt: skip
        else:
            self._t.update("money_holds", row, {"amount": row["amount"] + amount})

    def _wallet(self, partner: str) -> Any:
        row = self._t.find("wallets", partner)
        if row is None:
            row = self._t.insert("wallets", {"partner": partner, "owed": 0, "held": 0})
        return row

    def reserve_budget(
        self, job_id: str, partner: str, scope: str, window: str, amount: Decimal, limit: Decimal
    ) -> tuple[bool, Decimal]:
        row = self._t.find("budget_counters", partner, scope, window)
        if row is None:
            row = self._t.insert(
                "budget_counters", {"partner": partner, "scope": scope, "window": window, "spent": 0}
            )
        if row["spent"] + cents(amount) <= cents(limit):
            self._t.update("budget_counters", row, {"spent": row["spent"] + cents(amount)})
            self._hold(job_id, partner, HoldKind.BUDGET, scope, window, cents(amount))
            return True, ZERO
        return False, of_cents(row["spent"])

    def reserve_funds(
        self, job_id: str, partner: str, amount: Decimal, credit_limit: Decimal
    ) -> Funds | None:
        row = self._wallet(partner)
        if row["held"] + cents(amount) + row["owed"] <= cents(credit_limit):
            self._t.update("wallets", row, {"held": row["held"] + cents(amount)})
            self._hold(job_id, partner, HoldKind.WALLET, "", "", cents(amount))
            return None
        return Funds(of_cents(row["owed"]), of_cents(row["held"]), credit_limit)

    def _give_back(self, hold: Any) -> None:
        if hold["kind"] == HoldKind.WALLET.value:
            row = self._t.find("wallets", hold["partner"])
            if row is not None:
                self._t.update("wallets", row, {"held": row["held"] - hold["amount"]})
        else:
            row = self._t.find("budget_counters", hold["partner"], hold["scope"], hold["window"])
            if row is not None:
                self._t.update("budget_counters", row, {"spent": row["spent"] - hold["amount"]})
        self._t.delete("money_holds", hold)

    def release_holds(self, job_id: str, partner: str) -> None:
        for hold in self._holds(job_id, partner):
            self._give_back(hold)

    def _holds(self, job_id: str, partner: str) -> list[Any]:
        return self._t.where("money_holds", lambda r: r["job_id"] == job_id and r["partner"] == partner)

    def settle_holds(self, sales: Sequence[tuple[str, str, Decimal]]) -> None:
        for job_id, partner, price in sorted(sales):
            for hold in self._holds(job_id, partner):
                if hold["kind"] == HoldKind.WALLET.value:
                    self._give_back(hold)
                    continue
                moved = cents(price) - hold["amount"]
                if moved:
                    row = self._t.find("budget_counters", partner, hold["scope"], hold["window"])
                    if row is not None:
                        self._t.update("budget_counters", row, {"spent": row["spent"] + moved})
                    self._t.update("money_holds", hold, {"amount": cents(price)})

    def configure_wallets(self, wallets: Mapping[str, WalletSpec | None]) -> None:
        for partner, spec in sorted(wallets.items()):
            limit = cents(spec.credit_limit) if spec is not None else None
            low = cents(spec.low_balance) if spec is not None and spec.low_balance is not None else None
            row = self._wallet(partner)
            self._t.update("wallets", row, {"credit_limit": limit, "low_balance": low})

    def funds(self, partner: str) -> Funds | None:
        row = self._t.find("wallets", partner)
        if row is None:
            return None
        return Funds(of_cents(row["owed"]), of_cents(row["held"]), of_cents(row["credit_limit"] or 0))

    def wallet_balances(self) -> dict[str, WalletBalance]:
        return {
            r["partner"]: WalletBalance(
                -of_cents(r["owed"]),
                of_cents(r["credit_limit"]),
                of_cents(r["low_balance"]) if r["low_balance"] is not None else None,
            )
            for r in sorted(self._t.stored("wallets"), key=lambda r: r["partner"])
            if r["credit_limit"] is not None
        }

    def balances(self) -> dict[str, Funds]:
        return {
            r["partner"]: Funds(of_cents(r["owed"]), of_cents(r["held"]), of_cents(r["credit_limit"] or 0))
            for r in sorted(self._t.stored("wallets"), key=lambda r: r["partner"])
        }

    def budget_spent(self, partner: str) -> dict[tuple[str, str], Decimal]:
        rows = self._t.where("budget_counters", lambda r: r["partner"] == partner)
        return {(r["scope"], r["window"]): of_cents(r["spent"]) for r in rows}
