"""``services.reports.ReportCache``: what a process keeps of the reports between requests. The rollup's
sums are read once per range, buckets and watermark (a new watermark reads again); an hour's facts are read
once when the hour has settled, every time while it is open; both are bounded; and a report through the
cache gives what the same report gives without it. Against a counting repository in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from leadrelay.domain.reports import HOUR, LEAD_COUNTERS, Grain, Row
from leadrelay.services.reports import ReportCache, ReportQuery, _Kept, reports_tx

NOW = datetime(2026, 12, 3, 15, 20, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
CURRENT = datetime(2026, 12, 3, 15, tzinfo=UTC)


@dataclass
class CountingFacts:
    """A rollup up to ``watermark`` and one row of facts per hour after it, counting what is asked."""

    watermark: datetime | None
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def rolled_until(self) -> datetime | None:
        return self.watermark

    def first_hour(self, since: datetime | None = None) -> datetime | None:
        return since

    def facts(
        self, hour: datetime, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[Row]:
        """A lead a minute, and a partner's sale every other minute: parts of an hour add up to it."""
        low, high = max(hour, since or hour), min(hour + HOUR, until or hour + HOUR)
        self.calls.append(("facts", hour if (low, high) == (hour, hour + HOUR) else (low, high)))
        minutes = range(low.minute, 60 if high == hour + HOUR else high.minute)
        return [
            Row(hour, ("web", "loan", "", ""), {"received": len(minutes)}),
            Row(hour, ("web", "loan", "sunco", "main"), {"sold": sum(1 for m in minutes if m % 2 == 0)}),
        ]

    def rolled(
        self, since: datetime, until: datetime, dims: Any, *, cuts: Any = (), counters: Any = ()
    ) -> list[Row]:
        self.calls.append(("rolled", (since, until, tuple(dims))))
        out, at = [], since
        while at < until:
            out.append(Row(at, tuple("web" for _ in dims), {"received": 100}))
            at += HOUR
        return out


@dataclass
class FakeTx:
    reports: CountingFacts


def _query(hours: int, dims: tuple[str, ...] = ()) -> ReportQuery:
    until = CURRENT + HOUR
    return ReportQuery(dims, Grain.HOUR, until - hours * HOUR, until, UTC, LEAD_COUNTERS)


def _received(tx: FakeTx, query: ReportQuery, now: datetime, cache: ReportCache | None) -> list[int]:
    (report,) = reports_tx(tx, [query], now, cache)  # type: ignore[arg-type]
    return [line.get("received") for line in report.lines]


def test_the_rolled_sums_are_read_once_per_watermark_and_the_open_hours_every_time() -> None:
    tx = FakeTx(CountingFacts(watermark=CURRENT - HOUR))  # the hour before the current one is not rolled
    cache = ReportCache()
    query = _query(24)
    first = _received(tx, query, NOW, cache)
    assert first == _received(FakeTx(CountingFacts(CURRENT - HOUR)), query, NOW, None)  # as without it
    assert first == [100] * 22 + [60, 60]
    assert [c[0] for c in tx.reports.calls].count("rolled") == 1
    tx.reports.calls.clear()
    assert _received(tx, query, NOW, cache) == first
    # at 15:20 the 14:00 hour and 15:00 to 15:15 have settled (kept): only the rest is read again
    assert tx.reports.calls == [("facts", (CURRENT + 15 * MINUTE, CURRENT + HOUR))]
    # the rollup moved: its sums are read again, up to the new watermark
    tx.reports.watermark = CURRENT
    tx.reports.calls.clear()
    assert _received(tx, query, NOW, cache) == [100] * 23 + [60]
    assert tx.reports.calls == [
        ("facts", (CURRENT + 15 * MINUTE, CURRENT + HOUR)),
        ("rolled", (query.since, CURRENT, ())),
    ]


def _sums(rows: list[Row]) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in rows:
        for name, value in row.values.items():
            out[name] = out.get(name, 0) + value
    return out


def test_the_settled_part_of_an_hour_grows_a_step_at_a_time() -> None:
    """At each minute, what the cache gives is the whole hour's facts; what it reads is what had not
    settled the time before (a step, ``SETTLE`` ago) and what has not settled now."""
    tx = FakeTx(CountingFacts(watermark=None))
    cache = ReportCache()
    hour = CURRENT - HOUR  # 14:00
    walk = [
        # (now, the calls for 14:00 at that time)
        (CURRENT + 4 * MINUTE, [(hour, hour + 55 * MINUTE), (hour + 55 * MINUTE, CURRENT)]),
        (CURRENT + 4 * MINUTE, [(hour + 55 * MINUTE, CURRENT)]),  # 14:55 on: not settled at 15:04
        (CURRENT + 5 * MINUTE, [hour]),  # settled now: read whole once, as the rollup reads it
        (CURRENT + 7 * MINUTE, []),  # the whole hour kept
    ]
    for now, calls in walk:
        tx.reports.calls.clear()
        assert _sums(cache.facts(tx, hour, now)) == {"received": 60, "sold": 30}  # type: ignore[arg-type]
        assert [c[1] for c in tx.reports.calls] == calls, now
    # the current hour: nothing of it settled before 15:10 (read whole), then a step each five minutes
    walk = [
        (CURRENT + 9 * MINUTE, [CURRENT]),
        (CURRENT + 11 * MINUTE, [(CURRENT, CURRENT + 5 * MINUTE), (CURRENT + 5 * MINUTE, CURRENT + HOUR)]),
        (CURRENT + 14 * MINUTE, [(CURRENT + 5 * MINUTE, CURRENT + HOUR)]),
        (
            CURRENT + 16 * MINUTE,
            [(CURRENT + 5 * MINUTE, CURRENT + 10 * MINUTE), (CURRENT + 10 * MINUTE, CURRENT + HOUR)],
        ),
    ]
    for now, calls in walk:
        tx.reports.calls.clear()
        assert _sums(cache.facts(tx, CURRENT, now)) == {"received": 60, "sold": 30}  # type: ignore[arg-type]
        assert [c[1] for c in tx.reports.calls] == calls, now
    # the steps were summed into one row per group, not kept side by side
    assert len(cache.facts(tx, CURRENT, CURRENT + 16 * MINUTE)) == 4  # type: ignore[arg-type]
    # nobody looked for a while: what settled since the part kept is read at once
    tx.reports.calls.clear()
    cache.facts(tx, CURRENT, CURRENT + 41 * MINUTE)  # type: ignore[arg-type]
    assert [c[1] for c in tx.reports.calls] == [
        (CURRENT + 10 * MINUTE, CURRENT + 35 * MINUTE),
        (CURRENT + 35 * MINUTE, CURRENT + HOUR),
    ]


