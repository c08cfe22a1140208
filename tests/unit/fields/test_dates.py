"""Dates, date-times (normalized to UTC) and dates of birth (age, century guess, limits)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from leadrelay.domain.fields.dates import MAX_AGE
from tests.unit.fields import bad, ok

TODAY = dt.date(2026, 1, 15)


# spec/date-spec.js "strings": every one is June 2, 2014
@pytest.mark.parametrize(
    "raw",
    [
        "Mon Jun 02 2014",
        "Jun 02 2014",
        "06/02/2014",
        "6/2/2014",
        "6/2/14",
        "2014-06-02",
        "06-02-2014",
        "06022014",
        "20140602",
    ],
)
def test_leadconduit_month_first_dates(raw: str) -> None:
    result = ok("date", raw)
    assert result.normal == result.value == "2014-06-02"
    assert dict(result.parts) == {"year": 2014, "month": 6, "day": 2}


# spec/date-spec.js "euroStrings": day first when month first is impossible, all July 18, 2014
@pytest.mark.parametrize(
    "raw",
    [
        "Fri 18 July 2014",
        "18 July 2014",
        "18/07/2014",
        "18/7/2014",
        "18/7/14",
        "2014-18-07",
        "18-07-2014",
        "18072014",
        "20141807",
    ],
)
def test_leadconduit_day_first_dates(raw: str) -> None:
    assert ok("date", raw).normal == "2014-07-18"


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("2026-01-31", "2026-01-31"),
        ("01/31/2026", "2026-01-31"),
        ("1/31/2026", "2026-01-31"),
        ("2026/01/31", "2026-01-31"),
        ("01-31-2026", "2026-01-31"),
        ("2024-02-29", "2024-02-29"),
        (" 2026-1-5 ", "2026-01-05"),
        ("1/5/20", "2020-01-05"),
        ("1/5/69", "1969-01-05"),  # moment's pivot: 69..99 are 1900s
        ("1/5/68", "2068-01-05"),
        ("Jan 5 2020", "2020-01-05"),
        ("January 5, 2020", "2020-01-05"),
        ("jan. 5, 2020", "2020-01-05"),
        ("January 5th, 2020", "2020-01-05"),
        ("Sunday, January 5th 2020", "2020-01-05"),
        ("5 January 2020", "2020-01-05"),
        ("Sept 9 2021", "2021-09-09"),
        ("2020-01-05T10:00:00Z", "2020-01-05"),
        ("2026-01-31T23:30:00-05:00", "2026-01-31"),  # the date where it was written
        ("2026-01-31 08:00", "2026-01-31"),
        ("06/14/2014 6:27:33 PM", "2014-06-14"),
        ("13/01/2026", "2026-01-13"),
        ("2026-13-01", "2026-01-13"),  # LeadConduit's YYYY-DD-MM fallback
        ("20260131", "2026-01-31"),
        (20260131, "2026-01-31"),
        (dt.date(2026, 1, 31), "2026-01-31"),
        (dt.datetime(2026, 1, 31, 12, 0), "2026-01-31"),
    ],
)
def test_date(raw: Any, normal: str) -> None:
    assert ok("date", raw).normal == normal


@pytest.mark.parametrize(
    "raw",
    [
        "garbage",  # spec/date-spec.js "should not parse garbage"
        "2026-02-30",
        "2025-02-29",
        "32/13/2020",
        "26-01-31",  # two-digit years only with slashes, as LeadConduit
        "2026-01-31Tnoon",
        "yesterday",
        "Jan 32 2020",
        "Foo 5 2020",
        "Jan 5 20",
        "123/1/2020",
        "2026-01-31 25:00",
        True,
        1.5,
    ],
)
def test_date_errors(raw: Any) -> None:
    assert bad("date", raw) == "not a valid date"


@pytest.mark.parametrize(
    "raw",
    [
        # spec/time-spec.js strings: every one is 2014-06-14T18:27:33Z
        "Sat Jun 14 2014 13:27:33 GMT-0500 (CDT)",
        "06/14/2014 6:27:33 PM",  # no offset: taken as UTC
        "2014-06-14T18:27:33Z",
        "2014-06-14T18:27:33.000Z",
        # ours
        "2014-06-14T20:27:33+02:00",
        "2014-06-14 18:27:33",
        "Sat, 14 Jun 2014 18:27:33 +0000",
        "June 14, 2014 6:27:33 p.m.",
        "2014-06-14T13:27:33 UTC-05:00",
        dt.datetime(2014, 6, 14, 18, 27, 33),
        dt.datetime(2014, 6, 14, 13, 27, 33, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    ],
)
def test_datetime_normalizes_to_utc(raw: Any) -> None:
    result = ok("datetime", raw)
    assert result.normal == result.value == "2014-06-14T18:27:33+00:00"
    assert result.parts["date"] == "2014-06-14"


@pytest.mark.parametrize(
    ("raw", "normal", "offset"),
    [
        ("2026-01-05T10:00:00Z", "2026-01-05T10:00:00+00:00", "+00:00"),
        ("2026-01-05T10:00:00+05:30", "2026-01-05T04:30:00+00:00", "+05:30"),
        ("2026-01-05T23:30:00-05:00", "2026-01-06T04:30:00+00:00", "-05:00"),
        ("2026-01-05 10:00", "2026-01-05T10:00:00+00:00", None),
        ("2026-01-05", "2026-01-05T00:00:00+00:00", None),
        ("01/05/2026 12:00 AM", "2026-01-05T00:00:00+00:00", None),
        ("01/05/2026 12:00 PM", "2026-01-05T12:00:00+00:00", None),
        ("2026-01-05T10:00:00.250Z", "2026-01-05T10:00:00.250000+00:00", "+00:00"),
        (dt.date(2026, 1, 5), "2026-01-05T00:00:00+00:00", None),
    ],
)
def test_datetime_offsets(raw: Any, normal: str, offset: str | None) -> None:
    result = ok("datetime", raw)
    assert result.normal == normal
    assert result.parts["offset"] == offset
    assert result.parts["naive"] is (offset is None)


@pytest.mark.parametrize(
    "raw",
    ["garbage", "13:00", "2026-01-05 25:00", "01/05/2026 13:00 PM", "2026-01-05T10:00+25:00", 1700000000],
)
def test_datetime_errors(raw: Any) -> None:
    assert bad("datetime", raw) == "not a valid date and time"


@pytest.mark.parametrize(
    ("raw", "normal", "age"),
    [
        ("1990-01-15", "1990-01-15", 36),  # birthday today
        ("1990-01-16", "1990-01-16", 35),  # birthday tomorrow
        ("03/04/1985", "1985-03-04", 40),
        ("Jun 02 2014", "2014-06-02", 11),  # lib/types/dob.js examples
        ("1/2/55", "1955-01-02", 71),  # a two-digit year that would be in the future is last century
        ("12/31/26", "1926-12-31", 99),
        ("1/2/26", "2026-01-02", 0),
        ("2026-01-15", "2026-01-15", 0),
        (f"{TODAY.year - MAX_AGE}-01-15", f"{TODAY.year - MAX_AGE}-01-15", MAX_AGE),
    ],
)
def test_dob(raw: str, normal: str, age: int) -> None:
    result = ok("dob", raw, today=TODAY)
    assert result.normal == normal
    assert result.parts["age"] == age
    assert result.parts["year"] == int(normal[:4])


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("2026-01-16", "date of birth is in the future"),
        ("2030-01-01", "date of birth is in the future"),
        ("1900-01-01", f"date of birth more than {MAX_AGE} years ago"),
        (f"{TODAY.year - MAX_AGE - 1}-01-15", f"date of birth more than {MAX_AGE} years ago"),  # 121 today
        ("garbage", "not a valid date"),
    ],
)
def test_dob_errors(raw: str, error: str) -> None:
    assert bad("dob", raw, today=TODAY) == error


def test_dob_counts_to_the_system_date_by_default() -> None:
    assert ok("dob", "2000-01-01").parts["age"] >= 26
