"""Reports (issue 11 point 7): the hourly rollup kept by the workers, and a report read from it plus a live
computation of the hours after it (so a report is current). See ``leadrelay.domain.reports`` for what
each figure counts.

- :func:`roll_up` — run by every worker every ``report_rollup_seconds``: the hours that closed at least
  ``SETTLE`` ago and are not rolled up yet (at most ``max_hours`` at a time) are computed in a read
  transaction, then stored in a short write transaction that first moves the watermark by one conditional
  update; of several workers the first moves it and stores, the others find it moved and store nothing.
  No per-lead work is added to intake or delivery: the rollup reads the indexed tables afterwards.
- :func:`report` — the rolled hours of the range summed in SQL (per hour and group), plus each hour from the
  watermark on computed from the tables, summed into the grain's buckets in the report's zone.

A fact written more than ``SETTLE`` after the end of its hour (a ledger entry posted with an old ``at``)
is not in a rolled hour; the counted facts are written as they happen, well inside it.
"""

from __future__ import annotations

import csv
import io
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from leadrelay.domain.reports import (
    COUNTERS,
    DIMENSIONS,
    FIGURES,
    HOUR,
    Grain,
    Line,
    OutOfCalendar,
    Row,
    ceil_hour,
    check_zone,
    cuts,
    days_ended,
    floor_hour,
    hours,
    lines,
    project,
)
from leadrelay.errors import FieldProblem, ValidationFailed
from leadrelay.services.ports import Storage, Tx

SETTLE = timedelta(minutes=5)
"""How long after its end an hour is rolled up (what it counts has been written by then)."""

STEP = timedelta(minutes=5)
"""How often the settled part of the current hour a process keeps (``ReportCache``) grows: every ``STEP``
the facts up to ``SETTLE`` ago are read once more (a divisor of an hour, in whole minutes)."""

MAX_HOURS = 24 * 31
"""The longest range a report at the hour grain covers."""

MAX_SPAN = timedelta(days=3700)
"""The longest range of any report (ten years and some)."""

_DEFAULT_SPAN = {
    Grain.HOUR: timedelta(days=1),
    Grain.DAY: timedelta(days=30),
    Grain.MONTH: timedelta(days=365),
}


@dataclass(frozen=True, slots=True)
class _Plan:
    watermark: datetime | None
    begin: datetime
    end: datetime
    rows: list[Row]


def _plan(tx: Tx, now: datetime, settle: timedelta, max_hours: int) -> _Plan | None:
    watermark = tx.reports.rolled_until()
    begin = watermark
    if begin is None:
        first = tx.reports.first_hour()
        if first is None:
            return None
        begin = floor_hour(first)
    end = min(floor_hour(now - settle), begin + max_hours * HOUR)
    if end <= begin:
        return None
    return _Plan(watermark, begin, end, [row for hour in hours(begin, end) for row in tx.reports.facts(hour)])


def _store(tx: Tx, plan: _Plan) -> bool:
    if not tx.reports.advance(plan.watermark, plan.end):
        return False  # another worker rolled these hours first
    tx.reports.store(plan.rows)
    tx.reports.sum_days(days_ended(plan.begin, plan.end))
    return True


async def roll_up(
    storage: Storage, now: datetime, *, settle: timedelta = SETTLE, max_hours: int = 24
) -> datetime | None:
    """Rolls up the next closed hours (see the module docstring); returns the new watermark, or None when
    there was nothing to roll up or another worker did it."""
    plan = await storage.run_read(lambda tx: _plan(tx, now, settle, max_hours))
    if plan is None:
        return None
    stored = await storage.run(lambda tx: _store(tx, plan), background=True)
    return plan.end if stored else None


