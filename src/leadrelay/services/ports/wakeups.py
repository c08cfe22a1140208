"""Word between the processes of one installation: new jobs to claim, leads whose outcome is known.

Within a process, ``services.notify.Notifier`` wakes the worker loops and the waiting requests at once.
Across processes (``serve --workers 0`` beside ``leadrelay worker`` processes) the same word goes through a
``WakeRelay``: PostgreSQL's LISTEN/NOTIFY (``adapters.db.wakeups``), or datagrams between SQLite's
processes on one machine (``adapters.db.local_wakeups``). It is best effort: the workers still poll and a
waiting request still reads the database, so a lost word costs time, never a lead.
"""

from __future__ import annotations

from typing import Protocol


class WakeRelay(Protocol):
    @property
    def listening(self) -> bool:
        """Whether word from the other processes reaches this one now (its listener is connected)."""
        ...

    def start(self) -> None:
        """Start listening and telling, in the running event loop."""

    def work_added(self) -> None:
        """Tell the other processes' workers that jobs are due (coalesced; returns at once)."""

    def lead_done(self, lead_id: str) -> None:
        """Tell the other processes that the lead's outcome is known (batched; returns at once)."""

    async def close(self) -> None:
        """Stop listening and telling; its connections are closed."""
