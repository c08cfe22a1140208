"""Engines for SQLite (WAL, one writer at a time with BEGIN IMMEDIATE) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, RootTransaction, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError

from leadrelay.adapters.db.executor import BACKGROUND, URGENT, PriorityExecutor
from leadrelay.errors import StorageError

T = TypeVar("T")


def normalize_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            hide_parameters=True,  # lead data and secrets stay out of error messages and logs
            connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False, "isolation_level": None},
            pool_size=4,
            max_overflow=4,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # a 2xx answer means the lead is on disk
            cur.execute(_busy_timeout_pragma())
            # erased personal data is overwritten in its page, not left in free space (no extra I/O)
            cur.execute("PRAGMA secure_delete=FAST")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            options = conn.get_execution_options()
            if options.get("readonly", False):  # a read commits nothing: the disk setting does not matter
                conn.exec_driver_sql("BEGIN")
                return
            # FULL (fsync at commit) unless the caller said the transaction may be lost in a power cut
            # (it is redone safely): the setting is per connection, changed only when it differs
            mode = "NORMAL" if options.get("relaxed", False) else "FULL"
            if conn.info.get("synchronous") != mode:
                conn.exec_driver_sql(f"PRAGMA synchronous={mode}")
                conn.info["synchronous"] = mode
            # take the write lock up front: read-then-write transactions never deadlock on upgrade
            if options.get("fail_fast", False):  # the event loop's connection: busy, it goes to the thread
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                _begin_immediate(conn)

        return engine
    return create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        hide_parameters=True,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
    )


BUSY_TIMEOUT_S = 30.0
"""How long a write transaction waits for another connection's write lock before it fails."""
_FIRST_PAUSE_S, _LONGEST_PAUSE_S = 0.0001, 0.001


def _begin_immediate(conn: Connection) -> None:
    """``BEGIN IMMEDIATE``, waiting for another connection's write lock by trying again after 0.1 ms,
    doubling to at most 1 ms between tries, for up to ``BUSY_TIMEOUT_S``; then SQLite's "database is
    locked" error, as before. SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25… ms between tries: a
    lock held for 1 ms cost its waiter 3.4 ms, one held 12 ms cost 18.8 ms (on the development machine).
    An API and a worker process on one file take the lock many times a second each, so they spent much of
    their time asleep with the lock free. The connection's own busy timeout stays for everything else (a
    reader in the rare moments a write-ahead log is being recovered); it is off only for these tries."""
    driver = conn.connection.dbapi_connection
    assert driver is not None
    driver.execute("PRAGMA busy_timeout=0")
    try:
        deadline, pause = time.monotonic() + BUSY_TIMEOUT_S, _FIRST_PAUSE_S
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE_S)
    finally:
        with contextlib.suppress(sqlite3.Error):  # a connection gone meanwhile: its own error tells why
            driver.execute(_busy_timeout_pragma())


def _busy_timeout_pragma() -> str:
    """The connection's own wait for a lock, ``BUSY_TIMEOUT_S`` (read when called: tests shorten it)."""
    return f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}"


