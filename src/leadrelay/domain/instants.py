"""An instant given by a caller (an API parameter, a CLI option) as the storage compares it: UTC-aware.

A time without an offset is read as UTC. One that is well formed but whose UTC reading falls outside the
calendar (``0001-01-01T00:00:00+05:00`` is in the year 0 in UTC, ``9999-12-31T23:59:59-05:00`` in 10000) is
a ``ValueError`` with a reader's message, not the ``OverflowError`` a later conversion or query would raise.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utc_instant"]


def utc_instant(at: datetime) -> datetime:
    """``at`` in UTC (a naive ``at`` is UTC); ``ValueError`` when that is outside the calendar."""
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the calendar in UTC (years 1 to 9999)") from None
