"""Reports, the pure part (``domain.reports``): rates and prices, percentiles from latency buckets, the
money left on the table, time buckets in a zone; and the use case in memory (``services.reports``): the
rollup plus the live hours agree with a report computed live, one worker of two rolls an hour."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadrelay.domain.postbacks import sign
from leadrelay.domain.report_spans import spans
from leadrelay.domain.reports import (
    FIGURES,
    LATENCY,
    LATENCY_BOUNDS_MS,
    Grain,
    Line,
    Row,
    bucket,
    bucket_of,
    check_zone,
    cuts,
    lead_counters,
    ledger_counters,
    left_on_table,
    lines,
    percentile,
    postback_counters,
    project,
)
from leadrelay.entrypoints.commands.reports import SHORT
from leadrelay.errors import ValidationFailed
from leadrelay.services import reports
from leadrelay.services.postback_links import PostbackLinks
from leadrelay.services.postbacks import Postbacks
from tests.documents import lead
from tests.fakes.keys import FakeDedupKeys
from tests.unit.in_memory import Installation, document, http, run

D = Decimal
H = datetime(2026, 3, 7, 10, tzinfo=UTC)


def line(**values: int) -> dict[str, object]:
    return Line(H, ("acme",), values).figures()


def test_rates_and_prices_from_the_counters() -> None:
    f = line(
        received=10, rejected=1, duplicates=2, offered=8, sold=4, revenue=10_000, returns=1, payout=4_000
    )
    assert f["accepted"] == 7
    assert f["acceptance_rate"] == D("0.5000")
    assert f["average_price"] == D("25.00")  # revenue / sold
    assert f["effective_price"] == D("10.00")  # revenue / received
    assert f["return_rate"] == D("0.2500")
    assert (f["revenue"], f["payout"]) == (D("100.00"), D("40.00"))


def test_no_basis_no_rate() -> None:
    f = line(revenue=500)
    assert f["acceptance_rate"] is f["average_price"] is f["effective_price"] is f["return_rate"] is None
    assert f["latency_p50_ms"] is None
    assert tuple(f) == FIGURES


def test_conversions_from_the_postbacks_counters() -> None:
    f = line(sold=3, rejected=2, contacted=2, converted=1, rejected_by_buyer=1, conversion_revenue=12_550)
    assert (f["contacted"], f["converted"], f["rejected_by_buyer"]) == (2, 1, 1)
    assert f["rejected"] == 2  # leads rejected at intake: another counter
    assert f["conversion_rate"] == D("0.3333")  # converted / sold, half up
    assert f["conversion_revenue"] == D("125.50")
    assert line(sold=3, converted=2)["conversion_rate"] == D("0.6667")
    nothing_sold = line(converted=1)  # a conversion reported in a later bucket than its sale
    assert (nothing_sold["conversion_rate"], nothing_sold["conversion_revenue"]) == (None, D("0.00"))
    names = ("contacted", "converted", "rejected_by_buyer", "conversion_rate", "conversion_revenue")
    assert FIGURES[-len(names) :] == names
    assert set(names) <= set(SHORT) <= set(FIGURES)  # the CLI's table shows them too


def test_postback_counters_count_the_outcome_and_sum_the_revenue() -> None:
    assert postback_counters("contacted", 3, 0) == {"contacted": 3}
    assert postback_counters("converted", 2, 25_000) == {"converted": 2, "conversion_revenue": 25_000}
    assert postback_counters("rejected", 1, 0) == {"rejected_by_buyer": 1}
    assert postback_counters("returned", 1, 0) == {}  # the ledger counts returns
    assert postback_counters("contacted", 1, 500) == {"contacted": 1, "conversion_revenue": 500}


def test_a_third_of_a_cent_rounds_half_up() -> None:
    assert line(revenue=100, sold=3)["average_price"] == D("0.33")
    assert line(revenue=200, sold=3)["average_price"] == D("0.67")


@pytest.mark.parametrize(
    ("ms", "bucket_index"),
    [(0, 0), (49.9, 0), (50, 1), (99, 1), (100, 2), (29_999, 12), (30_000, 13), (1e9, 13)],
)
def test_latency_buckets(ms: float, bucket_index: int) -> None:
    assert bucket_of(ms) == bucket_index
    assert len(LATENCY) == len(LATENCY_BOUNDS_MS) + 1


def buckets(**counts: int) -> list[int]:
    out = [0] * len(LATENCY)
    for name, n in counts.items():
        out[int(name[1:])] = n
    return out


@pytest.mark.parametrize(
    ("counts", "q", "expected"),
    [
        (buckets(b2=10), 0.5, 150.0),  # all in [100, 200): the middle of it
        (buckets(b2=10), 0.95, 195.0),
        (buckets(b0=50, b5=50), 0.5, 50.0),  # the 50th of 100 is the last of [0, 50)
        (buckets(b0=50, b5=50), 0.95, 500 + 250 * 45 / 50),
        (buckets(b1=1), 0.5, 75.0),
        (buckets(b13=4), 0.95, 30_000.0),  # the open bucket: its lower bound
        (buckets(), 0.5, None),
    ],
)
def test_percentiles_from_buckets(counts: list[int], q: float, expected: float | None) -> None:
    assert percentile(counts, q) == expected


def test_a_percentile_is_within_its_bucket_of_the_exact_one() -> None:
    durations = [12.0, 80.0, 95.0, 130.0, 180.0, 240.0, 260.0, 480.0, 900.0, 2500.0] * 7
    counts = [0] * len(LATENCY)
    for ms in durations:
        counts[bucket_of(ms)] += 1
    exact = sorted(durations)[int(0.5 * len(durations)) - 1]
    estimate = percentile(counts, 0.5)
    assert estimate is not None
    i = bucket_of(exact)
    assert (LATENCY_BOUNDS_MS[i - 1] if i else 0) <= estimate <= LATENCY_BOUNDS_MS[i]


@pytest.mark.parametrize(
    ("winner", "second", "gap"),
    [(30.0, 22.5, 750), (12.345, 12.34, 1), (10, 10, 0), (9.99, 10.0, 0), (D("4.10"), D("4.05"), 5)],
)
def test_money_left_on_the_table(winner: Any, second: Any, gap: int) -> None:
    assert left_on_table(winner, second) == gap


def test_ledger_counters_sum_as_totals() -> None:
    assert ledger_counters("partner", "sale", 2500, 500, 1) == {"revenue": 2500, "margin": 500}
    assert ledger_counters("source", "payout", -2000, 0, 1) == {"payout": 2000}
    assert ledger_counters("partner", "cancellation", -2500, -500, 1) == {
        "revenue": -2500,
        "cancelled": 1,
        "margin": -500,
    }
    assert ledger_counters("partner", "return", -2500, -500, 2)["returned"] == 2500
    assert ledger_counters("source", "return", 2000, 0, 1) == {"payout": -2000}
    assert ledger_counters("partner", "topup", -9000, 0, 1) == {}  # not per lead: left out
    assert lead_counters("duplicate", 3) == {"received": 3, "duplicates": 3}
    assert lead_counters("delivered", 3) == {"received": 3}


def test_days_and_months_in_a_zone_are_made_of_utc_hours() -> None:
    ny = ZoneInfo("America/New_York")
    late = datetime(2026, 3, 8, 3, tzinfo=UTC)  # 22:00 on the 7th in New York
    assert bucket(late, Grain.DAY, ny) == datetime(2026, 3, 7, tzinfo=ny)
    assert bucket(late, Grain.MONTH, ny) == datetime(2026, 3, 1, tzinfo=ny)
    assert bucket(late, Grain.HOUR, UTC) == late
    rows = [Row(late, ("a",), {"sold": 1}), Row(late + timedelta(hours=2), ("a",), {"sold": 2})]
    got = lines(rows, Grain.DAY, ny)  # 22:00 the 7th and 00:00 the 8th in New York
    assert [(x.start.day, x.get("sold")) for x in got] == [(7, 1), (8, 2)]
    assert [x.get("sold") for x in lines(rows, Grain.DAY, UTC)] == [3]
    with pytest.raises(ValueError, match="whole number of hours"):
        check_zone(ZoneInfo("Asia/Kolkata"), H, H + timedelta(days=2))
    check_zone(ny, H, H + timedelta(days=60))  # across the change to summer time


def test_the_hour_lived_twice_when_the_clock_falls_back_is_two_lines() -> None:
    """New York, 2026-11-01: 01:00 local is 05:00 and 06:00 UTC. At the hour grain each UTC hour is a line
    shown at its own offset; the day is still one line."""
    ny = ZoneInfo("America/New_York")
    first = datetime(2026, 11, 1, 4, tzinfo=UTC)
    rows = [Row(first + timedelta(hours=h), ("web",), {"received": h + 1}) for h in range(4)]
    got = lines(rows, Grain.HOUR, ny)
    assert [(x.start.isoformat(), x.get("received")) for x in got] == [
        ("2026-11-01T00:00:00-04:00", 1),
        ("2026-11-01T01:00:00-04:00", 2),
        ("2026-11-01T01:00:00-05:00", 3),
        ("2026-11-01T02:00:00-05:00", 4),
    ]
    assert [(x.start.isoformat(), x.get("received")) for x in lines(rows, Grain.DAY, ny)] == [
        ("2026-11-01T00:00:00-04:00", 10)
    ]


def _cover(parts: list[Any]) -> Counter[datetime]:
    """Each hour's count in the spans: +1 for every span that adds it, -1 for every one that takes it away."""
    out: Counter[datetime] = Counter()
    for span in parts:
        at = span.low
        while at < span.high:
            out[at] += span.sign
            at += timedelta(hours=1)
    return out


