"""SQLite work on the event loop's own thread: small write transactions and reads (``OnTheLoop``)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine, RootTransaction
from sqlalchemy.exc import OperationalError

from leadrelay.adapters.db.sqlite_lock import LONGEST_PAUSE_S, busy_timeout_pragma, is_busy
from leadrelay.errors import StorageError

T = TypeVar("T")

LOOP_PATIENCE_S = 0.25
"""How long a quick write waits on the event loop for another connection's write lock before it goes to
the database thread (read when called: tests change it)."""


class OnTheLoop:
    """SQLite: a small write transaction runs on the calling (event loop) thread when the database is free.

    Handing it to the database thread costs more than running it: SQLite releases the GIL around every
    step, so the two threads trade it back and forth (measured at intake: 5–10 % of the CPU per lead, and
    four context switches in five). This runner keeps one connection of its own whose ``BEGIN IMMEDIATE``
    does not block (busy timeout 0): while another connection holds the write lock, the caller waits for it
    here, without blocking the loop (``_begin``), and goes to the thread only if it is held longer than
    ``LOOP_PATIENCE_S``. Only work marked ``quick`` (bounded, small) comes here, never a long read or
    export; quick reads (one lead's answer) too, in a plain ``BEGIN`` (``read``).

    The durable commit (``synchronous=FULL``: the write-ahead log reaches the disk) is the one slow step, and
    it does not need the loop: it runs on a thread of its own while the loop goes on with the next requests,
    which then share the next transaction (at intake the commit was a quarter of the loop's samples). The
    connection is the commit's until it returns. A relaxed commit (no wait for the disk) stays on the loop.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._thread: int | None = None
        self._committer = ThreadPoolExecutor(1, "leadrelay-sqlite-commit")
        self._committing: asyncio.Future[None] | None = None
        self._reader: Connection | None = None  # quick reads while a commit holds the writing one
        self._lock_wait = asyncio.Lock()  # one caller at a time tries for a write lock held elsewhere
        self._waiting_on: asyncio.AbstractEventLoop | None = None  # the loop _lock_wait belongs to
        self._closed = False

    def _on_its_thread(self) -> bool:
        """Whether the caller is on the first caller's thread: the connections are one loop's (sync work)."""
        thread = threading.get_ident()
        if self._thread is None:
            self._thread = thread
        return self._thread == thread

    async def _connection(self) -> Connection:
        """The loop's writing connection, once no commit holds it."""
        while self._committing is not None:  # the connection is the commit's until it returns
            await asyncio.wait({self._committing})  # never cancels the commit, whatever happens here
        return self._writer()

    def _writer(self) -> Connection:
        if self._closed:  # also for a caller that waited for the last commit while the database closed
            raise StorageError("the database is closed")
        if self._conn is None:
            self._conn = self._engine.connect()
            self._conn.connection.dbapi_connection.execute("PRAGMA busy_timeout=0")  # type: ignore[union-attr]
            # one try at BEGIN IMMEDIATE (make_engine): an option of this Connection, not of the pooled
            # driver connection under it, which goes back to the pool on close
            self._conn.execution_options(fail_fast=True)
        return self._conn

    def read(self, fn: Callable[[Connection], T]) -> tuple[bool, T | None]:
        """(True, the result) of a read transaction, or (False, None) when it cannot run here (another
        thread; a write-ahead log being recovered). On the writing connection when no commit holds it (its
        page cache holds what it wrote), else on a reading one: never behind a commit, which the write
        batches after it would win again and again (7.3 ms for an answer at 100 auctions/s). A read whose
        transaction could not end drops its connection; the next one connects afresh."""
        if not self._on_its_thread():
            return False, None
        if self._committing is None:
            return self._read_on(self._writer().execution_options(readonly=True), fn, own=True)
        if self._reader is None:
            reader = self._engine.connect()
            reader.connection.dbapi_connection.execute("PRAGMA busy_timeout=0")  # type: ignore[union-attr]
            self._reader = reader.execution_options(readonly=True)  # only ever reads: set once
        return self._read_on(self._reader, fn, own=False)

    def _read_on(self, conn: Connection, fn: Callable[[Connection], T], own: bool) -> tuple[bool, T | None]:
        try:
            with conn.begin():
                return True, fn(conn)
        except OperationalError as exc:
            if is_busy(exc):
                return False, None
            raise StorageError(f"database error: {exc.orig}") from exc
        finally:
            if own:  # the writing connection (options change it in place): its writes BEGIN IMMEDIATE
                conn.execution_options(readonly=False)
            if left_open(conn):
                if own:
                    self._discard()
                else:
                    self._reader = None
                    drop(conn)

    async def run(self, fn: Callable[[Connection], T], relaxed: bool) -> tuple[bool, T | None]:
        """(True, the result), or (False, None) when nothing ran: another connection held the write lock
        past ``LOOP_PATIENCE_S``, or the caller is not on the loop's thread."""
        if not self._on_its_thread():
            return False, None
        begun = await self._begin(relaxed)
        if begun is None:
            return False, None
        conn, transaction = begun
        try:
            try:
                driver: sqlite3.Connection = conn.connection.dbapi_connection  # type: ignore[assignment]
                changes = driver.total_changes
                result = fn(conn)
            except BaseException as exc:
                try:
                    transaction.rollback()
                except BaseException as failed:  # SQLite may still hold the transaction and the write lock
                    self._discard()
                    exc.add_note(f"(and its ROLLBACK failed: {failed!r}; the connection was dropped)")
                raise  # fn's own error
            # nothing written (a claim that found no job, a sweep with nothing due): nothing to wait for
            # the disk for, so the COMMIT only releases the lock, here, without the commit thread
            if relaxed or driver.total_changes == changes:
                try:
                    transaction.commit()
                except BaseException:
                    self._discard()
                    raise
                return True, result
            await self._commit(transaction)
            return True, result
        except OperationalError as exc:
            raise StorageError(f"database error: {exc.orig}") from exc

    async def _begin(self, relaxed: bool) -> tuple[Connection, RootTransaction] | None:
        """The write lock on the loop's connection (``BEGIN IMMEDIATE``, make_engine), waited for here
        while another connection holds it: one caller at a time tries again, at the next turn of the loop
        and then every millisecond, the others wait their turn without trying; each gives up at its own
        ``LOOP_PATIENCE_S`` and gets None (it goes to the database thread, which waits longer).

        The holder is most often this process's own database thread (a sweep, a lease heartbeat).
        Handing the work to that thread queued it behind the holder, and with it every quick transaction
        arriving meanwhile, each trading the GIL with the busy loop: at 100 auctions/s two sweeps a second
        held the lock 3.5 ms at the median and up to 31 ms, and sent about 34 transactions a second to the
        thread, in bursts that made most of the p99 (2026-12-05)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOOP_PATIENCE_S
        waiters = self._waiters(loop)
        tried = not waiters.locked()
        if tried and (begun := await self._try_begin(relaxed)) is not None:
            return begun  # the lock was free: nearly always
        async with waiters:  # no deadline here: a timeout could cancel a caller that has begun
            if tried:  # just now, and found it held: the next try at the next turn of the loop
                await asyncio.sleep(0)
            while True:
                begun = await self._try_begin(relaxed)
                if begun is not None or loop.time() >= deadline:
                    return begun  # a caller whose turn came after its deadline has tried once
                await asyncio.sleep(LONGEST_PAUSE_S)  # 1 ms: uvloop's timers count whole ones

    def _waiters(self, loop: asyncio.AbstractEventLoop) -> asyncio.Lock:
        """The queue of callers waiting for a write lock held elsewhere; one per event loop (a CLI command
        may run several loops, one after the other, on one ``Database``)."""
        if self._waiting_on is not loop:
            self._lock_wait, self._waiting_on = asyncio.Lock(), loop
        return self._lock_wait

    async def _try_begin(self, relaxed: bool) -> tuple[Connection, RootTransaction] | None:
        """``BEGIN IMMEDIATE`` on the loop's connection, once no commit holds it; None when another
        connection holds the write lock (SQLITE_BUSY: nothing began)."""
        loops = await self._connection()
        # set each time: execution_options() changes the connection itself, so a relaxed transaction's flag
        # would otherwise stay on for the durable ones after it
        conn = loops.execution_options(relaxed=relaxed)
        try:
            return conn, conn.begin()  # no await since _connection: nobody else has the connection
        except OperationalError as exc:
            if is_busy(exc):
                return None
            raise StorageError(f"database error: {exc.orig}") from exc

    async def _commit(self, transaction: RootTransaction) -> None:
        """The durable COMMIT on the commit thread; a caller cancelled meanwhile leaves it to finish (and
        the connection to be dropped if it failed) before the connection serves again."""
        try:
            committing = asyncio.get_running_loop().run_in_executor(self._committer, transaction.commit)
        except BaseException:  # the commit thread is gone (closed meanwhile): nothing may keep the lock
            self._discard()
            raise

        def done(fut: asyncio.Future[None]) -> None:
            self._committing = None
            if not fut.cancelled() and fut.exception() is not None:
                self._discard()

        committing.add_done_callback(done)
        self._committing = committing
        await asyncio.shield(committing)

    def _discard(self) -> None:
        """After a failed COMMIT or ROLLBACK: the connection is dropped. SQLAlchemy keeps a transaction
        whose commit failed attached to it (every later ``begin`` would raise), and SQLite may still hold it
        and the write lock; closing the driver's connection ends both, and the next quick transaction
        connects afresh."""
        if self._conn is not None:
            drop(self._conn)
            self._conn = None

    def close(self) -> None:
        self._closed = True  # a caller waiting for the lock meanwhile gets an error, never a new connection
        self._committer.shutdown(wait=True)
        self._committing = None
        if self._reader is not None:
            drop(self._reader)
            self._reader = None
        if self._conn is not None:
            with contextlib.suppress(Exception):  # back to the pool waiting for the lock as the others do
                driver = self._conn.connection.dbapi_connection
                driver.execute(busy_timeout_pragma())  # type: ignore[union-attr]
            self._conn.close()
            self._conn = None


def left_open(conn: Connection) -> bool:
    """Whether SQLite may still hold a transaction (SQLAlchemy forgets its own after a failed COMMIT)."""
    try:
        return conn.invalidated or bool(conn.connection.dbapi_connection.in_transaction)  # type: ignore[union-attr]
    except Exception:
        return True


def drop(conn: Connection) -> None:
    """Close a connection for good (invalidated: its driver connection is not pooled again)."""
    with contextlib.suppress(Exception):
        conn.invalidate()
    with contextlib.suppress(Exception):
        conn.close()
