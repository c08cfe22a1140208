"""Cap windows, counted in the partner's (or, for a source's caps, the source's) time zone.

A cap counts leads per window; each window has a key that the storage layer uses to count usage
("d:2026-11-22" for a day). Keys come from the LOCAL time in the partner's zone, so a day window changes at
local midnight, not at UTC midnight, and ``zoneinfo`` takes care of daylight saving time:

* the day a clock springs forward has 23 hours and the one it falls back has 25, both in one day window;
* the hour repeated when the clock falls back is two hour windows: ``h:2026-11-01T01`` then
  ``h:2026-11-01T01b`` (the second occurrence, ``fold=1``).

``now`` is always a UTC-aware datetime supplied by the caller.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from leadrelay.domain.model import CapPeriod

__all__ = [
    "PERIOD_ORDER",
    "CapCheck",
    "SourceSlot",
    "first_reached",
    "source_counter",
    "source_slots",
    "window_end",
    "window_key",
    "window_keys",
]

PERIOD_ORDER: tuple[CapPeriod, ...] = (
    CapPeriod.HOUR,
    CapPeriod.DAY,
    CapPeriod.WEEK,
    CapPeriod.MONTH,
    CapPeriod.TOTAL,
)

_ONE_MICROSECOND = dt.timedelta(microseconds=1)


def _local(tz: ZoneInfo, now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(tz)


def window_key(period: CapPeriod, tz: ZoneInfo, now: dt.datetime) -> str:
    """The key of the ``period`` window that contains ``now`` in the zone ``tz``."""
    local = _local(tz, now)
    if period is CapPeriod.HOUR:
        return f"h:{local:%Y-%m-%dT%H}" + ("b" if local.fold else "")
    if period is CapPeriod.DAY:
        return f"d:{local:%Y-%m-%d}"
    if period is CapPeriod.WEEK:
        iso = local.isocalendar()
        return f"w:{iso.year:04d}-W{iso.week:02d}"
    if period is CapPeriod.MONTH:
        return f"m:{local:%Y-%m}"
    return "total"


def window_keys(caps: Mapping[CapPeriod, int], tz: ZoneInfo, now: dt.datetime) -> dict[CapPeriod, str]:
    """The current window key of every capped period."""
    return {period: window_key(period, tz, now) for period in caps}


@dataclass(frozen=True, slots=True)
class CapCheck:
    """One cap compared with its usage in the current window."""

    period: CapPeriod
    limit: int
    used: int

    @property
    def reached(self) -> bool:
        return self.used >= self.limit

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def text(self) -> str:
        """``cap day 50/50 reached`` (or ``cap day 12/50`` while there is room)."""
        return f"cap {self.period.value} {self.used}/{self.limit}" + (" reached" if self.reached else "")


def first_reached(caps: Mapping[CapPeriod, int], used: Mapping[CapPeriod, int]) -> CapCheck | None:
    """The first reached cap, checking hour, day, week, month, total in that order; None if there is room."""
    for period in PERIOD_ORDER:
        if period in caps:
            check = CapCheck(period, caps[period], used.get(period, 0))
            if check.reached:
                return check
    return None


def window_start(period: CapPeriod, tz: ZoneInfo, now: dt.datetime) -> dt.datetime | None:
    """The UTC instant the window containing ``now`` began; None for ``total`` (all time)."""
    local = _local(tz, now)
    if period is CapPeriod.TOTAL:
        return None
    if period is CapPeriod.HOUR:  # in elapsed time, as ``window_end`` counts it (a repeated hour too)
        into_hour = dt.timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
        return now.astimezone(dt.UTC) - into_hour
    day = local.date()
    if period is CapPeriod.WEEK:
        day -= dt.timedelta(days=day.weekday())
    elif period is CapPeriod.MONTH:
        day = day.replace(day=1)
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def window_end(period: CapPeriod, tz: ZoneInfo, now: dt.datetime) -> dt.datetime | None:
    """The UTC instant the window containing ``now`` ends (the next one starts); None for ``total``."""
    local = _local(tz, now)
    utc_now = now.astimezone(dt.UTC)
    if period is CapPeriod.TOTAL:
        return None
    if period is CapPeriod.HOUR:
        # Counted in elapsed time from the start of the local hour, so the repeated hour of a fall-back
        # ends after one real hour, not at the next wall-clock hour.
        into_hour = dt.timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
        end = utc_now - into_hour + dt.timedelta(hours=1)
    else:
        day = local.date()
        if period is CapPeriod.DAY:
            next_start = day + dt.timedelta(days=1)
        elif period is CapPeriod.WEEK:
            next_start = day + dt.timedelta(days=7 - day.weekday())
        else:
            next_start = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        # fold=0: the first occurrence of a repeated midnight; a skipped midnight maps to the instant
        # the clock jumped, which is when the new local day begins.
        midnight = dt.datetime.combine(next_start, dt.time(0), tzinfo=tz)
        end = midnight.astimezone(dt.UTC)
    return _first_change(period, tz, utc_now, end)


def _first_change(period: CapPeriod, tz: ZoneInfo, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    """``end`` if the key holds until just before it; else the first instant after ``start`` it changes.

    Only offset changes that are not whole hours (or that happen mid-hour) need the search; it bisects
    to the microsecond, about 40 steps.
    """
    key = window_key(period, tz, start)
    if window_key(period, tz, end - _ONE_MICROSECOND) == key:
        return end
    low, high = start, end - _ONE_MICROSECOND  # key(low) == key, key(high) != key
    while high - low > _ONE_MICROSECOND:
        middle = low + (high - low) / 2
        if window_key(period, tz, middle) == key:
            low = middle
        else:
            high = middle
    return high


# ---------------------------------------------------------------- a source's caps


SOURCE_PREFIX = "source:"


def source_counter(source: str) -> str:
    """The cap counters' owner of a source's caps (``source:web``: no partner name has a colon)."""
    return f"{SOURCE_PREFIX}{source}"


@dataclass(frozen=True, slots=True)
class SourceSlot:
    """One of a source's caps for a lead sent now: its window and limit, and how the refusal reads."""

    source: str
    period: CapPeriod
    window: str
    limit: int
    retry_after_s: int | None  # until the window ends; None for ``total`` (it never does)

    def refusal(self) -> str:
        if self.period is CapPeriod.TOTAL:
            return f"source {self.source} has sent its total cap of {self.limit} leads"
        return (
            f"source {self.source} has sent its {self.period.value} cap of {self.limit} leads; "
            f"the next {self.period.value} starts in {self.retry_after_s} s"
        )


def source_slots(
    source: str, caps: Mapping[CapPeriod, int], tz: ZoneInfo, now: dt.datetime
) -> tuple[SourceSlot, ...]:
    """The slots a valid lead of ``source`` takes now, one per capped period (hour first)."""
    slots = []
    for period in PERIOD_ORDER:
        if period in caps:
            end = window_end(period, tz, now)
            wait = None if end is None else max(1, math.ceil((end - now).total_seconds()))
            slots.append(SourceSlot(source, period, window_key(period, tz, now), caps[period], wait))
    return tuple(slots)
