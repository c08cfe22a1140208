"""Returns (issue 11, point 4): whether a partner may return a lead it bought, and how the return starts.

A partner with a ``returns:`` policy may return a delivered lead of its own, for one of its reasons,
within its window after delivery, while its return rate stays at or under ``max_rate``. A reason listed in
``auto_approve`` is approved at once; any other waits for an operator (``ReturnStatus.REQUESTED``).

The rate is the returned share of the leads the partner bought in one period (``rate_period``: day, week
or month, on the partner's clock): the period that holds the returned lead's delivery. Its figures are the
returns not denied of leads delivered in that period (this one included) over the leads delivered to the
partner in that period. A return that would take the rate over ``max_rate`` is refused; at it, allowed.

Outcomes are values (:class:`Accepted`, :class:`Refused`); the service turns a refusal into an error.
Pure: standard library only; the time is an argument.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from leadrelay.domain.after_sale_states import ReturnStatus

__all__ = [
    "Accepted",
    "RateFigures",
    "RatePeriod",
    "Refused",
    "ReturnPolicy",
    "decide_return",
    "percent",
    "period_bounds",
]


class RatePeriod(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class ReturnPolicy:
    """A partner's ``returns:``. ``max_rate``: a fraction (0.15), None for no limit."""

    window_s: float
    reasons: tuple[str, ...]
    max_rate: Decimal | None = None
    rate_period: RatePeriod = RatePeriod.MONTH
    auto_approve: frozenset[str] = frozenset()
    redistribute: bool = False  # an approved return sends the lead on to another partner

    @property
    def window(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.window_s)


@dataclass(frozen=True, slots=True)
class RateFigures:
    """The figures of the returned lead's rate period: ``returned`` counts the returns not denied of
    leads delivered in it (without this one), ``sold`` the leads delivered to the partner in it."""

    returned: int
    sold: int
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True, slots=True)
class Accepted:
    """The return is taken: ``status`` REQUESTED (to be reviewed) or APPROVED (``auto``: by its reason)."""

    status: ReturnStatus
    auto: bool


@dataclass(frozen=True, slots=True)
class Refused:
    """The return is refused: ``why`` is ``policy`` (none), ``reason``, ``window`` or ``rate``;
    ``detail`` says it with the figures."""

    why: str
    detail: str


def percent(rate: Decimal) -> str:
    """``Decimal("0.15")`` → ``"15%"``; ``Decimal("1")/3`` → ``"33.3%"``."""
    value = (rate * 100).quantize(Decimal("0.1")).normalize()
    return f"{value:f}%"


def period_bounds(period: RatePeriod, tz: dt.tzinfo, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The UTC start (inclusive) and end (exclusive) of the ``period`` holding ``at`` on the clock of
    ``tz`` (a week starts on Monday)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be a timezone-aware datetime")
    day = at.astimezone(tz).date()
    if period is RatePeriod.DAY:
        first, following = day, day + dt.timedelta(days=1)
    elif period is RatePeriod.WEEK:
        first = day - dt.timedelta(days=day.weekday())
        following = first + dt.timedelta(days=7)
    else:
        first = day.replace(day=1)
        following = (first + dt.timedelta(days=32)).replace(day=1)

    def midnight(d: dt.date) -> dt.datetime:
        return dt.datetime.combine(d, dt.time(0), tzinfo=tz).astimezone(dt.UTC)

    return midnight(first), midnight(following)


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _human(seconds: float) -> str:
    whole = int(seconds)
    for size, unit in ((86_400, "day"), (3600, "hour"), (60, "minute")):
        if whole and whole % size == 0:
            n = whole // size
            return f"{n} {unit}" + ("s" if n != 1 else "")
    return f"{seconds:g} seconds"


def decide_return(
    policy: ReturnPolicy | None,
    *,
    partner: str,
    reason: str,
    delivered_at: dt.datetime,
    now: dt.datetime,
    figures: RateFigures | None,
) -> Accepted | Refused:
    """Whether ``partner`` may return a lead delivered at ``delivered_at``, for ``reason``, at ``now``;
    ``figures`` are needed when the policy has a ``max_rate``. Checked in order: the reason, the window
    (up to and including its last instant), the rate (at ``max_rate`` allowed, over it refused)."""
    if policy is None:
        return Refused("policy", f"partner {partner} does not take returns (it has no returns: policy)")
    if reason not in policy.reasons:
        return Refused(
            "reason", f"unknown return reason {reason!r} for {partner}; one of: {', '.join(policy.reasons)}"
        )
    ends = delivered_at + policy.window
    if now > ends:
        return Refused(
            "window",
            f"the return window of {partner} ({_human(policy.window_s)} after delivery) ended at "
            f"{_stamp(ends)}; the lead was delivered at {_stamp(delivered_at)}",
        )
    if policy.max_rate is not None:
        if figures is None:
            raise ValueError("a policy with max_rate needs the rate figures")
        returned = figures.returned + 1
        if figures.sold <= 0 or returned > policy.max_rate * figures.sold:
            rate = Decimal(returned) / figures.sold if figures.sold > 0 else Decimal(1)
            return Refused(
                "rate",
                f"over the return rate of {partner}: {returned} returns of {figures.sold} leads sold "
                f"({percent(rate)}) in the {policy.rate_period.value} from {_stamp(figures.start)} to "
                f"{_stamp(figures.end)}, above its max_rate of {percent(policy.max_rate)}",
            )
    auto = reason in policy.auto_approve
    return Accepted(ReturnStatus.APPROVED if auto else ReturnStatus.REQUESTED, auto)
