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
    """Run ``purge`` (erase the leads older than its argument, return how many) in a thread, now and every
    ``every_s`` seconds, until cancelled."""
    what = f"leads' personal data (> {days} days old)"
    await sweep(what, lambda: asyncio.to_thread(purge, timedelta(days=days)), every_s=every_s)


async def sweep(what: str, forget: Callable[[], Awaitable[int]], *, every_s: float = EVERY_S) -> None:
    """Run ``forget`` (drop what has been kept long enough, return how many) now and every ``every_s``
    seconds, until cancelled; a failed run is logged and the next one comes on time (the retention
    period's erasure, the console imports' rejects files and folders, the hosted form's old counts)."""
    while True:
        try:
            dropped = await forget()
            if dropped:
                log.info("retention: dropped %d %s", dropped, what)
        except Exception:
            log.exception("dropping old %s failed; trying again in %.0f s", what, every_s)
        await asyncio.sleep(every_s)
