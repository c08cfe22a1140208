"""The budgets' and wallets' repository (``leadrelay.domain.budgets``): money held by routed leads, taken
with conditional UPDATEs (exact under concurrency, like cap slots), given back when a delivery fails and
settled at its sale.

A partner's ``owed`` is moved by the ledger itself (``Ledger.post``), in the transaction of every entry:
nothing here posts money, and nothing posts a partner's entry without moving its balance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from leadrelay.domain.budgets import Funds, WalletBalance
from leadrelay.domain.model import WalletSpec


class Wallets(Protocol):
    def reserve_budget(
        self, job_id: str, partner: str, scope: str, window: str, amount: Decimal, limit: Decimal
    ) -> tuple[bool, Decimal]:
        """Hold ``amount`` in a budget window if it stays within ``limit``: ``(True, 0)`` when held (for
        the job's delivery to the partner), ``(False, what the window has spent)`` when it would not."""
        ...

    def reserve_funds(
        self, job_id: str, partner: str, amount: Decimal, credit_limit: Decimal
    ) -> Funds | None:
        """Hold ``amount`` of the partner's wallet if ``owed + held + amount <= credit_limit``: None when
        held, else the wallet's numbers as they stood (nothing held)."""
        ...

    def release_holds(self, job_id: str, partner: str) -> None:
        """Give back everything the job's delivery to the partner holds (a failed or cancelled delivery;
        nothing when nothing is held)."""
        ...

    def settle_holds(self, sales: Sequence[tuple[str, str, Decimal]]) -> None:
        """At the sale of (job id, partner, final price): the wallet's hold goes (the sale's entry moves
        what is owed); each budget hold becomes the final price, and its window moves by the difference."""
        ...

    def configure_wallets(self, wallets: Mapping[str, WalletSpec | None]) -> None:
        """Record the partners' wallet settings as configured (None: no wallet)."""
        ...

    def funds(self, partner: str) -> Funds | None:
        """The partner's stored numbers (its credit limit 0 when it has no wallet); None: no row yet
        (no entry posted, nothing held, never configured)."""
        ...

    def wallet_balances(self) -> dict[str, WalletBalance]:
        """Every partner with a wallet configured: its balance, credit limit and low-balance threshold."""
        ...

    def balances(self) -> dict[str, Funds]:
        """Every partner's kept numbers (what it owes, what its routed leads hold), one row each: the
        ledger's partner balances without summing the ledger."""
        ...

    def budget_spent(self, partner: str) -> dict[tuple[str, str], Decimal]:
        """What the partner's budget windows have spent: (scope, window) → amount."""
        ...
