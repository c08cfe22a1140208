"""SQLite: a quick write waits on the event loop for a write lock another connection holds (most often this
process's own database thread), one waiter trying at a time, and goes to the database thread only past
``LOOP_PATIENCE_S``; cancelled meanwhile it leaves nothing behind, and a failed ROLLBACK on the loop drops
the connection rather than keep a transaction and the lock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, event

from leadrelay.adapters.db import on_the_loop, sqlite_lock
from leadrelay.adapters.db.engine import Database
from leadrelay.errors import StorageError

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.transaction(lambda c: c.exec_driver_sql("CREATE TABLE lock_t (a INTEGER PRIMARY KEY)"))
    try:
        yield database
    finally:
        database.dispose()


def _insert(n: int) -> Callable[[Connection], int]:
    """A write of row ``n`` that tells the thread it ran on."""

    def write(conn: Connection) -> int:
        conn.exec_driver_sql(f"INSERT INTO lock_t (a) VALUES ({n})")
        return threading.get_ident()

    return write


def _values(db: Database) -> list[int]:
    return [r[0] for r in db.read(lambda c: c.exec_driver_sql("SELECT a FROM lock_t ORDER BY a").all())]


@dataclass
class Waited:
    loop_thread: int
    ran_on: list[int]  # the thread each quick write ran on
    ticks: int  # how often a ticker on the loop ran while the writes waited (one every 5 ms)
    tries: int  # the quick writes' tries for the lock while it was held (``OnTheLoop._try_begin``)


def _hold_then_write(
    db: Database, monkeypatch: pytest.MonkeyPatch, held_s: float, writers: int = 1
) -> Waited:
    """Another connection (another process's writer, as far as SQLite can tell) holds the write lock for
    ``held_s`` while ``writers`` quick writes wait for it."""
    other = Database(db.url)
    holding, release = threading.Event(), threading.Event()
    tries = 0
    try_begin = on_the_loop.OnTheLoop._try_begin

    async def counted(self: on_the_loop.OnTheLoop, relaxed: bool) -> object:
        nonlocal tries
        tries += 1
        return await try_begin(self, relaxed)

    monkeypatch.setattr(on_the_loop.OnTheLoop, "_try_begin", counted)

    def hold(conn: Connection) -> None:
        conn.exec_driver_sql("INSERT INTO lock_t (a) VALUES (0)")
        holding.set()
        release.wait(10)

    holder = threading.Thread(target=lambda: other.transaction(hold))
    try:
        holder.start()
        assert holding.wait(10)

        async def main() -> Waited:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.005)

            ticking = asyncio.ensure_future(ticker())
            tasks = [asyncio.ensure_future(db.run(_insert(n), quick=True)) for n in range(1, writers + 1)]
            await asyncio.sleep(held_s)
            assert not any(task.done() for task in tasks)  # waiting for the lock
            tried = tries  # not those during the holder's durable COMMIT (slow on a loaded machine)
            release.set()
            ran_on = list(await asyncio.gather(*tasks))
            ticking.cancel()
            return Waited(threading.get_ident(), ran_on, ticks, tried)

        waited = asyncio.run(main())
        holder.join(10)
        assert _values(db) == list(range(writers + 1))  # the holder's row, then each write's, once
        return waited
    finally:
        release.set()
        holder.join(10)
        other.dispose()


def test_a_quick_write_waits_on_the_loop_and_runs_there_once_the_lock_is_free(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never queued on the database thread behind the holder; the loop goes on meanwhile."""
    monkeypatch.setattr(on_the_loop, "LOOP_PATIENCE_S", 5.0)  # the release's commit on a loaded machine
    waited = _hold_then_write(db, monkeypatch, 0.1)
    assert waited.ran_on == [waited.loop_thread]
    assert waited.ticks >= 5  # not blocked while the write waited


def test_many_waiting_writes_share_one_try_at_a_time(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Twenty quick writes wait 0.2 s for the lock: one tries again (about every millisecond), the others
    wait their turn without trying, so the tries are about those of one waiter, not twenty times as many;
    then all run on the loop."""
    monkeypatch.setattr(on_the_loop, "LOOP_PATIENCE_S", 5.0)
    waited = _hold_then_write(db, monkeypatch, 0.2, writers=20)
    assert waited.ran_on == [waited.loop_thread] * 20
    # one waiter's tries (at most about 200 in 0.2 s) and each write's own; every one trying: over 2,000
    assert waited.tries < 20 + 300, waited.tries


@pytest.mark.parametrize("writers", [1, 3])
def test_a_quick_write_goes_to_the_database_thread_when_the_lock_is_held_longer(
    db: Database, monkeypatch: pytest.MonkeyPatch, writers: int
) -> None:
    """Past ``LOOP_PATIENCE_S`` (each waiter's own, also one that waited its turn behind another) it gives
    up waiting on the loop and waits on the database thread instead (which waits up to
    ``BUSY_TIMEOUT_S``); each write still runs, once."""
    monkeypatch.setattr(on_the_loop, "LOOP_PATIENCE_S", 0.02)
    waited = _hold_then_write(db, monkeypatch, 0.1, writers=writers)
    assert waited.loop_thread not in waited.ran_on
    assert waited.ticks >= 5


def test_a_write_cancelled_while_it_waits_leaves_nothing_behind(db: Database) -> None:
    """A caller gone while its write waited for the lock (a client that hung up): nothing was written,
    nothing is held, and the next quick write runs on the loop at once."""
    path = db.file_path()
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None)

    async def main() -> int:
        holder.execute("BEGIN IMMEDIATE")
        try:
            task = asyncio.ensure_future(db.run(_insert(1), quick=True))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            holder.execute("ROLLBACK")
        loop_thread = threading.get_ident()
        ran_on = await asyncio.wait_for(db.run(_insert(2), quick=True), 2)
        return int(ran_on == loop_thread)

    try:
        assert asyncio.run(main()) == 1
    finally:
        holder.close()
    assert _values(db) == [2]


def test_a_failed_rollback_on_the_loop_drops_the_connection(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write raises, and its ROLLBACK fails too (the disk gone, say): the caller gets the write's own
    error, the loop's connection is dropped (SQLite may still hold its transaction and the lock), and the
    next quick write runs on a new one, as does a writer of another connection."""
    monkeypatch.setattr(sqlite_lock, "BUSY_TIMEOUT_S", 1.0)  # a lock left behind fails the last write soon
    failures = [RuntimeError("rollback failed")]

    def rollback(_conn: Connection) -> None:
        if failures:
            raise failures.pop()

    event.listen(db.engine, "rollback", rollback)

    def failing(conn: Connection) -> None:
        conn.exec_driver_sql("INSERT INTO lock_t (a) VALUES (1)")
        raise ValueError("the write failed")

    async def main() -> None:
        with pytest.raises(ValueError, match="the write failed"):
            await db.run(failing, quick=True)
        await asyncio.wait_for(
            db.run(lambda c: c.exec_driver_sql("INSERT INTO lock_t (a) VALUES (2)"), quick=True), 2
        )

    asyncio.run(main())
    event.remove(db.engine, "rollback", rollback)
    other = Database(db.url)
    try:
        other.transaction(lambda c: c.exec_driver_sql("INSERT INTO lock_t (a) VALUES (3)"))  # no lock left
    finally:
        other.dispose()
    assert failures == [] and _values(db) == [2, 3]


def test_closing_the_database_while_writes_wait_leaves_no_lock_behind(db_url: str) -> None:
    """The server stops (``Database.dispose``) while one quick write waits for a lock another connection
    holds and another waits for the loop's connection, whose durable COMMIT is on its thread: the first
    commit completes, both waiters are refused (never a new connection of a closed database), and no
    write lock is left behind for the other processes on the file."""
    db = Database(db_url)
    db.transaction(lambda c: c.exec_driver_sql("CREATE TABLE lock_t (a INTEGER PRIMARY KEY)"))
    path = db.file_path()
    assert path is not None

    def slow_commit(_conn: Connection) -> None:
        if threading.current_thread().name.startswith("leadrelay-sqlite-commit"):
            time.sleep(0.2)

    async def behind_a_commit() -> tuple[object, BaseException]:
        event.listen(db.engine, "commit", slow_commit)
        first = asyncio.ensure_future(db.run(_insert(1), quick=True))
        await asyncio.sleep(0.05)  # its COMMIT is on the commit thread
        second = asyncio.ensure_future(db.run(_insert(2), quick=True))
        await asyncio.sleep(0)  # waiting for the connection
        db.dispose()  # waits for the commit thread
        done = await asyncio.gather(first, second, return_exceptions=True)
        return done[0], done[1]

    async def behind_another_connection(holder: sqlite3.Connection) -> BaseException:
        holder.execute("BEGIN IMMEDIATE")
        try:
            waiting = asyncio.ensure_future(db.run(_insert(3), quick=True))
            await asyncio.sleep(0.05)  # trying for the lock
            db.dispose()
            (got,) = await asyncio.gather(waiting, return_exceptions=True)
        finally:
            holder.execute("ROLLBACK")
        return got

    first, second = asyncio.run(behind_a_commit())
    assert not isinstance(first, BaseException)
    assert isinstance(second, StorageError) and "closed" in str(second)
    db = Database(db_url)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        third = asyncio.run(behind_another_connection(holder))
    finally:
        holder.close()
    assert isinstance(third, StorageError) and "closed" in str(third)
    other = Database(db_url)
    try:  # no lock left: another connection writes at once
        other.transaction(_insert(4))
        assert _values(other) == [1, 4]
    finally:
        other.dispose()