def _is_busy(exc: OperationalError) -> bool:
    """SQLITE_BUSY, in any of its extended forms (BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT)."""
    return (getattr(exc.orig, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


class _OnTheLoop:
    """SQLite: a small write transaction runs on the calling (event loop) thread when the database is free.

    Handing it to the database thread costs more than running it: SQLite releases the GIL around every
    step, so the two threads trade it back and forth (measured at intake: 5–10 % of the CPU per lead, and
    four context switches in five). This runner keeps one connection of its own whose ``BEGIN IMMEDIATE``
    does not wait (busy timeout 0): when another connection holds the write lock, nothing has run and the
    caller goes to the thread as before. Only work marked ``quick`` (bounded, small) comes here, never a
    long read or export; quick reads (one lead's answer) too, in a plain ``BEGIN`` (``read``).

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
            if _is_busy(exc):
                return False, None
            raise StorageError(f"database error: {exc.orig}") from exc
        finally:
            if own:  # the writing connection (options change it in place): its writes BEGIN IMMEDIATE
                conn.execution_options(readonly=False)
            if _left_open(conn):
                if own:
                    self._discard()
                else:
                    self._reader = None
                    _drop(conn)

    async def run(self, fn: Callable[[Connection], T], relaxed: bool) -> tuple[bool, T | None]:
        """(True, the result), or (False, None) when the write lock is taken: then nothing ran."""
        if not self._on_its_thread():
            return False, None
        loops = await self._connection()
        # set each time: execution_options() changes the connection itself, so a relaxed transaction's
        # flag would otherwise stay on for the durable ones after it
        conn = loops.execution_options(relaxed=relaxed)
        driver: sqlite3.Connection = conn.connection.dbapi_connection  # type: ignore[assignment]
        try:
            try:
                transaction = conn.begin()  # BEGIN IMMEDIATE (make_engine): the write lock, or SQLITE_BUSY
            except OperationalError as exc:
                if _is_busy(exc):
                    return False, None
                raise
            changes = driver.total_changes
            try:
                result = fn(conn)
            except BaseException:
                transaction.rollback()
                raise
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

    async def _commit(self, transaction: RootTransaction) -> None:
        """The durable COMMIT on the commit thread; a caller cancelled meanwhile leaves it to finish (and
        the connection to be dropped if it failed) before the connection serves again."""
        committing = asyncio.get_running_loop().run_in_executor(self._committer, transaction.commit)

        def done(fut: asyncio.Future[None]) -> None:
            self._committing = None
            if not fut.cancelled() and fut.exception() is not None:
                self._discard()

        committing.add_done_callback(done)
        self._committing = committing
        await asyncio.shield(committing)

    def _discard(self) -> None:
        """After a failed COMMIT: the connection is dropped. SQLAlchemy keeps a transaction whose commit
        failed attached to it (every later ``begin`` would raise), and SQLite may still hold it and the write
        lock; closing the driver's connection ends both, and the next quick transaction connects afresh."""
        if self._conn is not None:
            _drop(self._conn)
            self._conn = None

    def close(self) -> None:
        self._committer.shutdown(wait=True)
        self._committing = None
        if self._reader is not None:
            _drop(self._reader)
            self._reader = None
        if self._conn is not None:
            with contextlib.suppress(Exception):  # back to the pool waiting for the lock as the others do
                driver = self._conn.connection.dbapi_connection
                driver.execute(_busy_timeout_pragma())  # type: ignore[union-attr]
            self._conn.close()
            self._conn = None


def _left_open(conn: Connection) -> bool:
    """Whether SQLite may still hold a transaction (SQLAlchemy forgets its own after a failed COMMIT)."""
    try:
        return conn.invalidated or bool(conn.connection.dbapi_connection.in_transaction)  # type: ignore[union-attr]
    except Exception:
        return True


def _drop(conn: Connection) -> None:
    """Close a connection for good (invalidated: its driver connection is not pooled again)."""
    with contextlib.suppress(Exception):
        conn.invalidate()
    with contextlib.suppress(Exception):
        conn.close()


class Database:
    """Runs transactional units of work (sync SQLAlchemy Core functions) off the event loop.

    SQLite gets one thread (one writer at a time anyway), and runs work marked ``quick`` on the loop itself
    when the database is free (``_OnTheLoop``); PostgreSQL a small pool.
    """

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        self.dialect = self.engine.dialect.name
        threads = 1 if self.dialect == "sqlite" else 8
        self._executor = PriorityExecutor(threads, "leadrelay-db")
        self._on_the_loop = _OnTheLoop(self.engine) if self.dialect == "sqlite" else None

    def file_path(self) -> str | None:
        """SQLite: the database file's path (None for an in-memory database); None for PostgreSQL."""
        if self.dialect != "sqlite":
            return None
        name = self.engine.url.database
        if name and name.startswith("file:"):  # a URI filename (``?uri=true``): its path
            name = name[len("file:") :].split("?", 1)[0]
        return None if not name or name == ":memory:" else name

    def transaction(self, fn: Callable[[Connection], T], *, relaxed: bool = False) -> T:
        """``fn`` in one write transaction. ``relaxed``: its commit may be lost in a power cut or a
        database crash (never in a process crash), because redoing it is safe; the database does not wait
        for the disk (SQLite synchronous=NORMAL, PostgreSQL synchronous_commit=off)."""
        try:
            with self.engine.connect() as raw:
                conn = raw.execution_options(relaxed=True) if relaxed else raw
                with conn.begin():
                    if relaxed and self.dialect == "postgresql":
                        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                    return fn(conn)
        except OperationalError as exc:
            raise StorageError(f"database error: {exc.orig}") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StorageError(f"database connection lost: {exc.orig}") from exc
            raise

    def read(self, fn: Callable[[Connection], T]) -> T:
        """A read-only transaction (on SQLite it does not take the write lock)."""
        try:
            with self.engine.connect() as raw:
                conn = raw.execution_options(readonly=True)
                with conn.begin():
                    return fn(conn)
        except OperationalError as exc:
            raise StorageError(f"database error: {exc.orig}") from exc

    async def run(
        self,
        fn: Callable[[Connection], T],
        *,
        background: bool = False,
        relaxed: bool = False,
        quick: bool = False,
    ) -> T:
        """A write transaction off the event loop; ``background`` work yields to urgent work queued later.
        ``quick``: small, bounded work (a group commit's batch, a worker step) that on SQLite runs on the
        loop's own thread when the database is free."""
        if quick and self._on_the_loop is not None:
            ran, result = await self._on_the_loop.run(fn, relaxed)
            if ran:
                return result  # type: ignore[return-value]
        lane = BACKGROUND if background else URGENT
        work = functools.partial(self.transaction, fn, relaxed=relaxed)
        return await asyncio.wrap_future(self._executor.submit(lane, work))

    async def run_read(self, fn: Callable[[Connection], T], *, quick: bool = False) -> T:
        """``read`` off the event loop. ``quick``: small, bounded work that on SQLite runs on the loop's own
        thread (``_OnTheLoop.read``): a thread's hand-off and its turns at the GIL cost a busy loop more than
        such a read. At 100 auctions/s a waiting source's answer took 0.7 ms there, 6.2-6.8 ms on the
        database thread (2026-12-05, the same hour; about 1 ms either way with nothing else running)."""
        if quick and self._on_the_loop is not None:
            ran, result = self._on_the_loop.read(fn)
            if ran:
                return result  # type: ignore[return-value]
        return await asyncio.wrap_future(self._executor.submit(URGENT, self.read, fn))

    def forget_old_pages(self) -> None:
        """SQLite: copy the write-ahead log into the database and empty it, so the earlier versions of
        pages (with data just erased) are gone from disk too. A no-op on PostgreSQL (VACUUM's job)."""
        if self.dialect != "sqlite":
            return
        raw = self.engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()

    async def forget_old_pages_soon(self) -> None:
        await asyncio.wrap_future(self._executor.submit(BACKGROUND, self.forget_old_pages))

    def dispose(self) -> None:
        if self._on_the_loop is not None:
            self._on_the_loop.close()
        self._executor.shutdown()
        self.engine.dispose()
