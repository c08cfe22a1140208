"""The retention loop: it purges at once and again after each pause, and a failed run does not end it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from leadrelay.services.retention import retain, sweep


def test_retain_purges_now_and_on_schedule_and_survives_a_failure() -> None:
    calls: list[timedelta] = []

    def purge(older_than: timedelta) -> int:
        calls.append(older_than)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return 3

    async def run() -> None:
        task = asyncio.create_task(retain(purge, 30, every_s=0.001))
        while len(calls) < 4:
            await asyncio.sleep(0.001)
        task.cancel()

    asyncio.run(run())
    assert calls[:4] == [timedelta(days=30)] * 4


def test_sweep_drops_now_and_on_schedule_and_survives_a_failure() -> None:
    """The console imports' rejects files are dropped a day after their import by every worker process,
    whether or not another import starts."""
    calls: list[int] = []

    async def forget() -> int:
        calls.append(len(calls))
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return 1

    async def run() -> None:
        task = asyncio.create_task(sweep("rejects files", forget, every_s=0.001))
        while len(calls) < 4:
            await asyncio.sleep(0.001)
        task.cancel()

    asyncio.run(run())
    assert calls[:4] == [0, 1, 2, 3]
