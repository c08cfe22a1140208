"""Dates, date-times and dates of birth, in the forms US lead forms send.

Numeric dates are read month first (``6/2/14`` is June 2) and day first only when month first is
impossible (``18/7/2014``), as LeadConduit does. A date-time without an offset is taken as UTC, and
every date-time is normalized to UTC so that normal forms compare as text.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from leadrelay.domain.fields.value import FieldValue, Invalid, Options, accept, register, text

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
            ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
            ("oct", "october"), ("nov", "november"), ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}  # fmt: skip
_WEEKDAYS = frozenset(
    {
        "mon", "monday", "tue", "tues", "tuesday", "wed", "wednesday", "thu", "thur", "thurs", "thursday",
        "fri", "friday", "sat", "saturday", "sun", "sunday",
    }
)  # fmt: skip
_NUMERIC_RE = re.compile(r"^(\d{1,4})([-/])(\d{1,2})\2(\d{1,4})$")
_COMPACT_RE = re.compile(r"^\d{8}$")
_ORDINAL_RE = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?$")
_TIME_TAIL_RE = re.compile(
    r"^(?P<date>.+?)[\sT,]+(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,6})\d*)?)?"
    r"\s*(?P<ampm>[ap]\.?m\.?)?"
    r"\s*(?P<tz>z|utc|gmt|(?:gmt|utc)?\s*[+-]\d{2}:?\d{2})?"
    r"(?:\s*\([^)]*\))?$",
    re.IGNORECASE,
)
"""A time after a date: ``06/14/2014 6:27:33 PM``, ``Sat Jun 14 2014 13:27:33 GMT-0500 (CDT)``."""

MAX_AGE = 120  # the oldest plausible person: an older date of birth is a typo or a placeholder


def _two_digit_year(year: int) -> int:
    """Moment.js's pivot, as LeadConduit: 69..99 are 1900s, 00..68 are 2000s."""
    return year + (1900 if year > 68 else 2000)


