"""``Database.run(quick=True)`` on SQLite: a small write transaction runs on the event loop's own thread when
the database is free, waits for the write lock there while another connection holds it (on the database
thread if it is held long), and keeps the usual error and rollback behaviour either way.
``Database.run_read(quick=True)``: a small read runs there too, without a lock. PostgreSQL always uses its
threads."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, event
from sqlalchemy.exc import IntegrityError

from leadrelay.adapters.db import on_the_loop, sqlite_lock
from leadrelay.adapters.db.engine import Database
from leadrelay.errors import StorageError


def _table(db: Database) -> None:
    db.transaction(lambda c: c.exec_driver_sql("CREATE TABLE quick_t (a INTEGER PRIMARY KEY)"))


def _values(db: Database) -> list[int]:
    return [r[0] for r in db.read(lambda c: c.exec_driver_sql("SELECT a FROM quick_t ORDER BY a").all())]


def test_a_quick_transaction_runs_on_the_loop_thread_when_the_database_is_free(db_url: str) -> None:
    db = Database(db_url)
    try:
        _table(db)

        def write(conn: Connection) -> int:
            conn.exec_driver_sql("INSERT INTO quick_t (a) VALUES (1)")
            return threading.get_ident()

        async def main() -> tuple[int, int]:
            return threading.get_ident(), await db.run(write, quick=True)

        loop_thread, ran_on = asyncio.run(main())
        assert (ran_on == loop_thread) is (db.dialect == "sqlite")
        assert _values(db) == [1]
    finally:
        db.dispose()


def _read_values(conn: Connection) -> tuple[list[int], int]:
    """The table's values, and the thread that read them."""
    rows = conn.exec_driver_sql("SELECT a FROM quick_t ORDER BY a").all()
    return [r[0] for r in rows], threading.get_ident()


def test_a_quick_read_runs_on_the_loop_thread_and_sees_the_last_commit(db_url: str) -> None:
    """A waiting source's read of its lead's answer: on SQLite on the loop's own thread, seeing what
    another connection and the loop's own writing connection committed; on PostgreSQL on its threads."""
    db, other = Database(db_url), Database(db_url)
    try:
        _table(db)
        other.transaction(lambda c: c.exec_driver_sql("INSERT INTO quick_t (a) VALUES (1)"))

        async def main() -> tuple[int, tuple[list[int], int], tuple[list[int], int]]:
            first = await db.run_read(_read_values, quick=True)
            await db.run(lambda c: c.exec_driver_sql("INSERT INTO quick_t (a) VALUES (2)"), quick=True)
            return threading.get_ident(), first, await db.run_read(_read_values, quick=True)

        loop_thread, (first, first_on), (second, second_on) = asyncio.run(main())
        assert first == [1] and second == [1, 2]
        assert (first_on == loop_thread) is (second_on == loop_thread) is (db.dialect == "sqlite")
    finally:
        other.dispose()
        db.dispose()


@pytest.mark.sqlite_only
def test_a_quick_read_never_waits_for_the_writing_connections_commit(db_url: str) -> None:
    """While a quick write's durable commit is on its thread (held there 0.3 s), a quick read on the loop
    answers at once with the state committed before it (on the loop's reading connection); a read that
    raises there leaves the next one working, still on the loop."""
    db = Database(db_url)
    try:
        _table(db)
        db.transaction(lambda c: c.exec_driver_sql("INSERT INTO quick_t (a) VALUES (1)"))
        event.listen(db.engine, "commit", lambda _conn: time.sleep(0.3) if _committing() else None)

        async def main() -> tuple[float, list[int], list[int], set[int]]:
            wrote = asyncio.ensure_future(
                db.run(lambda c: c.exec_driver_sql("INSERT INTO quick_t (a) VALUES (2)"), quick=True)
            )
            await asyncio.sleep(0.05)  # the statement ran; the commit sleeps on its thread
            started = time.monotonic()
            during, on = await db.run_read(_read_values, quick=True)
            took = time.monotonic() - started
            with pytest.raises(RuntimeError, match="the read failed"):
                await db.run_read(_failing, quick=True)
            again, again_on = await db.run_read(_read_values, quick=True)
            assert not wrote.done() and again == during  # still during the commit
            await wrote
            after, after_on = await db.run_read(_read_values, quick=True)
            return took, during, after, {on, again_on, after_on, threading.get_ident()}

        took, during, after, threads = asyncio.run(main())
        assert took < 0.2 and during == [1]  # not held behind the commit, which had not ended
        assert after == [1, 2]
        assert len(threads) == 1  # every read on the loop's own thread
    finally:
        db.dispose()


