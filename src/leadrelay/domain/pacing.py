"""Pacing and load: how full a partner is, in pure functions of its caps, hours and the injected ``now``.

``pacing: even`` spreads a partner's day cap over its delivery hours of the day. At a given minute the
partner may have received ``ceil(day cap × open minutes elapsed / open minutes of the day)`` leads (the
current minute counts as elapsed; minutes are real ones, so a day of 23 or 25 hours is paced as evenly):
a buyer taking 100 a day, open 08:00-18:00, may have 1 lead at 08:00, 10 by 08:59, 50 by 12:59 and 100
only in the last minutes. A quiet morning is made up later in the day
(the allowance is cumulative). With no delivery hours the day is open for its 24 hours. The allowance
is used as the day window's limit when the slot is reserved, so it is as exact under concurrency as the
cap itself.

``least_loaded`` offers a lead to the eligible partner with the fewest leads in its current window,
relative to its cap: the window is the partner's tightest cap (the shortest period it caps: hour, then
day, week, month, total) and the load is ``used / limit``. A partner with no cap has no limit to be
relative to: its load counts as 0 and, between such partners, the fewer leads it got in the current
local day comes first (that day count is kept for uncapped partners that a ``least_loaded`` rule
names). Ties go by the target's list order (its priority order).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cmp_to_key
from zoneinfo import ZoneInfo

from leadrelay.domain.caps import PERIOD_ORDER, window_key
from leadrelay.domain.model import CapPeriod, Hours, Pacing

__all__ = [
    "LOAD_SCOPE",
    "Load",
    "Pacing",
    "even_allowance",
    "least_loaded_order",
    "load_window",
    "open_minutes",
]

LOAD_SCOPE = "@load"
"""The counter scope of an uncapped partner's day count (not a valid profile name, so never a profile's)."""
_DAY_MINUTES = 24 * 60
_ALWAYS = ((0, _DAY_MINUTES),)
_MINUTE = dt.timedelta(minutes=1)
_LONGEST_GAP_MINUTES = 24 * 60 + 1


def open_minutes(hours: Hours | None, tz: ZoneInfo, now: dt.datetime) -> tuple[int, int]:
    """(open minutes of the partner's local day elapsed up to and including ``now``'s minute, open minutes
    of the whole day), counted in real minutes: on the day the clock springs forward the skipped hour is
    neither open nor elapsed (no burst when the clock jumps), and the day it falls back counts the repeated
    hour twice. ``now``: an aware datetime."""
    local = now.astimezone(tz)
    day = local.date()
    windows = hours.windows[local.weekday()] if hours is not None else _ALWAYS
    until = now.astimezone(dt.UTC).replace(second=0, microsecond=0) + _MINUTE  # this minute counts
    elapsed = total = 0
    for start, end in windows:
        opens, closes = _instant(day, start, tz), _instant(day, end, tz)
        total += _minutes(closes - opens)
        elapsed += _minutes(min(closes, until) - opens) if until > opens else 0
    return elapsed, total


def _instant(day: dt.date, minute: int, tz: ZoneInfo) -> dt.datetime:
    """The real (UTC) instant of the local wall-clock ``minute`` of ``day`` (1440: the next midnight); a
    wall time the clock skipped (02:30 the day it springs forward) is the instant the clock jumped, the
    first wall time after it that exists, as the delivery hours check (a wall clock) sees it."""
    wall = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)
    for _ in range(_LONGEST_GAP_MINUTES):  # bounded: a zone's clock never skips more than a day
        instant = wall.replace(tzinfo=tz).astimezone(dt.UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == wall:  # a wall time that exists
            return instant
        wall += _MINUTE
    return wall.replace(tzinfo=tz).astimezone(dt.UTC)


def _minutes(span: dt.timedelta) -> int:
    return max(0, int(span.total_seconds()) // 60)


def even_allowance(day_cap: int, hours: Hours | None, tz: ZoneInfo, now: dt.datetime) -> int:
    """How many leads a partner paced ``even`` may have received so far in its local day (at most the cap).

    A day with no open minute is not paced (the hours check keeps the partner out anyway)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    elapsed, total = open_minutes(hours, tz, now)
    if total <= 0 or day_cap <= 0:
        return max(day_cap, 0)
    return min(day_cap, -(-day_cap * elapsed // total))


@dataclass(frozen=True, slots=True)
class Load:
    """A partner's usage in its load window; ``limit`` None for a partner with no cap."""

    used: int
    limit: int | None
    period: CapPeriod

    def text(self) -> str:
        if self.limit is None:
            return f"{self.used} today (no cap)"
        return f"{self.used}/{self.limit} {self.period.value}"


def load_window(
    caps: Mapping[CapPeriod, int], tz: ZoneInfo, now: dt.datetime
) -> tuple[str, str, int | None, CapPeriod]:
    """The counter a partner's load is read from: (scope, window key, limit, period). The tightest cap
    (its shortest period) of the partner's own caps, else its day count (scope ``LOAD_SCOPE``)."""
    for period in PERIOD_ORDER:
        if period in caps:
            return "", window_key(period, tz, now), caps[period], period
    return LOAD_SCOPE, window_key(CapPeriod.DAY, tz, now), None, CapPeriod.DAY


def least_loaded_order(eligible: Sequence[str], loads: Mapping[str, Load]) -> list[str]:
    """The eligible partners, least loaded first: by ``used / limit`` (compared exactly: 2/3 and 4/6 tie),
    an uncapped partner's load being 0; between two uncapped partners, fewer leads today first; other
    ties keep the list order (the target's priority order)."""

    def compare(a: tuple[int, str], b: tuple[int, str]) -> int:
        la, lb = loads.get(a[1]), loads.get(b[1])
        ra = _ratio(la)
        rb = _ratio(lb)
        left, right = ra[0] * rb[1], rb[0] * ra[1]
        if left != right:
            return -1 if left < right else 1
        if _uncapped(la) and _uncapped(lb):
            ua = la.used if la is not None else 0
            ub = lb.used if lb is not None else 0
            if ua != ub:
                return -1 if ua < ub else 1
        return -1 if a[0] < b[0] else (1 if a[0] > b[0] else 0)

    ordered = sorted(enumerate(eligible), key=cmp_to_key(compare))
    return [name for _, name in ordered]


def _ratio(load: Load | None) -> tuple[int, int]:
    """The load as (numerator, denominator > 0): used/limit; 0 for an uncapped partner; full at a 0 cap."""
    if load is None or load.limit is None:
        return 0, 1
    if load.limit <= 0:
        return 1, 1
    return load.used, load.limit


def _uncapped(load: Load | None) -> bool:
    return load is None or load.limit is None