def roll_up_now(storage: Storage, now: datetime, *, settle: timedelta = SETTLE, max_hours: int = 24) -> int:
    """Rolls up every closed hour (synchronously: the CLI and the benchmark); returns how many batches."""
    batches = 0
    while True:
        plan = storage.read(lambda tx: _plan(tx, now, settle, max_hours))
        if plan is None:
            return batches
        if storage.transaction(lambda tx, p=plan: _store(tx, p)):  # type: ignore[misc]
            batches += 1


# ---------------------------------------------------------------- the report


@dataclass(frozen=True, slots=True)
class ReportQuery:
    dims: tuple[str, ...]
    grain: Grain
    since: datetime  # a UTC hour
    until: datetime  # a UTC hour, excluded
    zone: tzinfo
    counters: tuple[str, ...] = COUNTERS  # fewer: the rolled hours sum only these (the dashboard's reads)


def _time(value: str, zone: tzinfo) -> datetime:
    """An ISO date (midnight in the zone) or date and time (in the zone when it names no offset)."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=zone)
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError("not an ISO date or date and time") from exc
    return at.replace(tzinfo=zone) if at.tzinfo is None else at


def report_query(
    *,
    by: Sequence[str] | str | None,
    grain: str | None,
    since: str | None,
    until: str | None,
    tz: str | None,
    now: datetime,
) -> ReportQuery:
    """The report asked for, or ``ValidationFailed`` naming every bad parameter. ``by``: one or two of
    ``DIMENSIONS`` (a list or comma separated; default partner); ``grain``: hour, day (default) or month;
    ``since``/``until``: ISO dates or times (default: the last day, 30 days or year up to now), widened to
    whole hours; ``tz``: an IANA zone (default UTC) whose offset is whole hours."""
    problems: list[FieldProblem] = []
    names = [n.strip() for n in (by.split(",") if isinstance(by, str) else by or ["partner"]) if n.strip()]
    if not names or len(names) > 2 or len(set(names)) != len(names) or set(names) - set(DIMENSIONS):
        problems.append(FieldProblem("by", f"one or two of {', '.join(DIMENSIONS)}: not {','.join(names)!r}"))
    try:
        step = Grain(grain or Grain.DAY)
    except ValueError:
        problems.append(FieldProblem("grain", f"hour, day or month: not {grain!r}"))
        step = Grain.DAY
    zone: tzinfo = UTC
    if tz:
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory's name, …
            problems.append(FieldProblem("tz", f"not a known time zone: {tz!r}"))
    start = end = None
    for field, value in (("since", since), ("until", until)):
        if value:
            try:
                at = _time(value, zone)
            except ValueError as exc:
                problems.append(FieldProblem(field, f"{exc}: {value!r}"))
                continue
            start, end = (at, end) if field == "since" else (start, at)
    try:
        end = ceil_hour(end or now)
        start = floor_hour(start or end - _DEFAULT_SPAN[step])
    except OverflowError:
        problems.append(FieldProblem("until" if end else "since", "out of range"))
        start = end = floor_hour(now)
    range_given = not any(p.field in ("since", "until") for p in problems)  # else its problem is named
    if range_given and start >= end:
        problems.append(FieldProblem("since", "must be before until"))
    elif range_given and step is Grain.HOUR and end - start > MAX_HOURS * HOUR:
        problems.append(FieldProblem("until", f"at most {MAX_HOURS} hours at the hour grain"))
    elif range_given and end - start > MAX_SPAN:
        problems.append(FieldProblem("since", f"at most {MAX_SPAN.days} days before until"))
    if not any(p.field in ("tz", "since", "until") for p in problems):
        try:
            check_zone(zone, start, end)
        except ValueError as exc:  # the zone's offsets, or an end outside the calendar (OutOfCalendar)
            problems.append(FieldProblem(exc.field if isinstance(exc, OutOfCalendar) else "tz", str(exc)))
    if problems:
        raise ValidationFailed(problems, "bad report parameters: " + ", ".join(p.field for p in problems))
    return ReportQuery(tuple(names), step, start, end, zone)


@dataclass(frozen=True, slots=True)
class Report:
    query: ReportQuery
    lines: list[Line]
    rolled_until: datetime | None  # the hours before it came from the rollup, the rest from the tables

    @property
    def columns(self) -> tuple[str, ...]:
        return ("start", *self.query.dims, *FIGURES)

    def records(self) -> list[dict[str, Any]]:
        """Each line as plain values by column: money and rates as text (exact), None where undefined."""
        out = []
        for line in self.lines:
            record: dict[str, Any] = {"start": line.start.isoformat()}
            record.update(zip(self.query.dims, line.group, strict=True))
            for name, value in line.figures().items():
                record[name] = str(value) if isinstance(value, Decimal) else value
            out.append(record)
        return out

    def to_csv(self) -> str:
        """The report as CSV: a header line, then one line per line (empty cells where a figure has no
        basis)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for record in self.records():
            writer.writerow({k: "" if v is None else v for k, v in record.items()})
        return buffer.getvalue()


