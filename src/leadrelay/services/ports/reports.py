"""The reports' repository: the hourly facts of the stored tables, and their rollup (``report_hours``) with
its watermark (``report_watermark``). See ``leadrelay.domain.reports`` for what each counter counts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from leadrelay.domain.reports import COUNTERS, Row


class ReportFacts(Protocol):
    def facts(
        self, hour: datetime, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[Row]:
        """The counters of one UTC hour, computed from the stored leads, deliveries, attempts, bids and
        ledger entries, one row per (source, entity, partner, profile) with anything to count. ``since``,
        ``until``: only what happened in that part of the hour (the rows still stamped with the hour); the
        parts of an hour add up to it, every fact being counted at one time."""
        ...

    def first_hour(self, since: datetime | None = None) -> datetime | None:
        """The earliest time anything was counted (a lead or a ledger entry); None when there is nothing.
        With ``since``: the earliest time at or after it that any fact counted in an hour happened (a lead,
        a delivery made or sold, an attempt, a ledger entry, a postback); None: nothing since."""
        ...

    def rolled_until(self) -> datetime | None:
        """The hour the rollup reaches (excluded): every hour before it is in ``report_hours``; None: none."""
        ...

    def advance(self, rolled_until: datetime | None, to: datetime) -> bool:
        """Move the watermark from ``rolled_until`` to ``to`` if it is still there (one conditional update:
        of several workers, one wins); False when another moved it first."""
        ...

    def store(self, rows: Sequence[Row]) -> None:
        """Add rollup rows (each keyed by its hour and all four dimensions; the hour not rolled up yet)."""
        ...

    def sum_days(self, days: Sequence[datetime]) -> None:
        """Sum each of these UTC days' rolled hours into the daily rollup (every hour of them rolled)."""
        ...

    def rolled(
        self,
        since: datetime,
        until: datetime,
        dims: Sequence[str],
        *,
        cuts: Sequence[datetime] = (),
        counters: Sequence[str] = COUNTERS,
    ) -> list[Row]:
        """The rollup's hours from ``since`` up to ``until`` (excluded) summed into ``dims``: per hour, or,
        given ``cuts`` (where the report's buckets start), per bucket, each row stamped with its start
        (read as ``domain.report_spans.spans`` says: UTC days from the daily rollup, hours added or taken
        away at the edges; a group whose figures net to zero is left out). Only the ``counters`` named are
        summed (the others are left out of the rows)."""
        ...