def test_what_is_kept_is_bounded_by_rows_and_the_least_used_goes_first() -> None:
    tx = FakeTx(CountingFacts(watermark=None))
    cache = ReportCache(hours_rows=9)  # two rows an hour, and one for the entry: three hours
    hours = [CURRENT - (10 - i) * HOUR for i in range(5)]
    for hour in hours:
        cache.facts(tx, hour, NOW)  # type: ignore[arg-type]
    tx.reports.calls.clear()
    for hour in hours[2:]:
        cache.facts(tx, hour, NOW)  # type: ignore[arg-type]
    assert tx.reports.calls == []  # the newest three are kept
    cache.facts(tx, hours[0], NOW)  # type: ignore[arg-type]
    assert tx.reports.calls == [("facts", hours[0])]
    # sums of 22, 46 and 70 rows (24, 48, 72 hours up to the watermark; each costs one more) under a
    # budget of 120 rows
    tx.reports.watermark = CURRENT - HOUR
    cache = ReportCache(sums_rows=120)
    tx.reports.calls.clear()

    def ask(n: int) -> None:
        cache.rolled(tx, _query(n), CURRENT - HOUR, [], CURRENT - HOUR)  # type: ignore[arg-type]

    for n in (24, 48, 24, 72, 48, 24):
        ask(n)
    # 24 was used again before 72 came: 48, the least recently used, went; then 48 back pushed out 24,
    # and 24 back pushed out 72
    assert [c[1][0] for c in tx.reports.calls] == [_query(n).since for n in (24, 48, 72, 48, 24)]
    # a sum longer than the whole budget is not kept
    small = ReportCache(sums_rows=10)
    tx.reports.calls.clear()
    for _ in range(2):
        small.rolled(tx, _query(24), CURRENT - HOUR, [], CURRENT - HOUR)  # type: ignore[arg-type]
    assert len(tx.reports.calls) == 2


def test_a_report_cannot_change_what_is_kept() -> None:
    tx = FakeTx(CountingFacts(watermark=CURRENT))
    cache = ReportCache()
    query = _query(4)
    rows = cache.rolled(tx, query, CURRENT, [], CURRENT)  # type: ignore[arg-type]
    rows.append(Row(CURRENT, (), {"received": 1}))
    assert len(cache.rolled(tx, query, CURRENT, [], CURRENT)) == 3  # type: ignore[arg-type]
    hour = CURRENT - 2 * HOUR  # settled: kept whole
    facts = cache.facts(tx, hour, NOW)  # type: ignore[arg-type]
    facts.append(Row(hour, (), {"received": 1}))
    assert len(cache.facts(tx, hour, NOW)) == 2  # type: ignore[arg-type]


def test_a_fact_written_late_into_a_kept_step_is_counted_once_the_hour_has_settled() -> None:
    """A lead stamped 15:02 but committed at 15:12 (after its step was kept, well before the rollup's
    16:05): the hour the cache keeps when it has settled is the one the rollup stores."""

    @dataclass
    class Stamps(CountingFacts):
        stamps: list[datetime] = field(default_factory=list)

        def facts(
            self, hour: datetime, *, since: datetime | None = None, until: datetime | None = None
        ) -> list[Row]:
            low, high = max(hour, since or hour), min(hour + HOUR, until or hour + HOUR)
            n = sum(1 for t in self.stamps if low <= t < high)
            return [Row(hour, ("web", "loan", "", ""), {"received": n})] if n else []

    tx = FakeTx(Stamps(watermark=None, stamps=[CURRENT + MINUTE]))
    cache = ReportCache()
    for minute in range(10, 70):
        if minute == 12:
            tx.reports.stamps.append(CURRENT + 2 * MINUTE)
        cache.facts(tx, CURRENT, CURRENT + minute * MINUTE)  # type: ignore[arg-type]
    got = cache.facts(tx, CURRENT, CURRENT + 70 * MINUTE)  # type: ignore[arg-type]
    assert _sums(got) == _sums(tx.reports.facts(CURRENT)) == {"received": 2}


def test_empty_answers_count_against_the_budget_too() -> None:
    """A quiet hour or an empty range is an answer worth keeping, but not for free: otherwise an API client
    varying its range could grow the cache without end."""
    kept = _Kept(rows=10)
    for n in range(1000):
        kept.put(("range", n), [], 0)
    assert sum(kept.get(("range", n)) is not None for n in range(1000)) == 10
    assert kept.get(("range", 999)) == [] and kept.get(("range", 989)) is None