class _Kept:
    """Values by key, each costing its rows plus one, the least recently used dropped first once the costs
    exceed ``rows`` (a value costing more than that alone is not kept). Not locked: its owner locks."""

    def __init__(self, rows: int) -> None:
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._cost = 0
        self._limit = rows

    def get(self, key: Hashable) -> Any:
        found = self._items.get(key)
        if found is None:
            return None
        self._items.move_to_end(key)
        return found[0]

    def pop(self, key: Hashable) -> Any:
        found = self._items.pop(key, None)
        if found is None:
            return None
        self._cost -= found[1]
        return found[0]

    def put(self, key: Hashable, value: Any, rows: int) -> None:
        self.pop(key)
        cost = rows + 1  # an empty answer costs too: many of them are not free
        if cost > self._limit:
            return
        self._items[key] = (value, cost)
        self._cost += cost
        while self._cost > self._limit:
            _, (_, dropped) = self._items.popitem(last=False)
            self._cost -= dropped


class ReportCache:
    """What one process keeps of the reports between requests (the dashboard refreshes every few seconds,
    and most of what it shows is the same each time):

    - the rollup's sums for a range, its buckets, dimensions and counters, under the watermark of the time:
      the rollup only ever adds hours after its watermark, and a rolled hour never changes, so these are
      never stale;
    - the facts of the hours not rolled yet, as far as they have settled (``SETTLE`` ago, by ``STEP``s):
      an hour that has settled is read whole once, as the rollup reads it, and kept (the rows the rollup
      will store: a rollup lagging behind, or not running); of the current hour, its first minutes up to
      a multiple of ``STEP``, read a step at a time (the facts of parts of an hour add up to the hour's,
      each fact counted at one time). A fact written more than ``SETTLE`` after its time into a step
      already kept is missed until its hour has settled (then counted, as the rollup counts it): facts
      are written as they happen, well inside that.

    So what is read from the tables each time is the last ``SETTLE`` to ``SETTLE + STEP`` of facts, not
    the current hour's. Bounded by rows (``sums_rows``, ``hours_rows``), the least recently used dropped
    first; safe to share between the threads of a process."""

    def __init__(self, *, sums_rows: int = 20_000, hours_rows: int = 50_000) -> None:
        self._sums = _Kept(sums_rows)
        self._hours = _Kept(hours_rows)
        self._lock = threading.Lock()

    def rolled(
        self,
        tx: Tx,
        query: ReportQuery,
        cut: datetime,
        starts: Sequence[datetime],
        watermark: datetime | None,
    ) -> list[Row]:
        """``tx.reports.rolled`` of the query's rolled hours (up to ``cut``), kept."""
        key = (query.since, cut, query.dims, tuple(starts), query.counters, watermark)
        with self._lock:
            kept = self._sums.get(key)
        if kept is None:
            kept = tx.reports.rolled(query.since, cut, query.dims, cuts=starts, counters=query.counters)
            with self._lock:
                self._sums.put(key, kept, len(kept))
        return list(kept)

    def facts(self, tx: Tx, hour: datetime, now: datetime) -> list[Row]:
        """``tx.reports.facts(hour)``: what has settled of the hour (every ``STEP`` up to ``SETTLE`` ago)
        kept, the rest read each time."""
        settled = floor_step(now - SETTLE)
        if settled <= hour:  # nothing of it settled yet
            return tx.reports.facts(hour)
        if settled >= hour + HOUR:  # read whole once, as the rollup reads it: its part is no longer read
            with self._lock:
                kept: list[Row] | None = self._hours.get((hour, None))
                if kept is None:
                    self._hours.pop((hour, "part"))
            if kept is None:
                kept = tx.reports.facts(hour)
                with self._lock:
                    self._hours.put((hour, None), kept, len(kept))
            return list(kept)
        # one part kept per hour, (up to when, its rows): what settled since is read and added to it
        with self._lock:
            part: tuple[datetime, list[Row]] | None = self._hours.get((hour, "part"))
        if part is None or part[0] > settled:  # (a clock gone back: read again)
            rows = tx.reports.facts(hour, until=settled)
        elif part[0] < settled:
            rows = project([*part[1], *tx.reports.facts(hour, since=part[0], until=settled)], DIMENSIONS)
        else:
            rows = part[1]
        if part is None or part[0] != settled:
            with self._lock:
                self._hours.put((hour, "part"), (settled, rows), len(rows))
        return rows + tx.reports.facts(hour, since=settled)


