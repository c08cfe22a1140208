"""In-process wake-ups: intake tells the workers there is work; workers tell waiting requests a lead is done.

Across processes nothing is shared: workers also poll, and waiting requests also read the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class Notifier:
    def __init__(self) -> None:
        self._work = asyncio.Event()
        self._leads: dict[str, asyncio.Event] = {}
        self.local_workers = False  # worker loops run in this process: they say when a lead is done

    def poll_steps(self) -> Iterator[float]:
        """How long a waiting request waits between reads of its lead: with workers in this process their
        word wakes it and a read every 0.25 s is only a safety net; without (``serve --workers 0``, the
        workers in other processes), reads come soon after the lead is written (20 ms), then less often."""
        step = 0.25 if self.local_workers else 0.02
        while True:
            yield step
            step = min(step * 2, 0.25)

    def jobs_added(self) -> None:
        self._work.set()

    async def wait_work(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._work.wait(), seconds)
        self._work.clear()

    def lead_done(self, lead_id: str) -> None:
        event = self._leads.pop(lead_id, None)
        if event is not None:
            event.set()

    def watch(self, lead_id: str) -> asyncio.Event:
        """An event set when the lead is next done (shared by every watcher of the lead). Watch before
        reading the lead's state: a lead done between the read and the wait still wakes the watcher."""
        return self._leads.setdefault(lead_id, asyncio.Event())

    def unwatch(self, lead_id: str, event: asyncio.Event) -> None:
        if self._leads.get(lead_id) is event:
            del self._leads[lead_id]

    async def wait_lead(self, lead_id: str, seconds: float) -> None:
        event = self.watch(lead_id)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), seconds)
        finally:
            self.unwatch(lead_id, event)
