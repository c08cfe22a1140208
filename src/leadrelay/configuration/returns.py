"""A partner's ``returns:`` in the configuration language (issue 11, point 4): whether and how it may
return the leads it bought.

```yaml
partners:
  sunco:
    returns:
      window: 7d                      # after delivery (up to and including its last instant)
      reasons: [bad_phone, duplicate, not_interested]
      max_rate: 15%                   # optional: returns over leads sold in the period, at most
      rate_period: month              # day | week | month (the partner's time zone); default month
      auto_approve: [bad_phone]       # approved at once; the other reasons wait for an operator
      redistribute: true              # an approved return sends the lead on (never back to it)
```

Without ``returns:`` the partner may not return leads. Canonical: the rate as a percentage text, the
window as a duration text.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from leadrelay.configuration.breaker import Rate, exact_rate
from leadrelay.configuration.values import Name, PositiveDuration, Strict, choice, parse_duration, unique
from leadrelay.domain.returns import RatePeriod, ReturnPolicy
from leadrelay.errors import ConfigProblem

__all__ = ["ReturnsModel", "returns_problems"]

PERIODS = tuple(p.value for p in RatePeriod)


class ReturnsModel(Strict):
    window: PositiveDuration = "7d"
    reasons: Annotated[list[Name], AfterValidator(unique), Field(min_length=1)]
    max_rate: Rate | None = None
    rate_period: Annotated[str, BeforeValidator(choice("rate period", PERIODS))] = "month"
    auto_approve: Annotated[list[Name], AfterValidator(unique)] = []
    redistribute: bool = False

    def to_spec(self) -> ReturnPolicy:
        return ReturnPolicy(
            window_s=parse_duration(self.window),
            reasons=tuple(self.reasons),
            max_rate=exact_rate(self.max_rate) if self.max_rate is not None else None,
            rate_period=RatePeriod(self.rate_period),
            auto_approve=frozenset(self.auto_approve),
            redistribute=self.redistribute,
        )


def returns_problems(model: ReturnsModel | None, path: str) -> list[ConfigProblem]:
    """What the model alone cannot see: every auto-approved reason must be one of the reasons."""
    if model is None:
        return []
    return [
        ConfigProblem(
            f"{path}.auto_approve[{i}]", f"{reason!r} is not one of its reasons ({', '.join(model.reasons)})"
        )
        for i, reason in enumerate(model.auto_approve)
        if reason not in model.reasons
    ]
