"""Pacing and load balancing as pure decisions (``leadrelay.domain.pacing``), with an injected clock:
``pacing: even`` over a simulated day, and the ``least_loaded`` order with its ties."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from leadrelay.domain.hours import parse_hours
from leadrelay.domain.model import CapPeriod
from leadrelay.domain.pacing import (
    LOAD_SCOPE,
    Load,
    even_allowance,
    least_loaded_order,
    load_window,
    open_minutes,
)

PARIS = ZoneInfo("Europe/Paris")
TEN_HOURS = parse_hours({"daily": "08:00-18:00"})


def paris(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A Paris wall-clock time in December 2026 as the UTC instant the worker's clock gives."""
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=PARIS).astimezone(dt.UTC)


def simulate_day(cap: int, hours: object, arrivals_per_minute: int, start: dt.datetime) -> Counter[int]:
    """Leads arrive every minute for 24 h; each is taken while the count is under the allowance (the
    reservation's limit). Returns the leads taken per local hour."""
    used = 0
    per_hour: Counter[int] = Counter()
    for minute in range(24 * 60):
        now = start + dt.timedelta(minutes=minute)
        for _ in range(arrivals_per_minute):
            if used < even_allowance(cap, hours, PARIS, now):  # type: ignore[arg-type]
                used += 1
                per_hour[now.astimezone(PARIS).hour] += 1
    return per_hour


def test_a_100_a_day_buyer_open_10_hours_gets_about_10_an_hour_not_100_at_once() -> None:
    per_hour = simulate_day(100, TEN_HOURS, arrivals_per_minute=5, start=paris(3, 0))
    assert sum(per_hour.values()) == 100
    assert set(per_hour) == set(range(8, 18))  # only in its delivery hours
    assert all(per_hour[h] == 10 for h in range(8, 18)), per_hour


def test_the_first_minutes_get_a_share_not_the_day() -> None:
    assert even_allowance(100, TEN_HOURS, PARIS, paris(3, 8, 0)) == 1
    assert even_allowance(100, TEN_HOURS, PARIS, paris(3, 8, 5)) == 1  # ceil(100 * 6 / 600)
    assert even_allowance(100, TEN_HOURS, PARIS, paris(3, 8, 59)) == 10
    assert even_allowance(100, TEN_HOURS, PARIS, paris(3, 12, 59)) == 50
    assert even_allowance(100, TEN_HOURS, PARIS, paris(3, 17, 59)) == 100
    assert even_allowance(100, TEN_HOURS, PARIS, paris(3, 7, 0)) == 0  # before opening
    assert even_allowance(100, TEN_HOURS, PARIS, paris(3, 20, 0)) == 100  # after closing: the whole day


def test_a_quiet_morning_is_made_up_later() -> None:
    """The allowance is cumulative: a buyer that got nothing until noon may take half its cap at noon."""
    assert even_allowance(100, TEN_HOURS, PARIS, paris(3, 12, 0)) == 41  # ceil(100 * 241 / 600)


NEW_YORK = ZoneInfo("America/New_York")


def taken_per_real_minute(cap: int, hours: object, day: dt.date) -> Counter[dt.datetime]:
    """Leads arriving 50 a minute through every real minute of a New York day (23, 24 or 25 hours), each
    taken while the count is under the allowance: the leads taken per minute."""
    now = dt.datetime.combine(day, dt.time(), tzinfo=NEW_YORK).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=NEW_YORK).astimezone(dt.UTC)
    used = 0
    taken: Counter[dt.datetime] = Counter()
    while now < end:  # at most 25 h of minutes
        for _ in range(50):
            if used < even_allowance(cap, hours, NEW_YORK, now):  # type: ignore[arg-type]
                used += 1
                taken[now] += 1
        now += dt.timedelta(minutes=1)
    return taken


@pytest.mark.parametrize(
    "day", [dt.date(2026, 3, 1), dt.date(2026, 3, 8), dt.date(2026, 11, 1)], ids=["24h", "23h", "25h"]
)
def test_the_days_the_clock_changes_are_paced_in_real_minutes_without_a_burst(day: dt.date) -> None:
    taken = taken_per_real_minute(240, None, day)
    assert sum(taken.values()) == 240
    assert max(taken.values()) == 1  # not a skipped hour's share at once when the clock springs forward


def test_the_skipped_hour_inside_delivery_hours_is_neither_open_nor_elapsed() -> None:
    hours = parse_hours({"daily": "01:00-05:00"})  # 3 real hours on 2026-03-08 in New York

    def at(hour: int, minute: int) -> dt.datetime:
        return dt.datetime(2026, 3, 8, hour, minute, tzinfo=NEW_YORK).astimezone(dt.UTC)

    assert open_minutes(hours, NEW_YORK, at(1, 59)) == (60, 180)
    assert open_minutes(hours, NEW_YORK, at(3, 0)) == (61, 180)  # a real minute after 01:59
    assert even_allowance(100, hours, NEW_YORK, at(3, 0)) == 34  # ceil(100 * 61 / 180), not 51


