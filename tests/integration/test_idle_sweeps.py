"""The server's once-a-second sweeps read before they write: a pass with nothing due takes no write lock.

On SQLite the file has one writer. A sweep that took the lock on the database thread every second, whether
or not anything was due, held it 3.5 ms at the median and up to 31 ms at 100 auctions/s (the thread
trading the GIL with a busy event loop), and every worker transaction in that time waited behind it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator

import pytest

from leadrelay.bootstrap import Runtime, build_runtime
from leadrelay.config import Settings
from leadrelay.entrypoints.worker import Worker
from leadrelay.services.postback_relay import PostbackRelay
from tests.support import run_async


@pytest.fixture
def runtime(sqlite_url: str) -> Iterator[Runtime]:
    rt = build_runtime(Settings(database_url=sqlite_url))
    try:
        yield rt
    finally:
        rt.db.dispose()


def test_a_relay_pass_and_an_offer_sweep_with_nothing_due_take_no_write_lock(runtime: Runtime) -> None:
    """Another connection holds the write lock (another process's writer, as far as SQLite can tell): the
    postback relay's pass and the worker's offer sweep both find nothing due and return at once, where a
    write transaction would wait for the lock (up to ``BUSY_TIMEOUT_S``, 30 s)."""
    rt = runtime
    worker = Worker(rt.storage, rt.configs, rt.channels, rt.notifier, rt.sealer)
    relay = PostbackRelay(rt.storage, rt.configs, rt.channels, owner="test-relay")
    path = rt.db.file_path()
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")

        async def passes() -> list[int]:
            return list(await asyncio.wait_for(asyncio.gather(relay.run_once(), worker.expire_offers()), 2))

        assert run_async(passes()) == [0, 0]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
