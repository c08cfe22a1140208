"""Wake-ups: intake tells the workers there is work; workers tell waiting requests a lead is done.

Within a process the word is an ``asyncio.Event``. Across processes it goes through the ``relay``
(``services.ports.WakeRelay``: PostgreSQL's LISTEN/NOTIFY, or datagrams between SQLite's processes) when
one is set, and what the relay hears from the other processes comes back here (``heard_work``,
``heard_done``). Workers also poll, and waiting requests also read the database: without a relay, or when
a word is lost, that is the way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from leadrelay.services.ports import WakeRelay


class Notifier:
    def __init__(self) -> None:
        self._work = asyncio.Event()
        self._leads: dict[str, asyncio.Event] = {}
        self.local_workers = False  # worker loops run in this process: they say when a lead is done
        self.relay: WakeRelay | None = None  # word to and from the installation's other processes

    def poll_steps(self) -> Iterator[float]:
        """How long a waiting request waits between reads of its lead: when word of a lead done reaches
        it (worker loops in this process, or the relay listening), a read is only a safety net, 0.25 s
        after the lead is written, then 0.5 s and every second (a lead that takes longer is late because
        the workers are behind, and reads every 0.25 s would add to their load); otherwise (``serve
        --workers 0``, the workers in other processes, no relay), reads come soon after the lead is written
        (20 ms), then less often, every 0.25 s. The last read is at the request's deadline either way."""
        told = self.local_workers or (self.relay is not None and self.relay.listening)
        step, longest = (0.25, 1.0) if told else (0.02, 0.25)
        while True:
            yield step
            step = min(step * 2, longest)

    def jobs_added(self) -> None:
        self._work.set()
        if self.relay is not None:
            self.relay.work_added()

    def heard_work(self) -> None:
        """Another process added jobs (word through the relay): wake this process's workers."""
        self._work.set()

    async def wait_work(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._work.wait(), seconds)
        self._work.clear()

    def lead_done(self, lead_id: str) -> None:
        """The lead's outcome is known: wake its waiting requests here; when none waits here, tell the
        other processes (a request there may wait for it)."""
        if not self._wake(lead_id) and self.relay is not None:
            self.relay.lead_done(lead_id)

    def heard_done(self, lead_id: str) -> None:
        """Another process finished the lead (word through the relay): wake its waiting requests here."""
        self._wake(lead_id)

    def _wake(self, lead_id: str) -> bool:
        """Wake the lead's waiting requests in this process; whether any waited."""
        event = self._leads.pop(lead_id, None)
        if event is None:
            return False
        event.set()
        return True

    def watch(self, lead_id: str) -> asyncio.Event:
        """An event set when the lead is next done (shared by every watcher of the lead). Watch before
        reading the lead's state: a lead done between the read and the wait still wakes the watcher."""
        return self._leads.setdefault(lead_id, asyncio.Event())

    def unwatch(self, lead_id: str, event: asyncio.Event) -> None:
        if self._leads.get(lead_id) is event:
            del self._leads[lead_id]