def test_a_day_in_new_york_is_read_as_a_utc_day_and_its_edges() -> None:
    day = datetime(2026, 1, 14, tzinfo=UTC)
    ny = ZoneInfo("America/New_York")
    since, until = cuts(day, day + timedelta(days=2), Grain.DAY, ny)[1:3]  # the 14th in New York
    assert (since.hour, until.hour) == (5, 5)
    got = spans(since, until, rolled_until=day + timedelta(days=3))
    assert [(s.sign, s.days, s.low, s.high) for s in got] == [
        (1, True, day, day + timedelta(days=1)),
        (-1, False, day, since),  # its first five hours are the 13th's in New York
        (1, False, until - timedelta(hours=5), until),  # the next day's are the 14th's
    ]
    # a day in Tokyo (15:00 to 15:00 UTC) is best read as the next UTC day less its last nine hours plus the
    # bucket's first nine, once that day is rolled up; until then, as its hours
    tokyo = since + timedelta(hours=10), until + timedelta(hours=10)
    assert [(s.sign, s.days) for s in spans(*tokyo, rolled_until=tokyo[1])] == [(1, False)]
    assert [(s.sign, s.days, s.low, s.high) for s in spans(*tokyo, rolled_until=day + timedelta(days=2))] == [
        (1, True, day + timedelta(days=1), day + timedelta(days=2)),
        (1, False, tokyo[0], day + timedelta(days=1)),
        (-1, False, tokyo[1], day + timedelta(days=2)),
    ]
    assert [
        (s.days, s.low, s.high) for s in spans(day, day + timedelta(days=3), day + timedelta(days=3))
    ] == [(True, day, day + timedelta(days=3))]


