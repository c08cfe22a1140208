"""How a report's bucket is read from the rollups (``report_hours``, ``report_days``) at the least cost: pure.
See :func:`spans`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from leadrelay.domain.reports import DAY, HOUR

DAY_COST = 3
"""What reading a UTC day of the daily rollup costs, in hours of the hourly one read instead, as
:func:`spans` weighs them. A day's rows are each group of the day once, an hour's each group of the hour: in
``bench/report_bench.py``'s million leads, 600 rows a day against 529 an hour. 3 leaves room for each read's
own statement."""


@dataclass(frozen=True, slots=True)
class Span:
    """A part of a bucket's rolled figures: the hourly rollup's hours (``days`` false) or the daily rollup's
    UTC days from ``low`` up to ``high`` (excluded), added (``sign`` 1) or taken away (-1)."""

    sign: int
    days: bool
    low: datetime
    high: datetime


def spans(since: datetime, until: datetime, rolled_until: datetime) -> list[Span]:
    """How to read a bucket (the hours from ``since`` to ``until``) from the rollups at the least cost,
    counting a day as ``DAY_COST`` hours: its hours; or the UTC days from a midnight on or next to each end,
    with the hours between each end and its midnight added (inside the bucket) or taken away (outside). A
    day in New York (05:00 to 05:00 UTC) is a UTC day less its first five hours plus the next day's first
    five, 13 hours' cost instead of 24. Every hour and day read ends by ``rolled_until`` (all rolled).
    The figures are sums of integers, so what is taken away is exactly what was added: the spans add up to
    the bucket's hours, each once (a group whose figures net to zero is one with nothing to report)."""
    best = [Span(1, False, since, until)]
    cost = _hours(since, until)
    for first in (_ceil_day(since), _floor_day(since)):  # the bucket's own days first, on a tie
        for last in (_floor_day(until), _ceil_day(until)):
            if last <= first or last > rolled_until:
                continue
            here = DAY_COST * ((last - first) // DAY) + abs(_hours(since, first)) + abs(_hours(until, last))
            if here < cost:
                cost = here
                best = [Span(1, True, first, last)]
                if since != first:  # the hours between the bucket's start and its first midnight
                    best.append(Span(1 if since < first else -1, False, min(since, first), max(since, first)))
                if until != last:
                    best.append(Span(1 if last < until else -1, False, min(until, last), max(until, last)))
    return best


def _hours(since: datetime, until: datetime) -> int:
    return (until - since) // HOUR


def _floor_day(at: datetime) -> datetime:
    return at.replace(hour=0)


def _ceil_day(at: datetime) -> datetime:
    floor = at.replace(hour=0)
    return floor if floor == at else floor + DAY
