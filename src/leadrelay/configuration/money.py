"""The money parts of the configuration language (issue 11): how a source is paid, and what a partner may
spend (budgets, wallets: see the end of the module and ``domain.budgets``).

```yaml
sources:
  web:
    payout: {share: 60%}            # or {fixed: 4.50}, or {margin: 5.00}; on: sold (default) | accepted
    payouts_by_entity:
      auto: {fixed: 2.00, on: accepted}
```

``fixed``: that amount once per lead; ``share``: a percentage (or fraction) of each sale's revenue;
``margin``: each sale's revenue less that amount (never below zero). ``on: accepted`` pays every accepted
lead, sold or not, and takes a fixed amount only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, model_validator

from leadrelay.configuration.breaker import Rate, exact_rate
from leadrelay.configuration.values import CAP_PERIODS, CapPeriodName, Money, Strict, choice, problem
from leadrelay.domain.ledger import PayoutBasis, PayoutModel, money
from leadrelay.domain.model import CapPeriod, WalletSpec

__all__ = ["Budget", "PayoutConfig", "WalletConfig", "budget_of", "wallet_of"]

BASES = tuple(b.value for b in PayoutBasis)


class PayoutConfig(Strict):
    fixed: Money | None = None
    share: Rate | None = None
    margin: Money | None = None
    on: Annotated[str, BeforeValidator(choice("payout basis", BASES))] = "sold"

    @model_validator(mode="after")
    def _one_model(self) -> PayoutConfig:
        given = [name for name in ("fixed", "share", "margin") if getattr(self, name) is not None]
        if len(given) != 1:
            raise problem("give exactly one of fixed, share or margin")
        if self.on == PayoutBasis.ACCEPTED and self.fixed is None:
            raise problem("on: accepted pays a fixed amount per lead (there is no revenue to share yet)")
        return self

    def to_spec(self) -> PayoutModel:
        share = exact_rate(self.share) if self.share is not None else None
        return PayoutModel(
            fixed=money(self.fixed) if self.fixed is not None else None,
            share=share,
            margin=money(self.margin) if self.margin is not None else None,
            on=PayoutBasis(self.on),
        )


def payout_of(value: Any) -> PayoutModel | None:
    return value.to_spec() if isinstance(value, PayoutConfig) else None


# ---------------------------------------------------------------- budgets and wallets
#
# partners:
#   sunco:
#     price: 25
#     budget: {day: 500, month: 10000}        # money per window, on the partner's clock
#     wallet: {credit_limit: 0, low_balance: 100}
# profiles:
#   roofing:
#     partner_budgets: {sunco: {day: 200}}    # money caps within the profile


def _budget_order(budget: dict[str, float]) -> dict[str, float]:
    return {p: budget[p] for p in CAP_PERIODS if p in budget}


Budget = Annotated[dict[CapPeriodName, Money], AfterValidator(_budget_order)]


class WalletConfig(Strict):
    credit_limit: Money = 0.0  # how far the partner may owe (0: prepaid only)
    low_balance: Money | None = None  # a sale taking the balance under it logs a low-balance line

    def to_spec(self) -> WalletSpec:
        return WalletSpec(
            credit_limit=money(self.credit_limit),
            low_balance=money(self.low_balance) if self.low_balance is not None else None,
        )


def budget_of(budget: dict[str, float]) -> dict[CapPeriod, Decimal]:
    return {CapPeriod(period): money(amount) for period, amount in budget.items()}


def wallet_of(partner_doc: Any) -> WalletSpec | None:
    """The wallet of a partner's stored (validated) document, None when it has none."""
    raw = partner_doc.get("wallet") if isinstance(partner_doc, dict) else None
    return WalletConfig.model_validate(raw).to_spec() if raw is not None else None