def test_without_hours_the_day_is_24_hours_and_split_windows_count_only_open_minutes() -> None:
    assert even_allowance(24, None, PARIS, paris(3, 0, 59)) == 1
    assert even_allowance(24, None, PARIS, paris(3, 11, 59)) == 12
    split = parse_hours({"daily": "09:00-12:00,14:00-17:00"})
    assert open_minutes(split, PARIS, paris(3, 13)) == (180, 360)  # the lunch break is not open time
    per_hour = simulate_day(60, split, arrivals_per_minute=3, start=paris(3, 0))
    assert sum(per_hour.values()) == 60
    assert set(per_hour) == {9, 10, 11, 14, 15, 16}
    assert all(per_hour[h] == 10 for h in per_hour)


def test_a_closed_day_is_not_paced_and_the_clock_must_be_aware() -> None:
    weekdays = parse_hours({"mon-fri": "08:00-18:00"})
    assert even_allowance(100, weekdays, PARIS, paris(5, 10)) == 100  # Saturday: hours keep it closed
    with pytest.raises(ValueError):
        even_allowance(100, None, PARIS, dt.datetime(2026, 12, 3, 10))


def test_the_allowance_follows_the_partner_time_zone() -> None:
    ny = ZoneInfo("America/New_York")
    now = dt.datetime(2026, 12, 3, 13, 59, tzinfo=dt.UTC)  # 08:59 in New York
    assert even_allowance(100, TEN_HOURS, ny, now) == 10
    assert even_allowance(100, TEN_HOURS, PARIS, now) == 70  # 14:59 in Paris


# ---------------------------------------------------------------- least_loaded


def test_load_window_is_the_tightest_cap_else_the_day_count() -> None:
    now = paris(3, 9, 30)
    assert load_window({CapPeriod.DAY: 50, CapPeriod.HOUR: 5}, PARIS, now) == (
        "",
        "h:2026-12-03T09",
        5,
        CapPeriod.HOUR,
    )
    assert load_window({CapPeriod.WEEK: 200}, PARIS, now)[1:] == ("w:2026-W49", 200, CapPeriod.WEEK)
    assert load_window({}, PARIS, now) == (LOAD_SCOPE, "d:2026-12-03", None, CapPeriod.DAY)


def test_least_loaded_is_relative_to_the_cap() -> None:
    loads = {
        "big": Load(30, 100, CapPeriod.DAY),  # 30 %
        "small": Load(4, 10, CapPeriod.DAY),  # 40 %
        "fresh": Load(1, 10, CapPeriod.HOUR),  # 10 %
    }
    assert least_loaded_order(["big", "small", "fresh"], loads) == ["fresh", "big", "small"]


def test_ties_go_by_priority_order_exactly() -> None:
    loads = {
        "a": Load(4, 6, CapPeriod.DAY),
        "b": Load(2, 3, CapPeriod.DAY),  # 2/3 == 4/6: a tie, compared exactly
        "c": Load(0, 5, CapPeriod.DAY),
        "d": Load(0, 9, CapPeriod.DAY),
    }
    assert least_loaded_order(["a", "b", "c", "d"], loads) == ["c", "d", "a", "b"]
    assert least_loaded_order(["b", "a", "d", "c"], loads) == ["d", "c", "b", "a"]


def test_uncapped_partners_compare_by_their_day_count_and_count_as_empty() -> None:
    loads = {
        "rep1": Load(7, None, CapPeriod.DAY),
        "rep2": Load(3, None, CapPeriod.DAY),
        "rep3": Load(3, None, CapPeriod.DAY),
        "capped": Load(1, 10, CapPeriod.DAY),
    }
    assert least_loaded_order(["rep1", "rep2", "rep3"], loads) == ["rep2", "rep3", "rep1"]
    assert least_loaded_order(["capped", "rep1"], loads) == ["rep1", "capped"]


def test_least_loaded_spreads_a_stream_of_leads_evenly() -> None:
    """Taking the least loaded each time and counting the lead there fills partners in proportion to caps."""
    caps = {"a": 10, "b": 20, "c": 30}
    used = dict.fromkeys(caps, 0)
    for _ in range(30):
        loads = {n: Load(used[n], caps[n], CapPeriod.DAY) for n in caps}
        used[least_loaded_order(list(caps), loads)[0]] += 1
    assert used == {"a": 5, "b": 10, "c": 15}


def test_delivery_hours_that_open_inside_the_skipped_hour_open_when_the_clock_jumps() -> None:
    """02:30-10:00 on the day New York skips 02:00-03:00: open from 03:00 (as the hours check, a wall
    clock, sees it), 7 real hours; not paced to nothing for its first half hour."""
    hours = parse_hours({"daily": "02:30-10:00"})

    def at(hour: int, minute: int) -> dt.datetime:
        return dt.datetime(2026, 3, 8, hour, minute, tzinfo=NEW_YORK).astimezone(dt.UTC)

    assert open_minutes(hours, NEW_YORK, at(3, 0)) == (1, 420)
    assert even_allowance(100, hours, NEW_YORK, at(3, 0)) == 1
    assert even_allowance(100, hours, NEW_YORK, at(9, 59)) == 100
