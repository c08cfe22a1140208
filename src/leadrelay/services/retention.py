"""Retention: erase the personal data of leads older than the retention period, now and every hour.

The erasing itself is ``Privacy.purge_sync`` (``services.privacy``); this loop only runs it on a schedule,
in a thread so the event loop keeps serving, and keeps going when one run fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

__all__ = ["EVERY_S", "retain", "sweep"]

log = logging.getLogger("leadrelay")

EVERY_S = 3600.0  # between two runs


async def retain(purge: Callable[[timedelta], int], days: int, *, every_s: float = EVERY_S) -> None:
    """Run ``purge`` (erase the leads older than its argument, return how many) now and every ``every_s``
    seconds, until cancelled."""
    while True:
        try:
            erased = await asyncio.to_thread(purge, timedelta(days=days))
            if erased:
                log.info("retention: erased the personal data of %d leads (> %d days old)", erased, days)
        except Exception:
            log.exception("retention purge failed; trying again in an hour")
        await asyncio.sleep(every_s)


async def sweep(what: str, forget: Callable[[], Awaitable[int]], *, every_s: float = EVERY_S) -> None:
    """Run ``forget`` (drop what has been kept long enough, return how many) now and every ``every_s``
    seconds, until cancelled: the console imports' rejects files (kept a day)."""
    while True:
        try:
            dropped = await forget()
            if dropped:
                log.info("retention: dropped %d %s", dropped, what)
        except Exception:
            log.exception("dropping old %s failed; trying again in %.0f s", what, every_s)
        await asyncio.sleep(every_s)
