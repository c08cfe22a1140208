from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadrelay.domain.hours import closed_reason, format_hours, is_open, parse_hours
from leadrelay.domain.model import Hours

LA = ZoneInfo("America/Los_Angeles")
NY = ZoneInfo("America/New_York")

CLOSED: tuple[tuple[int, int], ...] = ()
NINE_FIVE = ((540, 1020),)
ALL_DAY = ((0, 1440),)


def hours(*days: tuple[tuple[int, int], ...]) -> Hours:
    assert len(days) == 7
    return Hours(windows=days)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


# ---------------------------------------------------------------- parse_hours


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"mon-fri": "09:00-17:00"}, hours(*[NINE_FIVE] * 5, CLOSED, CLOSED)),
        ({"weekdays": "09:00-17:00"}, hours(*[NINE_FIVE] * 5, CLOSED, CLOSED)),
        ({"Mon - Fri": " 09:00 - 17:00 "}, hours(*[NINE_FIVE] * 5, CLOSED, CLOSED)),
        ({"monday": "09:00-17:00"}, hours(NINE_FIVE, *[CLOSED] * 6)),
        ({"Tues,THURS": "09:00-17:00"}, hours(CLOSED, NINE_FIVE, CLOSED, NINE_FIVE, *[CLOSED] * 3)),
        ({"daily": "24h"}, hours(*[ALL_DAY] * 7)),
        ({"every day": "00:00-24:00"}, hours(*[ALL_DAY] * 7)),
        ({"daily": "closed"}, hours(*[CLOSED] * 7)),
        ({"sat,sun": "9:00-17:00"}, hours(*[CLOSED] * 5, NINE_FIVE, NINE_FIVE)),
        ({"weekends": "09:00-17:00"}, hours(*[CLOSED] * 5, NINE_FIVE, NINE_FIVE)),
        (
            {"fri-mon": "09:00-17:00"},
            hours(NINE_FIVE, CLOSED, CLOSED, CLOSED, NINE_FIVE, NINE_FIVE, NINE_FIVE),
        ),
        ({"mon-wed,fri": "09:00-17:00"}, hours(*[NINE_FIVE] * 3, CLOSED, NINE_FIVE, CLOSED, CLOSED)),
        ({"weekdays,sun": "24h"}, hours(*[ALL_DAY] * 5, CLOSED, ALL_DAY)),
        (
            {"mon": ["08:00-12:00", "13:00-17:00"]},
            hours(((480, 720), (780, 1020)), *[CLOSED] * 6),
        ),
        (
            {"mon": "08:00-12:00,13:00-17:00"},
            hours(((480, 720), (780, 1020)), *[CLOSED] * 6),
        ),
        # overlapping and touching windows are merged, and sorted
        ({"mon": "13:00-17:00,08:00-12:00,11:00-13:00"}, hours(((480, 1020),), *[CLOSED] * 6)),
        # the more specific key wins, whatever the order
        ({"sun": "closed", "daily": "09:00-17:00"}, hours(*[NINE_FIVE] * 6, CLOSED)),
        ({"daily": "09:00-17:00", "sat,sun": "10:00-12:00"}, hours(*[NINE_FIVE] * 5, *[((600, 720),)] * 2)),
        ({"mon": "09:00-17:00", "MON": "09:00-17:00"}, hours(NINE_FIVE, *[CLOSED] * 6)),  # same: fine
        # crossing midnight: the part after midnight belongs to the next day
        ({"fri": "22:00-02:00"}, hours(*[CLOSED] * 4, ((1320, 1440),), ((0, 120),), CLOSED)),
        ({"sun": "22:00-02:00"}, hours(((0, 120),), *[CLOSED] * 5, ((1320, 1440),))),
        ({"fri": "18:00-00:00"}, hours(*[CLOSED] * 4, ((1080, 1440),), CLOSED, CLOSED)),
        # a day's own "closed" does not cancel the night that spills into it
        ({"fri": "22:00-02:00", "sat": "closed"}, hours(*[CLOSED] * 4, ((1320, 1440),), ((0, 120),), CLOSED)),
        (
            {"daily": "20:00-04:00"},
            hours(*[((0, 240), (1200, 1440))] * 7),
        ),
        (
            {"sat": "01:00-03:00", "fri": "22:00-02:00"},
            hours(*[CLOSED] * 4, ((1320, 1440),), ((0, 180),), CLOSED),
        ),
        ({"mon": []}, hours(*[CLOSED] * 7)),
    ],
)
def test_parse_hours(spec: dict[str, str | list[str]], expected: Hours) -> None:
    assert parse_hours(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "empty"),
        ({"funday": "09:00-17:00"}, "'funday' is not a day"),
        ({"mon-someday": "09:00-17:00"}, "'mon-someday' is not a day"),
        ({"mon,,tue": "09:00-17:00"}, "'mon,,tue' is not a day"),
        ({"mon": "9-5"}, "mon: '9-5' is not a time window"),
        ({"mon": "09:00"}, "mon: '09:00' is not a time window"),
        ({"mon": "25:00-26:00"}, "mon: '25:00-26:00' is not a time window"),
        ({"mon": "08:60-09:00"}, "mon: '08:60-09:00' is not a time window"),
        ({"mon": "24:00-02:00"}, "mon: '24:00-02:00' is not a time window"),
        ({"mon": "08:00-24:30"}, "mon: '08:00-24:30' is not a time window"),
        ({"mon": "08:00-12:00,"}, "mon: '' is not a time window"),
        ({"mon": ""}, "mon: '' is not a time window"),
        ({"mon": "sometimes"}, "mon: 'sometimes' is not a time window"),
        ({"mon": "09:00-09:00"}, "mon: '09:00-09:00' is an empty window"),
        ({"mon": 9}, "mon: 9 is not a time window"),
        ({"mon": ["09:00-12:00", 13]}, "mon: 13 is not a time window"),
        ({"sat": "09:00-10:00", "Sat": "10:00-11:00"}, "sat is given different hours by 'sat' and 'Sat'"),
        ({"mon-fri": "09:00-17:00", "fri-tue": "10:00-12:00"}, "is given different hours"),
    ],
)
def test_parse_hours_errors(spec: dict[str, str | list[str]], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_hours(spec)


# ---------------------------------------------------------------- is_open

OFFICE = parse_hours({"mon-fri": "08:00-18:00"})  # 2026-11-20 is a Friday; Los Angeles is UTC-8 in November
NIGHT = parse_hours({"fri": "22:00-02:00"})
EARLY = parse_hours({"daily": "02:00-03:00"})
REPEATED = parse_hours({"sun": "01:00-02:00"})


@pytest.mark.parametrize(
    ("hours_", "tz", "now", "expected"),
    [
        (None, LA, "2026-11-21 12:00", True),
        (OFFICE, LA, "2026-11-20 15:59:59", False),  # Fri 07:59:59
        (OFFICE, LA, "2026-11-20 16:00", True),  # Fri 08:00
        (OFFICE, LA, "2026-11-21 01:59:59", True),  # Fri 17:59:59 (Saturday in UTC)
        (OFFICE, LA, "2026-11-21 02:00", False),  # Fri 18:00: the end is exclusive
        (OFFICE, LA, "2026-11-21 17:00", False),  # Sat 09:00
        (OFFICE, NY, "2026-11-20 13:00", True),  # Fri 08:00 in New York
        (OFFICE, ZoneInfo("UTC"), "2026-11-20 08:00", True),
        # crossing midnight
        (NIGHT, LA, "2026-11-21 05:59", False),  # Fri 21:59
        (NIGHT, LA, "2026-11-21 06:00", True),  # Fri 22:00
        (NIGHT, LA, "2026-11-21 09:59", True),  # Sat 01:59
        (NIGHT, LA, "2026-11-21 10:00", False),  # Sat 02:00
        (NIGHT, LA, "2026-11-22 09:00", False),  # Sun 01:00: only the night from Friday
        # spring forward in Los Angeles (2026-03-08 10:00 UTC): 02:00-03:00 never happens that day
        (EARLY, LA, "2026-03-07 10:30", True),  # Sat 02:30 PST
        (EARLY, LA, "2026-03-08 09:59:59", False),  # Sun 01:59:59 PST
        (EARLY, LA, "2026-03-08 10:00", False),  # Sun 03:00 PDT
        (EARLY, LA, "2026-03-09 09:30", True),  # Mon 02:30 PDT
        # office hours follow the wall clock: 08:00 is 16:00 UTC before the change, 15:00 UTC after
        (OFFICE, LA, "2026-03-06 15:30", False),  # Fri 07:30 PST
        (OFFICE, LA, "2026-03-09 15:30", True),  # Mon 08:30 PDT
        # fall back (2026-11-01 09:00 UTC): the repeated 01:00 hour is open both times
        (REPEATED, LA, "2026-11-01 07:59", False),  # 00:59 PDT
        (REPEATED, LA, "2026-11-01 08:30", True),  # 01:30 PDT
        (REPEATED, LA, "2026-11-01 09:30", True),  # 01:30 PST
        (REPEATED, LA, "2026-11-01 10:00", False),  # 02:00 PST
    ],
)
def test_is_open(hours_: Hours | None, tz: ZoneInfo, now: str, expected: bool) -> None:
    assert is_open(hours_, tz, utc(now)) is expected


def test_is_open_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(OFFICE, LA, dt.datetime(2026, 11, 20, 12))
    assert is_open(None, LA, dt.datetime(2026, 11, 20, 12)) is True


@pytest.mark.parametrize(
    ("tz_name", "now", "text"),
    [
        ("America/Los_Angeles", "2026-11-21 17:12", "outside delivery hours (Sat 09:12 America/Los_Angeles)"),
        ("America/New_York", "2026-11-23 04:05", "outside delivery hours (Sun 23:05 America/New_York)"),
        ("UTC", "2026-11-23 00:00", "outside delivery hours (Mon 00:00 UTC)"),
    ],
)
def test_closed_reason(tz_name: str, now: str, text: str) -> None:
    assert closed_reason(ZoneInfo(tz_name), utc(now), tz_name) == text


# ---------------------------------------------------------------- format_hours


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"mon-fri": "08:00-18:00"}, {"mon-fri": "08:00-18:00"}),
        (
            {"weekdays": "08:00-18:00", "weekends": "10:00-14:00"},
            {"mon-fri": "08:00-18:00", "sat,sun": "10:00-14:00"},
        ),
        ({"daily": "24h"}, {"daily": "24h"}),
        ({"daily": "00:00-24:00"}, {"daily": "24h"}),
        ({"daily": "closed"}, {"daily": "closed"}),
        ({"fri-mon": "10:00-16:00"}, {"fri-mon": "10:00-16:00"}),
        ({"sun,mon": "10:00-16:00"}, {"sun,mon": "10:00-16:00"}),
        ({"mon,wed,fri": "9:00-17:00"}, {"mon,wed,fri": "09:00-17:00"}),
        ({"daily": "09:00-17:00", "sun": "closed"}, {"mon-sat": "09:00-17:00"}),
        ({"mon": ["08:00-12:00", "13:00-17:30"]}, {"mon": "08:00-12:00,13:00-17:30"}),
        ({"fri": "22:00-02:00"}, {"fri": "22:00-24:00", "sat": "00:00-02:00"}),
        ({"tue": "09:00-17:00", "thu": "24h"}, {"tue": "09:00-17:00", "thu": "24h"}),
    ],
)
def test_format_hours(spec: dict[str, str | list[str]], expected: dict[str, str]) -> None:
    parsed = parse_hours(spec)
    assert format_hours(parsed) == expected
    assert parse_hours(dict(format_hours(parsed))) == parsed


_day_windows = st.lists(st.integers(0, 1440), unique=True, max_size=8).map(
    lambda points: tuple(
        (start, end) for start, end in zip(sorted(points)[::2], sorted(points)[1::2], strict=False)
    )
)


@given(st.tuples(*[_day_windows] * 7))
def test_format_then_parse_gives_the_same_hours(days: tuple[tuple[tuple[int, int], ...], ...]) -> None:
    original = Hours(windows=days)
    exported = format_hours(original)
    assert all(isinstance(value, str) for value in exported.values())
    assert parse_hours(dict(exported)) == original
