"""Delivery hours: when a partner accepts leads, in its own time zone.

Written in configuration as a mapping of days to windows::

    mon-fri: "08:00-18:00"
    sat: ["09:00-12:00", "13:00-15:00"]     # or "09:00-12:00,13:00-15:00"
    sun: closed

Keys: day names (``mon`` … ``sun``, or in full), ranges (``mon-fri``, wrapping ``fri-mon``), comma lists
(``sat,sun``, ``mon-wed,fri``), ``daily``, ``weekdays`` and ``weekends``. Days that no key names are
closed. When several keys name a day, the key naming fewer days wins (``daily`` then ``sun: closed``).
Values: ``HH:MM-HH:MM`` windows, ``closed``, ``24h``. A window may cross midnight (``22:00-02:00``): the part
after midnight belongs to the next day. Times are wall-clock times, so a window follows daylight saving
time; a skipped hour simply never happens.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from leadrelay.domain.model import Hours

__all__ = ["DAY_NAMES", "closed_reason", "format_hours", "is_open", "parse_hours"]

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_DISPLAY = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_ALIASES = {"tues": 1, "weds": 2, "thur": 3, "thurs": 3}
_DAY_GROUPS: dict[str, tuple[int, ...]] = {
    "daily": tuple(range(7)),
    "every day": tuple(range(7)),
    "everyday": tuple(range(7)),
    "weekdays": (0, 1, 2, 3, 4),
    "weekends": (5, 6),
}
_DAY_MINUTES = 24 * 60
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")

Window = tuple[int, int]


def parse_hours(spec: Mapping[str, str | list[str]]) -> Hours:
    """Turn the configuration mapping into ``Hours``; raises ``ValueError`` naming the bad key or value."""
    if not spec:
        raise ValueError("delivery hours are empty: name at least one day (or leave hours out)")
    chosen: dict[int, tuple[int, str, list[Window]]] = {}  # day -> (days named by the key, key, windows)
    for key, value in spec.items():
        days = _parse_days(key)
        windows = _parse_value(key, value)
        for day in days:
            previous = chosen.get(day)
            if previous is None or len(days) < previous[0]:
                chosen[day] = (len(days), key, windows)
            elif len(days) == previous[0] and previous[2] != windows:
                raise ValueError(f"{DAY_NAMES[day]} is given different hours by {previous[1]!r} and {key!r}")
    per_day: list[list[Window]] = [[] for _ in range(7)]
    for day, (_, _, windows) in chosen.items():
        for start, end in windows:
            if start < end:
                per_day[day].append((start, end))
            else:  # crosses midnight: the rest belongs to the next day
                per_day[day].append((start, _DAY_MINUTES))
                if end > 0:
                    per_day[(day + 1) % 7].append((0, end))
    return Hours(windows=tuple(_merge(windows) for windows in per_day))


def _parse_days(key: str) -> tuple[int, ...]:
    text = " ".join(str(key).strip().lower().split())
    if text in _DAY_GROUPS:
        return _DAY_GROUPS[text]
    days: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if part in _DAY_GROUPS:
            days.extend(_DAY_GROUPS[part])
        elif "-" in part:
            first_text, _, last_text = part.partition("-")
            first, last = _day(key, first_text), _day(key, last_text)
            days.extend((first + offset) % 7 for offset in range((last - first) % 7 + 1))
        else:
            days.append(_day(key, part))
    return tuple(sorted(set(days)))


def _day(key: str, text: str) -> int:
    text = text.strip()
    if text in DAY_NAMES:
        return DAY_NAMES.index(text)
    if text in _FULL_DAY_NAMES:
        return _FULL_DAY_NAMES.index(text)
    if text in _DAY_ALIASES:
        return _DAY_ALIASES[text]
    raise ValueError(
        f"{key!r} is not a day: use mon..sun, a range like mon-fri, a list like sat,sun, or daily"
    )


def _parse_value(key: str, value: str | list[str]) -> list[Window]:
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list | tuple):
        parts = [part for item in value for part in _as_text(key, item).split(",")]
    else:
        raise ValueError(f"{key}: {value!r} is not a time window like 08:00-18:00 (or closed, 24h)")
    texts = [part.strip().lower() for part in parts]
    if texts == ["closed"] or texts == []:
        return []
    windows: list[Window] = []
    for text in texts:
        if text in ("24h", "24 hours", "open"):
            windows.append((0, _DAY_MINUTES))
            continue
        start_text, dash, end_text = text.partition("-")
        start = _minutes(start_text.strip(), allow_24=False)
        end = _minutes(end_text.strip(), allow_24=True)
        if not dash or start is None or end is None:
            raise ValueError(f"{key}: {text!r} is not a time window like 08:00-18:00 (or closed, 24h)")
        if start == end:
            raise ValueError(f"{key}: {text!r} is an empty window (start equals end); use 24h for all day")
        windows.append((start, end))
    return windows


def _as_text(key: str, item: object) -> str:
    if not isinstance(item, str):
        raise ValueError(f"{key}: {item!r} is not a time window like 08:00-18:00")
    return item


def _minutes(text: str, *, allow_24: bool) -> int | None:
    match = _TIME_RE.match(text)
    if not match:
        return None
    hour, minute = int(match[1]), int(match[2])
    if minute > 59 or hour > 24 or (hour == 24 and (minute or not allow_24)):
        return None
    return hour * 60 + minute


def _merge(windows: list[Window]) -> tuple[Window, ...]:
    merged: list[Window] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


# ---------------------------------------------------------------- checking


def is_open(hours: Hours | None, tz: ZoneInfo, now: dt.datetime) -> bool:
    """Whether a partner with these hours accepts leads at ``now`` (UTC-aware); None means always."""
    if hours is None:
        return True
    local = _local(tz, now)
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in hours.windows[local.weekday()])


def _local(tz: ZoneInfo, now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(tz)


def closed_reason(tz: ZoneInfo, now: dt.datetime, tz_name: str) -> str:
    """``outside delivery hours (Sat 09:12 America/Los_Angeles)``: the partner's local time, for traces."""
    local = _local(tz, now)
    return f"outside delivery hours ({_DAY_DISPLAY[local.weekday()]} {local:%H:%M} {tz_name})"