def _failing(conn: Connection) -> None:
    conn.exec_driver_sql("SELECT a FROM quick_t").all()
    raise RuntimeError("the read failed")


def _committing() -> bool:
    """On the SQLite commit thread (the loop's durable commits)."""
    return threading.current_thread().name.startswith("leadrelay-sqlite-commit")


@pytest.mark.sqlite_only
def test_a_quick_read_takes_no_lock_and_the_next_quick_write_still_does(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another connection holds the write lock, a quick read runs at once on the loop (the last
    committed state, not the holder's row); the quick write after it still asks for the lock first
    (``BEGIN IMMEDIATE``), and waits for it on the loop instead of failing."""
    monkeypatch.setattr(on_the_loop, "LOOP_PATIENCE_S", 5.0)  # the release's commit on a loaded machine
    db, other = Database(db_url), Database(db_url)
    holding, release = threading.Event(), threading.Event()
    try:
        _table(db)

        def hold(conn: Connection) -> None:
            conn.exec_driver_sql("INSERT INTO quick_t (a) VALUES (1)")
            holding.set()
            release.wait(10)

        holder = threading.Thread(target=lambda: other.transaction(hold))
        holder.start()
        assert holding.wait(10)

        def write(conn: Connection) -> int:
            conn.exec_driver_sql("INSERT INTO quick_t (a) VALUES (2)")
            return threading.get_ident()

        async def main() -> tuple[int, tuple[list[int], int], int]:
            with pytest.raises(RuntimeError, match="the read failed"):  # on the writing connection
                await db.run_read(_failing, quick=True)
            read = await asyncio.wait_for(db.run_read(_read_values, quick=True), 5)  # no wait for the lock
            task = asyncio.ensure_future(db.run(write, quick=True))
            await asyncio.sleep(0.05)
            assert not task.done()  # waiting for the lock
            release.set()
            return threading.get_ident(), read, await task

        loop_thread, (values, read_on), wrote_on = asyncio.run(main())
        holder.join(10)
        assert values == [] and read_on == loop_thread
        assert wrote_on == loop_thread
        assert _values(db) == [1, 2]
    finally:
        release.set()
        other.dispose()
        db.dispose()


def test_a_failing_quick_transaction_rolls_back_and_the_next_one_runs(db_url: str) -> None:
    db = Database(db_url)
    try:
        _table(db)

        def half(conn: Connection) -> None:
            conn.exec_driver_sql("INSERT INTO quick_t (a) VALUES (1)")
            raise RuntimeError("the step failed")

        def duplicate(conn: Connection) -> None:
            conn.exec_driver_sql("INSERT INTO quick_t (a) VALUES (3)")
            conn.exec_driver_sql("INSERT INTO quick_t (a) VALUES (3)")

        async def main() -> None:
            with pytest.raises(RuntimeError, match="the step failed"):
                await db.run(half, quick=True)
            with pytest.raises(IntegrityError):
                await db.run(duplicate, quick=True)
            await db.run(lambda c: c.exec_driver_sql("INSERT INTO quick_t (a) VALUES (2)"), quick=True)

        asyncio.run(main())
        assert _values(db) == [2]
    finally:
        db.dispose()


@pytest.mark.sqlite_only
def test_a_quick_transactions_durable_commit_runs_off_the_loop_and_the_next_one_waits_for_it(
    db_url: str,
) -> None:
    """The COMMIT that waits for the disk runs on the commit thread; meanwhile the loop serves others, and
    a quick transaction started then runs after it (the connection is the commit's until it returns)."""
    db = Database(db_url)
    commits: list[int] = []
    try:
        _table(db)
        event.listen(db.engine, "commit", lambda _conn: commits.append(threading.get_ident()))

        def insert(a: int) -> Callable[[Connection], int]:
            def write(conn: Connection) -> int:
                conn.exec_driver_sql(f"INSERT INTO quick_t (a) VALUES ({a})")
                return threading.get_ident()

            return write

        async def main() -> tuple[int, list[int]]:
            ran = await asyncio.gather(*(db.run(insert(a), quick=True) for a in (1, 2, 3)))
            return threading.get_ident(), ran

        loop_thread, ran_on = asyncio.run(main())
        assert ran_on == [loop_thread] * 3  # the statements ran on the loop
        assert len(commits) == 3 and loop_thread not in commits  # the commits did not
        assert _values(db) == [1, 2, 3]
    finally:
        db.dispose()


@pytest.mark.sqlite_only
def test_a_quick_transaction_that_wrote_nothing_commits_on_the_loop(db_url: str) -> None:
    """A claim that found no job or a sweep with nothing due has nothing for the disk: its COMMIT only
    releases the lock, on the loop thread, and never waits for the commit thread; a write still does."""
    db = Database(db_url)
    commits: list[int] = []
    try:
        _table(db)
        event.listen(db.engine, "commit", lambda _conn: commits.append(threading.get_ident()))

        def nothing(conn: Connection) -> None:
            conn.exec_driver_sql("SELECT a FROM quick_t").all()
            conn.exec_driver_sql("UPDATE quick_t SET a = 2 WHERE a = 99")  # matches no row

        async def main() -> int:
            await db.run(nothing, quick=True)
            await db.run(lambda c: c.exec_driver_sql("INSERT INTO quick_t (a) VALUES (1)"), quick=True)
            await db.run(nothing, quick=True)
            return threading.get_ident()

        loop_thread = asyncio.run(main())
        assert len(commits) == 3
        assert commits[0] == commits[2] == loop_thread  # nothing written: committed where it ran
        assert commits[1] != loop_thread  # the insert waited for the disk on the commit thread
        assert _values(db) == [1]
    finally:
        db.dispose()


@pytest.mark.sqlite_only
def test_a_caller_cancelled_during_the_commit_leaves_it_to_finish(db_url: str) -> None:
    db = Database(db_url)
    try:
        _table(db)

        async def main() -> None:
            first = asyncio.ensure_future(
                db.run(lambda c: c.exec_driver_sql("INSERT INTO quick_t (a) VALUES (1)"), quick=True)
            )
            await asyncio.sleep(0)  # the statement ran; the commit is on its thread
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            await db.run(lambda c: c.exec_driver_sql("INSERT INTO quick_t (a) VALUES (2)"), quick=True)

        asyncio.run(main())
        assert _values(db) == [1, 2]  # the cancelled caller's write committed all the same
    finally:
        db.dispose()


@pytest.mark.sqlite_only
def test_a_relaxed_quick_transaction_leaves_the_next_durable_one_durable(db_url: str) -> None:
    """``execution_options`` changes the loop's connection itself: a relaxed transaction (a worker's
    finish, synchronous=NORMAL) must not leave the intake's commits after it without the wait for the disk."""
    db = Database(db_url)
    try:
        _table(db)

        def synchronous(conn: Connection) -> int:
            return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())

        async def main() -> list[int]:
            return [
                await db.run(synchronous, quick=True),
                await db.run(synchronous, quick=True, relaxed=True),
                await db.run(synchronous, quick=True),
            ]

        assert asyncio.run(main()) == [2, 1, 2]  # FULL, NORMAL, FULL
    finally:
        db.dispose()


@pytest.mark.sqlite_only
@pytest.mark.parametrize("relaxed", [False, True], ids=["durable", "relaxed"])
def test_a_failed_commit_drops_the_connection_and_leaves_no_lock(db_url: str, relaxed: bool) -> None:
    """A COMMIT that fails (here a deferred foreign key) must not leave the loop's connection with
    SQLAlchemy's failed transaction (every later ``begin`` would raise) or SQLite's write lock (every
    other writer would wait out its busy timeout): the connection is dropped, the next one is new."""
    db = Database(db_url)
    event.listen(db.engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA foreign_keys = ON"))
    try:
        db.transaction(
            lambda c: (
                c.exec_driver_sql("CREATE TABLE p (id INTEGER PRIMARY KEY)"),
                c.exec_driver_sql(
                    "CREATE TABLE ch (id INTEGER PRIMARY KEY,"
                    " p INTEGER REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED)"
                ),
            )
        )

        def orphan(conn: Connection) -> None:
            conn.exec_driver_sql("INSERT INTO ch (id, p) VALUES (1, 99)")  # checked at COMMIT

        async def main() -> int:
            with pytest.raises(IntegrityError):
                await db.run(orphan, quick=True, relaxed=relaxed)
            # another writer is not kept waiting (busy timeout 0 here: it would fail at once)
            other = sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("INSERT INTO p (id) VALUES (5)")
                other.execute("COMMIT")
            finally:
                other.close()
            return int(
                await db.run(lambda c: c.exec_driver_sql("SELECT count(*) FROM p").scalar_one(), quick=True)
            )

        assert asyncio.run(main()) == 1  # and the loop's next quick transaction runs
        assert db.read(lambda c: c.exec_driver_sql("SELECT count(*) FROM ch").scalar_one()) == 0
    finally:
        db.dispose()


def _hold_write_lock(path: str, seconds: float, locked: threading.Event, released: list[float]) -> None:
    """Another connection (as another process would) holding the write lock for ``seconds``; when it let go
    is appended to ``released`` (``time.perf_counter``, read just before its COMMIT: read after it, a loaded
    machine may run the waiter, lock taken, before this thread reads the clock)."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(seconds)
        released.append(time.perf_counter())
        other.execute("COMMIT")
    finally:
        other.close()


def test_a_write_transaction_gets_the_lock_soon_after_its_release(sqlite_url: str) -> None:
    """SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25… ms between tries, so a waiter for a lock
    held 60 ms tries at 53 and 78 ms: 18 ms after the release (a lock held 1 ms cost its waiter 3.4 ms,
    one held 12 ms cost 18.8 ms). ``sqlite_lock.begin_immediate`` tries again at most 1 ms apart: its
    transaction begins within 5 ms of the release, the room left here for a loaded machine."""
    db = Database(sqlite_url)
    try:
        _table(db)
        path = db.file_path()
        assert path is not None
        lags: list[float] = []
        for _ in range(3):  # the shortest of three: a scheduler's hiccup is not the handler's doing
            locked, released, began = threading.Event(), list[float](), list[float]()
            holder = threading.Thread(target=_hold_write_lock, args=(path, 0.060, locked, released))
            holder.start()
            assert locked.wait(5)
            started = time.perf_counter()

            def write(conn: Connection, began: list[float] = began) -> None:
                began.append(time.perf_counter())  # BEGIN IMMEDIATE has returned: the lock is ours
                conn.exec_driver_sql("INSERT INTO quick_t DEFAULT VALUES")

            db.transaction(write)
            holder.join()
            assert started < released[0] < began[0]  # it waited, and got the lock after the release
            lags.append(began[0] - released[0])
        assert min(lags) < 0.005, lags
        assert len(_values(db)) == 3
    finally:
        db.dispose()


def test_a_write_transaction_that_never_gets_the_lock_fails_after_the_busy_timeout(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``BUSY_TIMEOUT_S`` the transaction fails as a ``StorageError`` naming the lock, runs nothing,
    and the connection's own busy timeout is back for its next use."""
    monkeypatch.setattr(sqlite_lock, "BUSY_TIMEOUT_S", 0.2)
    db = Database(sqlite_url)
    try:
        _table(db)
        path = db.file_path()
        assert path is not None
        locked = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(path, 1.0, locked, []))
        holder.start()
        assert locked.wait(5)
        used: list[sqlite3.Connection] = []  # the driver connection the failing transaction waited on

        def checkout(dbapi_conn: sqlite3.Connection, *_: object) -> None:
            used.append(dbapi_conn)

        event.listen(db.engine, "checkout", checkout)
        started = time.perf_counter()
        with pytest.raises(StorageError, match="locked"):
            db.transaction(lambda c: c.exec_driver_sql("INSERT INTO quick_t DEFAULT VALUES"))
        assert 0.2 <= time.perf_counter() - started < 0.9
        event.remove(db.engine, "checkout", checkout)
        holder.join()
        assert _values(db) == []
        assert len(used) == 1  # that very connection has its own busy timeout back (0 while it tried)
        assert used[0].execute("PRAGMA busy_timeout").fetchall() == [(200,)]
    finally:
        db.dispose()


@pytest.mark.sqlite_only
def test_a_quick_read_whose_commit_fails_drops_the_connection(db_url: str) -> None:
    """SQLAlchemy forgets a transaction whose COMMIT failed, while SQLite may still hold it: the loop's
    connection is dropped, and the next quick write runs on a fresh one instead of failing with "cannot
    start a transaction within a transaction"."""
    db = Database(db_url)
    fail = threading.Event()
    try:
        _table(db)

        def commit(_conn: Connection) -> None:
            if fail.is_set():
                fail.clear()
                raise RuntimeError("the disk went away")

        event.listen(db.engine, "commit", commit)

        async def main() -> list[int]:
            fail.set()
            with pytest.raises(RuntimeError, match="the disk went away"):
                await db.run_read(_read_values, quick=True)
            await db.run(lambda c: c.exec_driver_sql("INSERT INTO quick_t (a) VALUES (1)"), quick=True)
            values, _ = await db.run_read(_read_values, quick=True)
            return values

        assert asyncio.run(main()) == [1]
    finally:
        db.dispose()