@given(
    start=st.integers(0, 24 * 40),
    length=st.integers(1, 24 * 40),
    room=st.integers(0, 24 * 3),
)
def test_the_spans_of_a_bucket_add_up_to_its_hours_each_once(start: int, length: int, room: int) -> None:
    origin = datetime(2026, 3, 1, tzinfo=UTC)
    since = origin + timedelta(hours=start)
    until = since + timedelta(hours=length)
    rolled = until + timedelta(hours=room)
    got = spans(since, until, rolled)
    cover = _cover(got)
    hours = {since + timedelta(hours=i) for i in range(length)}
    assert {at for at, n in cover.items() if n} == hours
    assert all(cover[at] == 1 for at in hours)
    assert all(s.high <= rolled and s.low < s.high for s in got)
    assert all(s.low == s.low.replace(hour=0) and s.high == s.high.replace(hour=0) for s in got if s.days)
    read = sum((s.high - s.low) // timedelta(hours=1) for s in got if not s.days)
    assert read <= length


def test_project_sums_the_other_dimensions_away() -> None:
    rows = [
        Row(H, ("web", "loans", "acme", "p"), {"sold": 1, "revenue": 100}),
        Row(H, ("ads", "loans", "acme", "q"), {"sold": 2}),
        Row(H, ("web", "loans", "", ""), {"received": 3}),
    ]
    got = {r.group: dict(r.values) for r in project(rows, ["partner"])}
    assert got == {("acme",): {"sold": 3, "revenue": 100}, ("",): {"received": 3}}


# ---------------------------------------------------------------- the parameters


def query(**params: Any) -> reports.ReportQuery:
    base: dict[str, Any] = {"by": None, "grain": None, "since": None, "until": None, "tz": None}
    return reports.report_query(**(base | params), now=H + timedelta(minutes=20))


def test_report_parameters_and_their_defaults() -> None:
    q = query()
    assert (q.dims, q.grain, q.until, q.since) == (
        ("partner",),
        Grain.DAY,
        H + timedelta(hours=1),
        H - timedelta(days=30) + timedelta(hours=1),
    )
    q = query(
        by="partner,source", grain="hour", since="2026-03-07", until="2026-03-07T06:30", tz="America/New_York"
    )
    assert q.dims == ("partner", "source")
    assert (q.since, q.until) == (datetime(2026, 3, 7, 5, tzinfo=UTC), datetime(2026, 3, 7, 12, tzinfo=UTC))


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"by": "buyer"}, ["by"]),
        ({"by": "partner,source,entity"}, ["by"]),
        ({"by": "partner,partner"}, ["by"]),
        ({"grain": "week"}, ["grain"]),
        ({"tz": "Mars/Olympus"}, ["tz"]),
        ({"tz": "Asia/Kolkata"}, ["tz"]),
        ({"since": "yesterday"}, ["since"]),
        ({"since": "2026-03-08", "until": "2026-03-01"}, ["since"]),
        ({"grain": "hour", "since": "2025-01-01"}, ["until"]),
        ({"by": "", "grain": "x", "until": "never"}, ["by", "grain", "until"]),
        ({"until": "9999-12-31T23:30:00+00:00"}, ["until"]),
        ({"since": "0001-01-01"}, ["since"]),
        ({"tz": "America"}, ["tz"]),
    ],
)
def test_bad_parameters_are_named(params: dict[str, Any], fields: list[str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        query(**params)
    assert [p.field for p in caught.value.problems] == fields


# ---------------------------------------------------------------- the use case in memory


def traffic(world: Installation) -> None:
    for i in range(3):
        world.accept(lead(phone=f"(512) 555-01{i:02d}"))
        world.work(http(200, '{"reference": "r"}'))
        world.clock.advance(minutes=40)
    world.accept(lead(phone="(512) 555-0100"))  # a duplicate of the first
    world.work(http(200))


def test_the_rollup_and_the_live_hours_agree_with_a_live_report() -> None:
    world = Installation(document())
    traffic(world)
    now = world.clock.advance(hours=3)
    q = reports.report_query(by="partner", grain="hour", since=None, until=None, tz=None, now=now)
    live = world.storage.read(lambda tx: reports.report_tx(tx, q, now))
    assert live.rolled_until is None
    assert sum(r["received"] for r in live.records()) == 4
    assert sum(r["sold"] for r in live.records()) == len(world.all("deliveries", status="delivered")) > 0

    rolled = run(reports.roll_up(world.storage, now))
    assert rolled is not None and rolled <= now - reports.SETTLE
    again = world.storage.read(lambda tx: reports.report_tx(tx, q, now))
    assert again.rolled_until == rolled
    assert again.records() == live.records()
    assert run(reports.roll_up(world.storage, now)) is None  # nothing more has closed


def test_postbacks_count_in_the_hour_received_rolled_or_live() -> None:
    world = Installation(document())
    world.accept(lead())
    world.work(http(200))
    [delivery] = world.all("deliveries", status="delivered")
    links = PostbackLinks(FakeDedupKeys(), "https://leads.example.com")
    service = Postbacks(world.storage, world.configs, links, clock=world.clock, ids=world.ids)
    sig = sign(run(links.key()), delivery.id)
    run(service.receive(delivery.id, sig, {"outcome": "contacted"}))
    world.clock.advance(hours=1)
    run(service.receive(delivery.id, sig, {"outcome": "converted", "revenue": "99.99"}))
    now = world.clock.advance(hours=2)
    q = reports.report_query(by="partner", grain="hour", since=None, until=None, tz=None, now=now)
    names = ("sold", "contacted", "converted", "conversion_rate", "conversion_revenue")
    live = world.storage.read(lambda tx: reports.report_tx(tx, q, now)).records()
    got = [{n: r[n] for n in names} for r in live if r["partner"]]
    assert got == [  # the sale and the contact in one hour, the conversion in the next
        {
            "sold": 1,
            "contacted": 1,
            "converted": 0,
            "conversion_rate": "0.0000",
            "conversion_revenue": "0.00",
        },
        {"sold": 0, "contacted": 0, "converted": 1, "conversion_rate": None, "conversion_revenue": "99.99"},
    ]
    assert run(reports.roll_up(world.storage, now)) is not None
    assert world.storage.read(lambda tx: reports.report_tx(tx, q, now)).records() == live


def test_of_two_workers_one_rolls_an_hour() -> None:
    world = Installation(document())
    traffic(world)
    now = world.clock.advance(hours=3)
    plans = [world.storage.read(lambda tx: reports._plan(tx, now, reports.SETTLE, 24)) for _ in range(2)]
    assert all(plans)
    stored = [world.storage.transaction(lambda tx, p=p: reports._store(tx, p)) for p in plans]  # type: ignore[misc]
    assert stored == [True, False]
    count = len(world.storage.read(lambda tx: list(tx.tables.stored("report_hours"))))  # type: ignore[attr-defined]
    assert count == len(plans[0].rows)  # type: ignore[union-attr]


def test_bucket_cuts_in_a_zone() -> None:
    ny = ZoneInfo("America/New_York")
    since = datetime(2026, 3, 6, 5, tzinfo=UTC)  # midnight in New York (EST)
    got = cuts(since, since + timedelta(days=3), Grain.DAY, ny)
    # the 8th begins at 05:00 UTC; the 9th at 04:00 UTC (summer time since 2:00 on the 8th)
    assert got == [
        since,
        since + timedelta(days=1),
        since + timedelta(days=2),
        datetime(2026, 3, 9, 4, tzinfo=UTC),
    ]
    assert cuts(since, since + timedelta(days=3), Grain.HOUR, ny) == []
    assert cuts(since, since + timedelta(days=40), Grain.MONTH, UTC) == [
        since,
        datetime(2026, 4, 1, tzinfo=UTC),
    ]


def test_a_report_by_day_in_a_zone_sums_rolled_buckets_as_hours() -> None:
    world = Installation(document())
    traffic(world)
    world.clock.advance(hours=30)
    now = world.clock()
    q = reports.report_query(by="source", grain="day", since=None, until=None, tz="America/New_York", now=now)
    live = world.storage.read(lambda tx: reports.report_tx(tx, q, now))
    run(reports.roll_up(world.storage, now, max_hours=24 * 40))
    rolled = world.storage.read(lambda tx: reports.report_tx(tx, q, now))
    assert rolled.rolled_until is not None
    assert rolled.records() == live.records() != []


def test_a_long_range_before_any_rollup_computes_only_the_hours_from_the_first_fact() -> None:
    world = Installation(document())
    traffic(world)
    now = world.clock.advance(hours=3)
    q = reports.report_query(
        by="source", grain="day", since="2017-01-01", until=None, tz=None, now=now
    )  # nine years of days, nothing rolled up yet
    asked: list[datetime] = []

    def report(tx: Any) -> Any:
        facts = tx.reports.facts

        class Counting:
            def __getattr__(self, name: str) -> Any:
                return getattr(tx.reports, name)

            def facts(self, hour: datetime) -> Any:
                asked.append(hour)
                return facts(hour)

        class Tx:
            def __getattr__(self, name: str) -> Any:
                return Counting() if name == "reports" else getattr(tx, name)

        return reports.report_tx(Tx(), q, now)

    got = world.storage.read(report)
    assert sum(r["received"] for r in got.records()) == 4
    assert 0 < len(asked) <= 6  # the hours of the traffic and since, not 79,000 empty ones
