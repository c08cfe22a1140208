"""When a batch is cut: count, cron on the partner's wall clock (across DST changes), idle time, the most
leads in one batch; the description for logs; invalid schedules refused with clear text."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from leadrelay.domain.batches import MAX_BATCH, BatchSchedule, Waiting, check_cron, due, next_tick

UTC = dt.UTC
CHICAGO = "America/Chicago"


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def waiting(count: int, oldest: dt.datetime, newest: dt.datetime | None = None) -> Waiting:
    return Waiting(count=count, oldest=oldest, newest=newest or oldest)


# ---------------------------------------------------------------- nothing waiting


@pytest.mark.parametrize("queue", [None, waiting(0, utc(2024, 5, 1, 12))])
def test_nothing_waiting_is_never_due(queue: Waiting | None) -> None:
    schedule = BatchSchedule(cron="* * * * *", count=1, idle_s=1)
    assert due(schedule, queue, utc(2030, 1, 1), CHICAGO) is None


# ---------------------------------------------------------------- count


def test_count_cuts_a_batch_as_soon_as_enough_leads_wait() -> None:
    schedule = BatchSchedule(count=3)
    t = utc(2024, 5, 1, 12)
    assert due(schedule, waiting(2, t), t, CHICAGO) is None
    assert due(schedule, waiting(3, t), t, CHICAGO) == "3 leads waiting"
    assert due(schedule, waiting(7, t), t, CHICAGO) == "3 leads waiting"  # a backlog goes out too


def test_count_comes_before_a_cron_tick_not_yet_reached() -> None:
    schedule = BatchSchedule(cron="0 8 * * *", count=2)
    oldest = utc(2024, 5, 1, 12)  # 07:00 in Chicago: the tick is an hour away
    assert due(schedule, waiting(2, oldest), oldest, CHICAGO) == "2 leads waiting"
    assert due(schedule, waiting(1, oldest), oldest, CHICAGO) is None


# ---------------------------------------------------------------- max_leads


def test_the_most_leads_in_one_batch_cut_a_batch_at_once() -> None:
    schedule = BatchSchedule(cron="0 8 * * *", max_leads=5)
    t = utc(2024, 5, 1, 12)
    assert due(schedule, waiting(4, t), t, CHICAGO) is None
    assert due(schedule, waiting(5, t), t, CHICAGO) == "5 leads waiting (the most in one batch)"
    assert due(schedule, waiting(9, t), t, CHICAGO) == "5 leads waiting (the most in one batch)"


def test_max_leads_defaults_to_max_batch() -> None:
    schedule = BatchSchedule(idle_s=3600)
    t = utc(2024, 5, 1, 12)
    assert schedule.max_leads == MAX_BATCH
    assert due(schedule, waiting(MAX_BATCH - 1, t), t, CHICAGO) is None
    assert (
        due(schedule, waiting(MAX_BATCH, t), t, CHICAGO)
        == f"{MAX_BATCH} leads waiting (the most in one batch)"
    )


# ---------------------------------------------------------------- cron


def test_cron_fires_at_the_first_tick_after_the_oldest_lead_on_the_partners_clock() -> None:
    schedule = BatchSchedule(cron="30 8 * * *")
    oldest = utc(2024, 5, 1, 15)  # 10:00 CDT: today's 08:30 has passed, the tick is tomorrow's
    tick = utc(2024, 5, 2, 13, 30)  # 08:30 CDT (UTC-5)
    assert next_tick("30 8 * * *", oldest, CHICAGO) == tick
    queue = waiting(4, oldest, utc(2024, 5, 2, 13, 29))
    assert due(schedule, queue, tick - dt.timedelta(seconds=1), CHICAGO) is None
    assert due(schedule, queue, tick, CHICAGO) == "schedule '30 8 * * *' (2024-05-02 08:30 America/Chicago)"
    # late (the worker was down): still due, still named by the tick it was due at
    later = tick + dt.timedelta(hours=30)
    assert due(schedule, queue, later, CHICAGO) == "schedule '30 8 * * *' (2024-05-02 08:30 America/Chicago)"


def test_the_same_cron_is_a_different_instant_in_another_time_zone() -> None:
    oldest = utc(2024, 5, 1, 0)
    assert next_tick("30 8 * * *", oldest, "UTC") == utc(2024, 5, 1, 8, 30)
    assert next_tick("30 8 * * *", oldest, CHICAGO) == utc(2024, 5, 1, 13, 30)
    assert next_tick("30 8 * * *", oldest, "Asia/Tokyo") == utc(2024, 5, 1, 23, 30)


def test_the_tick_is_strictly_after_the_oldest_lead() -> None:
    at_tick = utc(2024, 5, 1, 13, 30)  # 08:30 CDT exactly: that tick is not "after" it
    assert next_tick("30 8 * * *", at_tick, CHICAGO) == utc(2024, 5, 2, 13, 30)
    assert next_tick("30 8 * * *", at_tick + dt.timedelta(milliseconds=500), CHICAGO) == utc(
        2024, 5, 2, 13, 30
    )
    assert next_tick("30 8 * * *", at_tick - dt.timedelta(seconds=1), CHICAGO) == at_tick


def test_next_tick_takes_any_aware_time_and_refuses_a_naive_one() -> None:
    chicago_time = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert next_tick("30 8 * * *", chicago_time, CHICAGO) == utc(2024, 5, 2, 13, 30)
    assert next_tick("30 8 * * *", chicago_time, CHICAGO).tzinfo == UTC
    with pytest.raises(ValueError, match="aware"):
        next_tick("30 8 * * *", dt.datetime(2024, 5, 1, 10), CHICAGO)


# 2024 in Chicago: clocks go 02:00 CST → 03:00 CDT on March 10 and 02:00 CDT → 01:00 CST on November 3
@pytest.mark.parametrize(
    ("expression", "after", "tick", "local"),
    [
        # 08:30 on the day clocks go forward is 08:30 CDT (UTC-5), an hour earlier in UTC than the day before
        ("30 8 * * *", utc(2024, 3, 9, 15), utc(2024, 3, 10, 13, 30), "2024-03-10 08:30"),
        ("30 8 * * *", utc(2024, 3, 8, 15), utc(2024, 3, 9, 14, 30), "2024-03-09 08:30"),
        # 02:30 does not exist that day: the tick is when the clock jumps, 03:00 CDT
        ("30 2 * * *", utc(2024, 3, 9, 15), utc(2024, 3, 10, 8, 0), "2024-03-10 03:00"),
        # hourly across the jump: 01:00 CST, then 03:00 CDT, one real hour apart
        ("0 * * * *", utc(2024, 3, 10, 7, 10), utc(2024, 3, 10, 8, 0), "2024-03-10 03:00"),
        # 08:30 on the day clocks go back is 08:30 CST (UTC-6)
        ("30 8 * * *", utc(2024, 11, 2, 15), utc(2024, 11, 3, 14, 30), "2024-11-03 08:30"),
        # 01:30 happens twice that day: it fires once, at the first (CDT)
        ("30 1 * * *", utc(2024, 11, 2, 15), utc(2024, 11, 3, 6, 30), "2024-11-03 01:30"),
        ("30 1 * * *", utc(2024, 11, 3, 6, 30), utc(2024, 11, 4, 7, 30), "2024-11-04 01:30"),
        # hourly across the repeated hour: 01:00 CDT, then 01:00 CST an hour later
        ("0 * * * *", utc(2024, 11, 3, 6, 10), utc(2024, 11, 3, 7, 0), "2024-11-03 01:00"),
    ],
)
def test_cron_follows_the_wall_clock_across_daylight_saving_changes(
    expression: str, after: dt.datetime, tick: dt.datetime, local: str
) -> None:
    assert next_tick(expression, after, CHICAGO) == tick
    schedule = BatchSchedule(cron=expression)
    queue = waiting(1, after)
    assert due(schedule, queue, tick - dt.timedelta(minutes=1), CHICAGO) is None
    assert due(schedule, queue, tick, CHICAGO) == f"schedule '{expression}' ({local} {CHICAGO})"


def test_a_weekday_cron_waits_over_the_weekend() -> None:
    schedule = BatchSchedule(cron="30 8 * * 1-5")
    friday_evening = utc(2024, 5, 3, 23)  # Friday 18:00 CDT
    monday = utc(2024, 5, 6, 13, 30)  # Monday 08:30 CDT
    assert next_tick("30 8 * * 1-5", friday_evening, CHICAGO) == monday
    queue = waiting(12, friday_evening, utc(2024, 5, 5, 20))
    for now in (utc(2024, 5, 4, 13, 30), utc(2024, 5, 5, 13, 30), monday - dt.timedelta(seconds=1)):
        assert due(schedule, queue, now, CHICAGO) is None  # Saturday and Sunday 08:30 are not ticks
    assert (
        due(schedule, queue, monday, CHICAGO) == "schedule '30 8 * * 1-5' (2024-05-06 08:30 America/Chicago)"
    )
    # a lead from Monday 08:00 goes out at 08:30 the same day
    assert next_tick("30 8 * * 1-5", utc(2024, 5, 6, 13), CHICAGO) == monday


def test_weekday_names_in_cron() -> None:
    friday = utc(2024, 5, 3, 23)
    assert next_tick("0 9 * * mon-fri", friday, CHICAGO) == utc(2024, 5, 6, 14)


def test_the_weekday_is_the_partners_not_utcs() -> None:
    # Friday 20:00 in Chicago is already Saturday 01:00 in UTC: the Friday 21:00 tick still counts
    friday_night = utc(2024, 5, 4, 1)
    assert next_tick("0 21 * * 5", friday_night, CHICAGO) == utc(2024, 5, 4, 2)


# ---------------------------------------------------------------- idle


def test_idle_cuts_a_batch_when_no_lead_joined_for_that_long() -> None:
    schedule = BatchSchedule(idle_s=600)
    newest = utc(2024, 5, 1, 12, 0)
    queue = waiting(3, utc(2024, 5, 1, 9), newest)
    assert due(schedule, queue, newest + dt.timedelta(seconds=599), CHICAGO) is None
    assert due(schedule, queue, newest + dt.timedelta(seconds=600), CHICAGO) == "no new lead for 600s"
    assert due(BatchSchedule(idle_s=1.5), queue, newest + dt.timedelta(seconds=2), CHICAGO) == (
        "no new lead for 1.5s"
    )


def test_idle_counts_from_the_newest_lead_not_the_oldest() -> None:
    schedule = BatchSchedule(idle_s=600)
    queue = waiting(3, utc(2024, 5, 1, 9), utc(2024, 5, 1, 12))
    assert due(schedule, queue, utc(2024, 5, 1, 12, 5), CHICAGO) is None


def test_whichever_comes_first_cron_or_idle() -> None:
    schedule = BatchSchedule(cron="0 17 * * *", idle_s=3600)
    oldest = utc(2024, 5, 1, 14)  # 09:00 CDT; the tick is 17:00 CDT = 22:00 UTC
    busy = waiting(5, oldest, utc(2024, 5, 1, 21, 50))
    assert (
        due(schedule, busy, utc(2024, 5, 1, 22), CHICAGO)
        == "schedule '0 17 * * *' (2024-05-01 17:00 America/Chicago)"
    )
    quiet = waiting(5, oldest, utc(2024, 5, 1, 15))
    assert due(schedule, quiet, utc(2024, 5, 1, 16), CHICAGO) == "no new lead for 3600s"
    assert due(schedule, quiet, utc(2024, 5, 1, 15, 59), CHICAGO) is None


# ---------------------------------------------------------------- describe


@pytest.mark.parametrize(
    ("schedule", "text"),
    [
        (BatchSchedule(cron="0 * * * *"), "cron '0 * * * *'"),
        (BatchSchedule(count=50), "every 50 leads"),
        (BatchSchedule(idle_s=900), "after 900s without a new lead"),
        (BatchSchedule(idle_s=0.5), "after 0.5s without a new lead"),
        (
            BatchSchedule(cron="30 8 * * 1-5", count=50, idle_s=600),
            "cron '30 8 * * 1-5' or every 50 leads or after 600s without a new lead",
        ),
    ],
)
def test_describe(schedule: BatchSchedule, text: str) -> None:
    assert schedule.describe() == text


# ---------------------------------------------------------------- invalid schedules


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({}, "a schedule needs at least one of cron, count or idle"),
        (
            {"cron": "0 8 * *"},
            "cron expression '0 8 * *' must have five fields: minute hour day month weekday",
        ),
        ({"cron": "0 0 8 * * *"}, "must have five fields"),
        ({"cron": "@daily"}, "must have five fields"),
        ({"cron": ""}, "must have five fields"),
        ({"cron": "61 * * * *"}, "cron expression '61 * * * *' is invalid: Bad minute"),
        ({"cron": "0 24 * * *"}, "is invalid: Bad hour"),
        ({"cron": "0 8 30 2 *"}, "is invalid: Bad day-of-month"),  # February 30th never comes
        ({"cron": "0 8 * 13 *"}, "is invalid: Bad month"),
        ({"cron": "0 8 * * 8"}, "is invalid: Bad day-of-week"),
        ({"cron": "*/0 * * * *"}, "is invalid"),
        ({"count": 0}, "count must be between 1 and 10000, not 0"),
        ({"count": -5}, "count must be between 1 and 10000, not -5"),
        ({"count": MAX_BATCH + 1}, f"count must be between 1 and {MAX_BATCH}, not {MAX_BATCH + 1}"),
        ({"count": 6, "max_leads": 5}, "count must be between 1 and 5, not 6"),
        ({"idle_s": 0}, "idle must be a positive duration"),
        ({"idle_s": -1.0}, "idle must be a positive duration"),
        ({"idle_s": math.nan}, "idle must be a positive duration"),
        ({"idle_s": 60, "max_leads": 0}, "max_leads must be at least 1"),
        ({"count": 1, "max_leads": 0}, "max_leads must be at least 1"),
    ],
)
def test_invalid_schedules_are_refused_with_clear_text(options: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError) as caught:
        BatchSchedule(**options)
    assert error in str(caught.value)


@pytest.mark.parametrize(
    "expression", ["0 8 * * *", "*/15 * * * *", "30 8 * * 1-5", "0 9 * * mon-fri", "0 0 1 */3 *"]
)
def test_valid_cron_expressions_pass(expression: str) -> None:
    check_cron(expression)
    assert BatchSchedule(cron=expression).cron == expression


def test_check_cron_refuses_what_is_not_text() -> None:
    with pytest.raises(ValueError, match="must have five fields"):
        check_cron(5)  # type: ignore[arg-type]


def test_in_the_repeated_hour_of_the_fall_back_night_the_next_tick_is_after_not_before() -> None:
    """01:10 EST (06:10 UTC, the hour's second pass): "30 1 * * *" named 01:30 EDT (05:30 UTC), an hour
    before, and a lead arriving then was cut at once (black-box pass, 2026-12-06). The repeated 01:30 fires
    once; the next is the next day's."""
    new_york = "America/New_York"
    second_pass = utc(2026, 11, 1, 6, 10)
    assert next_tick("30 1 * * *", second_pass, new_york) == utc(2026, 11, 2, 6, 30)
    assert next_tick("30 1 * * *", utc(2026, 11, 1, 5, 10), new_york) == utc(2026, 11, 1, 5, 30)  # first pass
    assert next_tick("*/15 * * * *", second_pass, new_york) == utc(2026, 11, 1, 6, 15)
    waiting = Waiting(1, second_pass, second_pass)
    a_second_later = second_pass + dt.timedelta(seconds=1)
    assert due(BatchSchedule(cron="30 1 * * *"), waiting, a_second_later, new_york) is None
