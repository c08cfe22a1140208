"""Wallets as the operator sees them: a partner's balance, what routed leads hold of it, what may still be
spent, and top-ups (``TOPUP`` entries posted through ``services.ledger.post_manual``: the ledger moves
the wallet's balance in the same transaction). See ``domain.budgets``.

The API (``/v1/wallets``, ``/v1/partners/{name}/wallet``) and the CLI (``leadrelay wallets``) call these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from leadrelay.domain.budgets import Funds
from leadrelay.domain.ledger import ZERO, Entry, EntryKind, Party
from leadrelay.domain.model import WalletSpec
from leadrelay.errors import NotFound
from leadrelay.services.config_in_force import LiveConfig
from leadrelay.services.ledger import post_manual
from leadrelay.services.ports import IdSource, Tx


@dataclass(frozen=True, slots=True)
class WalletView:
    partner: str
    balance: Decimal  # the money in the wallet (-owed); below zero while it spends on credit
    held: Decimal  # the expected prices of leads routed to it, not sold yet
    available: Decimal  # what may still be routed to it: balance - held + credit_limit
    credit_limit: Decimal
    low_balance: Decimal | None

    @property
    def low(self) -> bool:
        return self.low_balance is not None and self.balance < self.low_balance

    def as_dict(self) -> dict[str, Any]:
        return {
            "partner": self.partner,
            "balance": str(self.balance),
            "held": str(self.held),
            "available": str(self.available),
            "credit_limit": str(self.credit_limit),
            "low_balance": str(self.low_balance) if self.low_balance is not None else None,
            "low": self.low,
        }


def _view(partner: str, spec: WalletSpec, funds: Funds | None) -> WalletView:
    owed, held = (funds.owed, funds.held) if funds is not None else (ZERO, ZERO)
    f = Funds(owed, held, spec.credit_limit)
    return WalletView(partner, -owed, held, f.available, spec.credit_limit, spec.low_balance)


def _spec(live: LiveConfig, partner: str) -> WalletSpec:
    spec = live.specs.partners.get(partner)
    if spec is None:
        raise NotFound(f"no partner named {partner!r}")
    if spec.wallet is None:
        raise NotFound(f"partner {partner!r} has no wallet (configure partners.{partner}.wallet)")
    return spec.wallet


def show_wallet(tx: Tx, live: LiveConfig, partner: str) -> WalletView:
    """One partner's wallet; ``NotFound`` for an unknown partner or one without a wallet."""
    return _view(partner, _spec(live, partner), tx.wallets.funds(partner))


def list_wallets(tx: Tx, live: LiveConfig) -> list[WalletView]:
    """Every partner with a wallet, in name order."""
    return [
        _view(name, spec.wallet, tx.wallets.funds(name))
        for name, spec in sorted(live.specs.partners.items())
        if spec.wallet is not None
    ]


def top_up(
    tx: Tx,
    live: LiveConfig,
    partner: str,
    amount: Decimal,
    *,
    actor: str,
    now: datetime,
    ids: IdSource,
    memo: str | None = None,
) -> tuple[Entry, WalletView]:
    """Pay ``amount`` (more than zero) into the partner's wallet: a ``TOPUP`` entry, audited; the wallet
    as it is after it."""
    _spec(live, partner)
    entry = post_manual(
        tx, live, kind=EntryKind.TOPUP, party_kind=Party.PARTNER, party=partner, amount=amount, actor=actor,
        now=now, ids=ids, memo=memo,
    )  # fmt: skip
    tx.config.audit(
        actor=actor,
        action="wallet.topup",
        object_kind="partners",
        object_id=partner,
        at=now,
        detail={"amount": str(-entry.amount), "entry": entry.id, "memo": memo},
    )
    return entry, show_wallet(tx, live, partner)