def floor_step(at: datetime) -> datetime:
    """``at`` down to a multiple of ``STEP`` within its hour."""
    minutes = at.minute - at.minute % int(STEP.total_seconds() // 60)
    return at.replace(minute=minutes, second=0, microsecond=0)


def report_tx(tx: Tx, query: ReportQuery, now: datetime, cache: ReportCache | None = None) -> Report:
    """The report: rolled hours from ``report_hours``, the hours from the watermark on from the tables."""
    return reports_tx(tx, [query], now, cache)[0]


def reports_tx(
    tx: Tx, queries: Sequence[ReportQuery], now: datetime, cache: ReportCache | None = None
) -> list[Report]:
    """Several reports of one range (each its own dimensions, grain and zone) in one go: each reads its
    rolled hours summed in SQL, and the hours after the watermark are computed from the tables once for
    all of them (the dashboard's leads per hour, totals per partner and per source). ``cache``: what the
    process kept of earlier reports, and keeps of this one."""
    since, until = queries[0].since, queries[0].until
    if any((q.since, q.until) != (since, until) for q in queries):
        raise ValueError("the reports read together cover one range")
    watermark = tx.reports.rolled_until()
    cut = since if watermark is None else max(since, min(watermark, until))
    live_until = min(until, ceil_hour(now))
    # the hours after the watermark are computed one by one: from the first that has anything to count
    # (a long range over a rollup that has not run yet would otherwise query every empty hour)
    first = tx.reports.first_hour(cut) if cut < live_until else None
    start = max(cut, floor_hour(first)) if first is not None else live_until
    live = [
        row
        for hour in hours(start, live_until)
        for row in (tx.reports.facts(hour) if cache is None else cache.facts(tx, hour, now))
    ]
    out = []
    for query in queries:
        rows: list[Row] = []
        if cut > since:  # the rolled hours, summed in SQL per bucket of the grain
            starts = cuts(since, cut, query.grain, query.zone)
            if cache is None:
                rows = tx.reports.rolled(since, cut, query.dims, cuts=starts, counters=query.counters)
            else:
                rows = cache.rolled(tx, query, cut, starts, watermark)
        rows += project(live, query.dims)
        out.append(Report(query, lines(rows, query.grain, query.zone), watermark))
    return out


async def report(
    storage: Storage, query: ReportQuery, now: datetime, cache: ReportCache | None = None
) -> Report:
    return await storage.run_read(lambda tx: report_tx(tx, query, now, cache))
