from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from leadrelay.domain.caps import CapCheck, first_reached, window_end, window_key, window_keys
from leadrelay.domain.model import CapPeriod

H, D, W, M, T = CapPeriod.HOUR, CapPeriod.DAY, CapPeriod.WEEK, CapPeriod.MONTH, CapPeriod.TOTAL
LA = ZoneInfo("America/Los_Angeles")
NY = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")


def utc(text: str) -> dt.datetime:
    """'2026-11-22 15:30' (or with seconds/microseconds) as a UTC-aware datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("period", "tz", "now", "key"),
    [
        (H, UTC, "2026-11-22 15:30", "h:2026-11-22T15"),
        (D, UTC, "2026-11-22 15:30", "d:2026-11-22"),
        (W, UTC, "2026-11-22 15:30", "w:2026-W47"),
        (M, UTC, "2026-11-22 15:30", "m:2026-11"),
        (T, UTC, "2026-11-22 15:30", "total"),
        # local, not UTC: 2026-11-22 03:30 UTC is the evening of the 21st in Los Angeles
        (H, LA, "2026-11-22 03:30", "h:2026-11-21T19"),
        (D, LA, "2026-11-22 03:30", "d:2026-11-21"),
        (M, LA, "2026-12-01 07:59", "m:2026-11"),
        (M, LA, "2026-12-01 08:00", "m:2026-12"),
        # a half-hour zone: the local hour spans hh:30 UTC
        (H, ZoneInfo("Asia/Kolkata"), "2026-11-22 09:29", "h:2026-11-22T14"),
        (H, ZoneInfo("Asia/Kolkata"), "2026-11-22 09:30", "h:2026-11-22T15"),
    ],
)
def test_window_key(period: CapPeriod, tz: ZoneInfo, now: str, key: str) -> None:
    assert window_key(period, tz, utc(now)) == key


@pytest.mark.parametrize(
    ("tz", "now", "key"),
    [
        # Los Angeles: local midnight is 08:00 UTC in winter, 07:00 UTC in summer
        (LA, "2026-03-08 07:59:59", "d:2026-03-07"),
        (LA, "2026-03-08 08:00", "d:2026-03-08"),  # the spring-forward day starts in PST
        (LA, "2026-03-09 06:59:59", "d:2026-03-08"),
        (LA, "2026-03-09 07:00", "d:2026-03-09"),  # and the next one in PDT: a 23-hour day
        (LA, "2026-11-01 06:59:59", "d:2026-10-31"),
        (LA, "2026-11-01 07:00", "d:2026-11-01"),
        (LA, "2026-11-02 07:59:59", "d:2026-11-01"),  # the fall-back day lasts 25 hours
        (LA, "2026-11-02 08:00", "d:2026-11-02"),
        # New York
        (NY, "2026-03-08 04:59:59", "d:2026-03-07"),
        (NY, "2026-03-08 05:00", "d:2026-03-08"),
        (NY, "2026-03-09 03:59:59", "d:2026-03-08"),
        (NY, "2026-03-09 04:00", "d:2026-03-09"),
        (NY, "2026-11-01 03:59:59", "d:2026-10-31"),
        (NY, "2026-11-01 04:00", "d:2026-11-01"),
        (NY, "2026-11-02 04:59:59", "d:2026-11-01"),
        (NY, "2026-11-02 05:00", "d:2026-11-02"),
    ],
)
def test_day_key_changes_at_local_midnight_across_dst(tz: ZoneInfo, now: str, key: str) -> None:
    assert window_key(D, tz, utc(now)) == key


@pytest.mark.parametrize(
    ("tz", "now", "key"),
    [
        # Los Angeles falls back at 09:00 UTC (02:00 PDT -> 01:00 PST): 01:xx happens twice
        (LA, "2026-11-01 07:59", "h:2026-11-01T00"),
        (LA, "2026-11-01 08:00", "h:2026-11-01T01"),
        (LA, "2026-11-01 08:59:59", "h:2026-11-01T01"),
        (LA, "2026-11-01 09:00", "h:2026-11-01T01b"),
        (LA, "2026-11-01 09:59:59", "h:2026-11-01T01b"),
        (LA, "2026-11-01 10:00", "h:2026-11-01T02"),
        # and springs forward at 10:00 UTC (02:00 PST -> 03:00 PDT): there is no 02:xx
        (LA, "2026-03-08 09:59:59", "h:2026-03-08T01"),
        (LA, "2026-03-08 10:00", "h:2026-03-08T03"),
        # New York: falls back at 06:00 UTC, springs forward at 07:00 UTC
        (NY, "2026-11-01 05:30", "h:2026-11-01T01"),
        (NY, "2026-11-01 06:30", "h:2026-11-01T01b"),
        (NY, "2026-11-01 07:30", "h:2026-11-01T02"),
        (NY, "2026-03-08 06:59", "h:2026-03-08T01"),
        (NY, "2026-03-08 07:00", "h:2026-03-08T03"),
    ],
)
def test_hour_key_across_dst(tz: ZoneInfo, now: str, key: str) -> None:
    assert window_key(H, tz, utc(now)) == key


def test_the_repeated_hour_gives_distinct_keys() -> None:
    keys = [window_key(H, LA, utc("2026-11-01 07:30") + dt.timedelta(hours=n)) for n in range(4)]
    assert keys == ["h:2026-11-01T00", "h:2026-11-01T01", "h:2026-11-01T01b", "h:2026-11-01T02"]
    assert len(set(keys)) == 4


@pytest.mark.parametrize(
    ("tz", "now", "key"),
    [
        (UTC, "2026-12-31 12:00", "w:2026-W53"),  # 2026 has 53 ISO weeks
        (UTC, "2027-01-03 23:59:59", "w:2026-W53"),
        (UTC, "2027-01-04 00:00", "w:2027-W01"),
        (NY, "2027-01-04 04:59:59", "w:2026-W53"),  # still Sunday evening in New York
        (NY, "2027-01-04 05:00", "w:2027-W01"),
        (UTC, "2024-12-30 00:00", "w:2025-W01"),  # a Monday in December already in next year's week 1
        (UTC, "2024-12-29 23:59", "w:2024-W52"),
        (UTC, "2021-01-03 12:00", "w:2020-W53"),
        (UTC, "2026-01-01 00:00", "w:2026-W01"),
        (LA, "2026-01-05 07:59", "w:2026-W01"),
        (LA, "2026-01-05 08:00", "w:2026-W02"),
    ],
)
def test_iso_week_at_year_end(tz: ZoneInfo, now: str, key: str) -> None:
    assert window_key(W, tz, utc(now)) == key


def test_window_keys() -> None:
    caps = {D: 50, H: 5, T: 1000}
    assert window_keys(caps, LA, utc("2026-11-22 17:12")) == {
        D: "d:2026-11-22",
        H: "h:2026-11-22T09",
        T: "total",
    }
    assert window_keys({}, LA, utc("2026-11-22 17:12")) == {}


@pytest.mark.parametrize("period", list(CapPeriod))
def test_naive_now_is_refused(period: CapPeriod) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        window_key(period, LA, dt.datetime(2026, 11, 22, 15))


@pytest.mark.parametrize(
    ("check", "reached", "text"),
    [
        (CapCheck(D, 50, 50), True, "cap day 50/50 reached"),
        (CapCheck(D, 50, 51), True, "cap day 51/50 reached"),
        (CapCheck(H, 5, 4), False, "cap hour 4/5"),
        (CapCheck(T, 0, 0), True, "cap total 0/0 reached"),
    ],
)
def test_cap_check(check: CapCheck, reached: bool, text: str) -> None:
    assert check.reached is reached
    assert check.text() == text
    assert check.remaining == max(check.limit - check.used, 0)


@pytest.mark.parametrize(
    ("caps", "used", "expected"),
    [
        ({}, {}, None),
        ({D: 50}, {}, None),
        ({D: 50}, {D: 49}, None),
        ({D: 50}, {D: 50}, CapCheck(D, 50, 50)),
        ({D: 0}, {}, CapCheck(D, 0, 0)),
        # hour before day before week before month before total, whatever the mapping order
        ({T: 10, M: 5, D: 3, H: 1}, {T: 10, M: 5, D: 3, H: 1}, CapCheck(H, 1, 1)),
        ({T: 10, M: 5, D: 3, H: 1}, {T: 10, M: 5, D: 3}, CapCheck(D, 3, 3)),
        ({T: 10, M: 5, W: 4}, {T: 10, M: 5, W: 3}, CapCheck(M, 5, 5)),
        ({T: 10, W: 4}, {T: 10, W: 4}, CapCheck(W, 4, 4)),
        ({T: 10}, {T: 12, D: 99}, CapCheck(T, 10, 12)),  # usage of an uncapped period is ignored
    ],
)
def test_first_reached(
    caps: dict[CapPeriod, int], used: dict[CapPeriod, int], expected: CapCheck | None
) -> None:
    assert first_reached(caps, used) == expected


@pytest.mark.parametrize(
    ("period", "tz", "now", "end"),
    [
        (T, LA, "2026-11-22 15:30", None),
        (H, UTC, "2026-11-22 15:30", "2026-11-22 16:00"),
        (H, UTC, "2026-11-22 15:00", "2026-11-22 16:00"),
        (H, ZoneInfo("Asia/Kolkata"), "2026-11-22 09:00", "2026-11-22 09:30"),
        (D, LA, "2026-11-22 15:30", "2026-11-23 08:00"),
        (D, LA, "2026-03-08 12:00", "2026-03-09 07:00"),  # 23-hour day
        (D, LA, "2026-11-01 12:00", "2026-11-02 08:00"),  # 25-hour day
        (D, NY, "2026-03-08 12:00", "2026-03-09 04:00"),
        (D, NY, "2026-11-01 12:00", "2026-11-02 05:00"),
        (W, UTC, "2026-11-22 15:30", "2026-11-23 00:00"),  # a Sunday
        (W, LA, "2026-11-23 07:59", "2026-11-23 08:00"),
        (W, LA, "2026-11-23 08:00", "2026-11-30 08:00"),
        (W, LA, "2026-03-05 12:00", "2026-03-09 07:00"),  # the week spans the spring-forward
        (M, LA, "2026-11-22 15:30", "2026-12-01 08:00"),
        (M, LA, "2026-12-15 00:00", "2027-01-01 08:00"),
        (M, NY, "2026-10-15 00:00", "2026-11-01 04:00"),
        (M, UTC, "2027-02-10 00:00", "2027-03-01 00:00"),
        # the hours around the Los Angeles fall-back: each one ends after one real hour
        (H, LA, "2026-11-01 07:30", "2026-11-01 08:00"),
        (H, LA, "2026-11-01 08:30", "2026-11-01 09:00"),  # 01:30 PDT -> 01:00 PST
        (H, LA, "2026-11-01 09:30", "2026-11-01 10:00"),  # 01:30 PST -> 02:00 PST
        (H, LA, "2026-03-08 09:30", "2026-03-08 10:00"),  # 01:30 PST -> 03:00 PDT
    ],
)
def test_window_end(period: CapPeriod, tz: ZoneInfo, now: str, end: str | None) -> None:
    result = window_end(period, tz, utc(now))
    assert result == (None if end is None else utc(end))
    if result is not None:
        assert result.utcoffset() == dt.timedelta(0)
        # the key holds until the end and changes exactly there
        assert window_key(period, tz, result - dt.timedelta(microseconds=1)) == window_key(
            period, tz, utc(now)
        )
        assert window_key(period, tz, result) != window_key(period, tz, utc(now))


@pytest.mark.parametrize(
    ("period", "tz_name", "now", "end"),
    [
        # Lord Howe Island falls back half an hour (02:00 +11 -> 01:30 +10:30) on 2026-04-05
        (H, "Australia/Lord_Howe", "2026-04-04 14:45", "2026-04-04 15:00"),
        (H, "Australia/Lord_Howe", "2026-04-04 15:10", "2026-04-04 15:30"),
        # and springs forward half an hour (02:00 +10:30 -> 02:30 +11) on 2026-10-04
        (H, "Australia/Lord_Howe", "2026-10-03 15:00", "2026-10-03 15:30"),
        (H, "Australia/Lord_Howe", "2026-10-03 15:30", "2026-10-03 16:00"),
        # Chile springs forward at local midnight (there is no 00:00): the day starts at 01:00
        (D, "America/Santiago", "2026-09-05 12:00", "2026-09-06 04:00"),
        # Goose Bay changed clocks at 00:01 local in 1987: the hour window ends at the change, mid-hour
        (H, "America/Goose_Bay", "1987-04-05 04:00:30", "1987-04-05 04:01"),
        (H, "America/Goose_Bay", "1987-10-25 03:00:30", "1987-10-25 03:01"),
        (H, "America/Goose_Bay", "1987-10-25 02:30", "1987-10-25 03:00"),
    ],
)
def test_window_end_in_unusual_zones(period: CapPeriod, tz_name: str, now: str, end: str) -> None:
    tz = ZoneInfo(tz_name)
    result = window_end(period, tz, utc(now))
    assert result == utc(end)
    assert window_key(period, tz, result - dt.timedelta(microseconds=1)) == window_key(period, tz, utc(now))
    assert window_key(period, tz, result) != window_key(period, tz, utc(now))


def test_window_end_walks_every_hour_of_a_year_without_gaps() -> None:
    """Consecutive hour windows tile time: each ends where the next key starts, never twice the same key."""
    for tz in (LA, NY, ZoneInfo("Australia/Lord_Howe")):
        now = utc("2026-01-01 00:00")
        seen: set[str] = set()
        while now < utc("2027-01-01 00:00"):
            key = window_key(H, tz, now)
            assert key not in seen
            seen.add(key)
            end = window_end(H, tz, now)
            assert end is not None and end > now
            now = end
        assert 8750 < len(seen) < 8770
