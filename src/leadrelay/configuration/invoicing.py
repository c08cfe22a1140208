"""The invoicing part of the configuration language (issue 11, point 6): how often a party is invoiced.

```yaml
partners:
  sunco:
    timezone: America/Los_Angeles
    invoicing: {period: weekly, week_starts: monday}   # or {period: monthly} (the default)
sources:
  web:
    invoicing: {period: monthly, timezone: Europe/Paris}  # a source's clock (UTC by default)
```

A partner's periods are on its own clock (``timezone``); a source has no clock of its own, so its
``invoicing`` may name one. ``week_starts`` matters for weekly periods only. Without ``invoicing``: monthly,
weeks from Monday.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator

from leadrelay.configuration.values import Strict, TimeZone, choice
from leadrelay.domain.invoices import Invoicing, PeriodKind, Weekday

__all__ = ["InvoicingConfig", "SourceInvoicingConfig"]

PERIODS = tuple(p.value for p in PeriodKind)
WEEKDAYS = tuple(d.value for d in Weekday)


class InvoicingConfig(Strict):
    period: Annotated[str, BeforeValidator(choice("invoicing period", PERIODS))] = "monthly"
    week_starts: Annotated[str, BeforeValidator(choice("weekday", WEEKDAYS))] = "monday"

    def to_spec(self) -> Invoicing:
        """A partner's: on its own ``timezone`` (``timezone=None``)."""
        return Invoicing(PeriodKind(self.period), Weekday(self.week_starts))


class SourceInvoicingConfig(InvoicingConfig):
    timezone: TimeZone = "UTC"

    def to_spec(self) -> Invoicing:
        return Invoicing(PeriodKind(self.period), Weekday(self.week_starts), self.timezone)
