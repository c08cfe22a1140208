"""The money parts of the configuration language (issue 11): how a source is paid.

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

from pydantic import BeforeValidator, model_validator

from leadrelay.configuration.breaker import Rate, parse_rate
from leadrelay.configuration.values import Money, Strict, choice, problem
from leadrelay.domain.ledger import PayoutBasis, PayoutModel, money

__all__ = ["PayoutConfig"]

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
        share = Decimal(str(parse_rate(self.share))) if self.share is not None else None
        return PayoutModel(
            fixed=money(self.fixed) if self.fixed is not None else None,
            share=share,
            margin=money(self.margin) if self.margin is not None else None,
            on=PayoutBasis(self.on),
        )


def payout_of(value: Any) -> PayoutModel | None:
    return value.to_spec() if isinstance(value, PayoutConfig) else None