def _ymd(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _numeric(first: str, separator: str, middle: str, last: str) -> tuple[dt.date | None, bool]:
    """``a-b-c`` or ``a/b/c``: Y-M-D (else Y-D-M), M/D/Y (else D/M/Y), M/D/YY only with slashes."""
    a, b = int(first), int(middle)
    if len(first) == 4 and len(last) <= 2:
        return _ymd(a, b, int(last)) or _ymd(a, int(last), b), False
    if len(first) > 2:
        return None, False
    if len(last) == 4:
        year = int(last)
    elif len(last) == 2 and separator == "/":
        year = _two_digit_year(int(last))
    else:
        return None, False
    return _ymd(year, a, b) or _ymd(year, b, a), len(last) == 2


def _compact(digits: str) -> dt.date | None:
    """Eight digits, in LeadConduit's order: MMDDYYYY, YYYYMMDD, DDMMYYYY, YYYYDDMM."""
    head, tail = int(digits[:4]), int(digits[4:])
    return (
        _ymd(tail, head // 100, head % 100)
        or _ymd(head, tail // 100, tail % 100)
        or _ymd(tail, head % 100, head // 100)
        or _ymd(head, tail % 100, tail // 100)
    )


def _named(date_text: str) -> dt.date | None:
    """``Jan 5 2020``, ``January 5th, 2020``, ``Mon Jun 02 2014``, ``18 July 2014``, ``Fri, 18 Jul 2014``."""
    words = date_text.lower().replace(",", " ").replace(".", " ").split()
    if words and words[0] in _WEEKDAYS:
        words = words[1:]
    if len(words) != 3 or len(words[2]) != 4 or not words[2].isdigit():
        return None
    if words[0] in _MONTHS:
        month, day_word = _MONTHS[words[0]], words[1]
    elif words[1] in _MONTHS:
        month, day_word = _MONTHS[words[1]], words[0]
    else:
        return None
    day = _ORDINAL_RE.match(day_word)
    return _ymd(int(words[2]), month, int(day[1])) if day else None


def calendar_date(date_text: str) -> tuple[dt.date, bool]:
    """A date written without a time; the flag says the century was guessed (a two-digit year)."""
    if match := _NUMERIC_RE.match(date_text):
        found, guessed = _numeric(*match.groups())
    elif _COMPACT_RE.match(date_text):
        found, guessed = _compact(date_text), False
    else:
        found, guessed = _named(date_text), False
    if found is None:
        raise Invalid("not a valid date")
    return found, guessed


def _iso_datetime(value_text: str) -> dt.datetime | None:
    """``2026-01-05T10:00:00Z`` and its ISO 8601 kin (None when the text is not shaped like one)."""
    if len(value_text) > 10 and value_text[4] == "-" and value_text[10] in "Tt ":
        try:
            return dt.datetime.fromisoformat(value_text)
        except ValueError:
            return None
    return None


def _zone(name: str | None) -> dt.tzinfo | None:
    if not name:
        return None
    offset = name.upper().removeprefix("GMT").removeprefix("UTC").strip().replace(":", "")
    if not offset or offset == "Z":
        return dt.UTC
    minutes = int(offset[1:3]) * 60 + int(offset[3:5])
    if minutes >= 24 * 60:
        raise Invalid("not a valid date and time")
    return dt.timezone(dt.timedelta(minutes=-minutes if offset[0] == "-" else minutes))


def _date_and_time(value_text: str) -> tuple[dt.datetime, bool]:
    """Any accepted date, with or without a time after it; the flag says the century was guessed."""
    if (stamp := _iso_datetime(value_text)) is not None:
        return stamp, False
    match = _TIME_TAIL_RE.match(value_text)
    if match is None:
        day, guessed = calendar_date(value_text)
        return dt.datetime(day.year, day.month, day.day), guessed
    day, guessed = calendar_date(match["date"].strip())
    hour, minute, second = int(match["h"]), int(match["m"]), int(match["s"] or 0)
    if ampm := match["ampm"]:
        if not 1 <= hour <= 12:
            raise Invalid("not a valid date and time")
        hour = hour % 12 + (12 if ampm[0] in "pP" else 0)
    micro = int((match["f"] or "0").ljust(6, "0"))
    try:
        stamp = dt.datetime(day.year, day.month, day.day, hour, minute, second, micro, _zone(match["tz"]))
    except ValueError:
        raise Invalid("not a valid date and time") from None
    return stamp, guessed


def read_date(raw: Any) -> tuple[dt.date, bool]:
    """The calendar date of a raw value (its own local date when a time and an offset come with it)."""
    if isinstance(raw, dt.datetime):
        return raw.date(), False
    if isinstance(raw, dt.date):
        return raw, False
    if isinstance(raw, bool | float):
        raise Invalid("not a valid date")
    try:
        stamp, guessed = _date_and_time(text(raw))
    except Invalid:
        raise Invalid("not a valid date") from None
    return stamp.date(), guessed


def _date_parts(day: dt.date) -> dict[str, Any]:
    return {"year": day.year, "month": day.month, "day": day.day}


@register("date")
def parse_date(raw: Any, options: Options) -> FieldValue:
    day, _ = read_date(raw)
    return accept(raw, day.isoformat(), _date_parts(day))


@register("datetime")
def parse_datetime(raw: Any, options: Options) -> FieldValue:
    if isinstance(raw, dt.datetime):
        stamp = raw
    elif isinstance(raw, dt.date):
        stamp = dt.datetime(raw.year, raw.month, raw.day)
    elif isinstance(raw, bool | int | float):
        raise Invalid("not a valid date and time")
    else:
        try:
            stamp, _ = _date_and_time(text(raw))
        except Invalid:
            raise Invalid("not a valid date and time") from None
    offset = stamp.utcoffset()
    try:
        utc = stamp.replace(tzinfo=dt.UTC) if offset is None else stamp.astimezone(dt.UTC)
    except OverflowError:  # 9999-12-31T23:59:59-05:00 is in the year 10000 in UTC
        raise Invalid("not a valid date and time (outside the calendar in UTC)") from None
    parts = {
        "date": utc.date().isoformat(),
        "offset": None if offset is None else _offset_text(offset),
        "naive": offset is None,
    }
    return accept(raw, utc.isoformat(), parts)


def _offset_text(offset: dt.timedelta) -> str:
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@register("dob")
def parse_dob(raw: Any, options: Options) -> FieldValue:
    born, guessed = read_date(raw)
    today = options.today or dt.date.today()
    if guessed and born > today:  # "1/2/55" is a birth in 1955, not 2055
        born = _ymd(born.year - 100, born.month, born.day) or born
    if born > today:
        raise Invalid("date of birth is in the future")
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age > MAX_AGE:
        raise Invalid(f"date of birth more than {MAX_AGE} years ago")
    return accept(raw, born.isoformat(), {**_date_parts(born), "age": age})
