"""Batched delivery: when the leads waiting for a partner's digest or batch file are cut into one batch.

A batched channel (an email digest, a batch file) does not send each lead: its deliveries wait, and a
batch is cut when its schedule says so. A schedule is any of

- ``cron``: a cron expression on the partner's wall clock (``0 * * * *`` hourly, ``30 8 * * 1-5`` at 8:30 on
  weekdays); the waiting leads go out at the first tick after the oldest of them arrived;
- ``count``: as soon as this many leads wait, they go out (``every 50 leads``);
- ``idle_s``: when no lead has joined the waiting ones for this long.

Whichever comes first cuts the batch. Pure functions; the clock and the waiting leads are passed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

__all__ = ["MAX_BATCH", "BatchSchedule", "Waiting", "check_cron", "due", "next_tick"]

MAX_BATCH = 10_000
"""The most leads in one file or digest; more waiting leads go out in the next batch, cut at once."""


@dataclass(frozen=True, slots=True)
class BatchSchedule:
    cron: str | None = None
    count: int | None = None
    idle_s: float | None = None
    max_leads: int = MAX_BATCH

    def __post_init__(self) -> None:
        if self.cron is None and self.count is None and self.idle_s is None:
            raise ValueError("a schedule needs at least one of cron, count or idle")
        if self.max_leads < 1:  # first: the count is checked against it
            raise ValueError("max_leads must be at least 1")
        if self.cron is not None:
            check_cron(self.cron)
        if self.count is not None and not 0 < self.count <= self.max_leads:
            raise ValueError(f"count must be between 1 and {self.max_leads}, not {self.count}")
        if self.idle_s is not None and not self.idle_s > 0:  # NaN too: it would never fire
            raise ValueError("idle must be a positive duration")

    def describe(self) -> str:
        parts = []
        if self.cron is not None:
            parts.append(f"cron '{self.cron}'")
        if self.count is not None:
            parts.append(f"every {self.count} leads")
        if self.idle_s is not None:
            parts.append(f"after {self.idle_s:g}s without a new lead")
        return " or ".join(parts)


@dataclass(frozen=True, slots=True)
class Waiting:
    """The leads waiting for a partner's next batch: how many, and when the oldest and newest arrived."""

    count: int
    oldest: dt.datetime
    newest: dt.datetime


def check_cron(expression: str) -> None:
    """Raise ``ValueError`` naming what is wrong with a cron expression (five fields, minute first)."""
    if not isinstance(expression, str) or len(expression.split()) != 5:
        raise ValueError(
            f"cron expression {expression!r} must have five fields: minute hour day month weekday"
        )
    try:
        CronSim(expression, dt.datetime(2024, 1, 1))
    except CronSimError as exc:
        raise ValueError(f"cron expression {expression!r} is invalid: {exc}") from None


def next_tick(expression: str, after: dt.datetime, tz: str) -> dt.datetime:
    """The first time strictly after ``after`` that the expression fires on the ``tz`` wall clock (UTC)."""
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    local = after.astimezone(ZoneInfo(tz))
    ticks = iter(CronSim(expression, local))
    # on the night the clocks fall back, ``after`` may be in the repeated hour's second pass: the wall
    # time the expression names next may be its first pass, earlier than ``after``; the tick is the next
    # one after it (the repeated time fires once, as cron has it)
    for _ in range(4):
        tick: dt.datetime = next(ticks).astimezone(dt.UTC)
        if tick > after:
            return tick
    raise AssertionError(f"no tick of {expression!r} after {after.isoformat()}")  # pragma: no cover


def due(schedule: BatchSchedule, waiting: Waiting | None, now: dt.datetime, tz: str) -> str | None:
    """Why a batch is to be cut now (the trigger, for the log), or None when the leads keep waiting."""
    if waiting is None or waiting.count <= 0:
        return None
    if schedule.count is not None and waiting.count >= schedule.count:
        return f"{schedule.count} leads waiting"
    if waiting.count >= schedule.max_leads:
        return f"{schedule.max_leads} leads waiting (the most in one batch)"
    if schedule.cron is not None:
        tick = next_tick(schedule.cron, waiting.oldest, tz)
        if tick <= now:
            local = tick.astimezone(ZoneInfo(tz))
            return f"schedule '{schedule.cron}' ({local:%Y-%m-%d %H:%M} {tz})"
    if schedule.idle_s is not None and (now - waiting.newest).total_seconds() >= schedule.idle_s:
        return f"no new lead for {schedule.idle_s:g}s"
    return None
