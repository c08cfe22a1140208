"""A partner's ``breaker:`` (its circuit breaker's thresholds) and ``adaptive_ping_timeout:`` in the
configuration language, canonical and built into ``leadrelay.domain.health.BreakerPolicy``.

```yaml
breaker: {error_rate: 50%, timeout_rate: 50%, window: 5m, min_requests: 20, cool_down: 60s}  # the defaults
breaker: off                        # never skipped for its errors (canonical: {enabled: false, ...})
adaptive_ping_timeout: {margin: 50ms}   # the ping's timeout: its p99 plus 50 ms, clamped (needs ping:)
```

A rate is a percentage (``50%``) or a fraction (``0.5``), more than zero and at most 100 %; canonical: the
percentage text.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator

from leadrelay.configuration.values import (
    PositiveDuration,
    PositiveInt,
    Strict,
    parse_duration,
    problem,
)
from leadrelay.domain.health import BreakerPolicy

__all__ = ["AdaptivePingTimeoutModel", "BreakerModel", "breaker_switch", "parse_rate"]

_PERCENT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
MAX_MARGIN_S = 10.0  # no ping waits longer (configuration.channels.MAX_PING_TIMEOUT_S)


def parse_rate(value: Any) -> float:
    """A fraction from ``"50%"`` or ``0.5``; ``ValueError`` unless more than zero and at most 100 %."""
    if isinstance(value, bool):
        raise ValueError("a rate must be a percentage such as '50%' or a fraction such as 0.5")
    if isinstance(value, int | float):
        rate = float(value)
    elif isinstance(value, str) and (match := _PERCENT_RE.match(value)):
        rate = float(match[1]) / 100
    else:
        raise ValueError(f"invalid rate {value!r}: use a percentage such as '50%' or a fraction such as 0.5")
    if not math.isfinite(rate) or not 0 < rate <= 1:
        raise ValueError(f"invalid rate {value!r}: must be more than 0% and at most 100%")
    return rate


def exact_rate(value: Any) -> Decimal:
    """``parse_rate`` as the exact decimal written (``"10.1%"`` is 0.101, not the float 0.10099…): what
    money is computed and compared with."""
    parse_rate(value)  # the same checks and messages
    if isinstance(value, str) and (match := _PERCENT_RE.match(value)):
        return Decimal(match[1]) / 100
    return Decimal(str(value))


def _rate(value: Any) -> str:
    """The canonical text of a rate: the exact percentage written (``0.001%`` stays ``0.001%``: rounded
    to two decimals it would read ``0%``, which no later load accepts)."""
    try:
        percent = (exact_rate(value) * 100).normalize()
    except ValueError as exc:
        raise problem(str(exc)) from None
    return f"{percent:f}%"


Rate = Annotated[str, BeforeValidator(_rate)]


def breaker_switch(value: Any) -> Any:
    """``off`` (or false) → the breaker switched off; ``on`` (or true) → the defaults; a mapping as it is."""
    if value is False or value == "off":
        return {"enabled": False}
    if value is True or value == "on":
        return {}
    if value is None or isinstance(value, dict):
        return value
    raise problem("must be 'off', 'on' or a mapping such as {error_rate: 50%, cool_down: 60s}")


class BreakerModel(Strict):
    """The partner's circuit breaker: skipped while open, tried again half-open after ``cool_down``."""

    enabled: bool = True
    error_rate: Rate = "50%"  # errors over the window that open the breaker
    timeout_rate: Rate = "50%"  # timeouts over the window that open it
    window: PositiveDuration = "5m"  # the sliding window of the rates (and of the health shown)
    min_requests: PositiveInt = 20  # fewer requests in the window never open it
    cool_down: PositiveDuration = "1m"  # how long it stays open before a trial lead

    def to_spec(self) -> BreakerPolicy:
        return BreakerPolicy(
            enabled=self.enabled,
            error_rate=parse_rate(self.error_rate),
            timeout_rate=parse_rate(self.timeout_rate),
            window_s=parse_duration(self.window),
            min_requests=self.min_requests,
            cool_down_s=parse_duration(self.cool_down),
        )


def _margin(value: Any) -> Any:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        try:
            seconds = parse_duration(value)
        except ValueError:
            return value  # PositiveDuration says why
        if seconds > MAX_MARGIN_S:
            raise problem(f"must be at most {MAX_MARGIN_S:g}s")
    return value


class AdaptivePingTimeoutModel(Strict):
    """The ping's timeout follows the partner's answers: its p99 plus ``margin``, never more than the
    ping's own timeout or the auction's deadline (``leadrelay.domain.health.adaptive_timeout``)."""

    margin: Annotated[PositiveDuration, BeforeValidator(_margin)] = "50ms"

    def margin_ms(self) -> float:
        return parse_duration(self.margin) * 1000