# ---------------------------------------------------------------- export


def format_hours(hours: Hours) -> dict[str, str]:
    """The compact configuration form of ``hours``; ``parse_hours`` of it gives the same ``Hours``.

    Days with the same windows are grouped (``mon-fri``, ``sat,sun``, ``daily``); closed days are left
    out (days not named are closed), unless every day is closed. A window that crosses midnight is
    written as its two parts (``22:00-24:00`` and next day ``00:00-02:00``).
    """
    texts = [_format_day(windows) for windows in hours.windows]
    groups: dict[str, list[int]] = {}
    for day, text in enumerate(texts):
        groups.setdefault(text, []).append(day)
    if len(groups) == 1 and "closed" in groups:
        return {"daily": "closed"}
    result: dict[str, str] = {}
    for text, days in sorted(groups.items(), key=lambda item: item[1][0]):
        if text != "closed":
            result[_format_days(days)] = text
    return result


def _format_day(windows: tuple[Window, ...]) -> str:
    if not windows:
        return "closed"
    if windows == ((0, _DAY_MINUTES),):
        return "24h"
    return ",".join(f"{_clock(start)}-{_clock(end)}" for start, end in windows)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _format_days(days: list[int]) -> str:
    if len(days) == 7:
        return "daily"
    members = set(days)
    # Start each run at a day whose predecessor is not in the set, so runs may wrap past Sunday.
    starts = [day for day in range(7) if day in members and (day - 1) % 7 not in members]
    parts: list[str] = []
    for start in starts:
        length = 1
        while (start + length) % 7 in members:
            length += 1
        last = (start + length - 1) % 7
        if length >= 3:
            parts.append(f"{DAY_NAMES[start]}-{DAY_NAMES[last]}")
        else:
            parts.extend(DAY_NAMES[(start + offset) % 7] for offset in range(length))
    return ",".join(parts)
