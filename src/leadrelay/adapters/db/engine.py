"""Engines for SQLite (WAL, one writer at a time with BEGIN IMMEDIATE) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

from leadrelay.adapters.db import sqlite_lock
from leadrelay.adapters.db.executor import BACKGROUND, URGENT, PriorityExecutor
from leadrelay.adapters.db.on_the_loop import OnTheLoop
from leadrelay.adapters.db.sqlite_lock import begin_immediate, busy_timeout_pragma
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
    """The engine of ``url``; ``StorageError`` when it is no URL leadrelay can open (a mistyped
    ``LEADRELAY_DATABASE_URL``; the message leaves the URL out: it may hold a password)."""
    try:
        return _make_engine(normalize_url(url))
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StorageError(
            "the database URL is not one leadrelay can open: sqlite:///path/to/file.db or "
            "postgresql://user@host:5432/database"
        ) from exc


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            hide_parameters=True,  # lead data and secrets stay out of error messages and logs
            connect_args={
                "timeout": sqlite_lock.BUSY_TIMEOUT_S,  # read now: tests change it
                "check_same_thread": False,
                "isolation_level": None,
            },
            pool_size=4,
            max_overflow=4,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # a 2xx answer means the lead is on disk
            cur.execute(busy_timeout_pragma())
            # erased personal data is overwritten in its page, not left in free space (no extra I/O)
            cur.execute("PRAGMA secure_delete=FAST")
            cur.close()
            # SQLite's lower() folds ASCII letters only: an email compared in any letter case (erasure's
            # search) uses Python's folding, as dedup does
            dbapi_conn.create_function("casefold", 1, _casefold, deterministic=True)

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
            if options.get("fail_fast", False):  # the event loop's connection: busy, it waits on the loop
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                begin_immediate(conn)

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


def _casefold(value: str | None) -> str | None:
    return value.casefold() if isinstance(value, str) else None


class Database:
    """Runs transactional units of work (sync SQLAlchemy Core functions) off the event loop.

    SQLite gets one thread (one writer at a time anyway), and runs work marked ``quick`` on the loop itself
    (``OnTheLoop``: waiting there for the write lock while another connection holds it briefly);
    PostgreSQL a small pool.
    """

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        self.dialect = self.engine.dialect.name
        threads = 1 if self.dialect == "sqlite" else 8
        self._executor = PriorityExecutor(threads, "leadrelay-db")
        self._on_the_loop = OnTheLoop(self.engine) if self.dialect == "sqlite" else None

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
        loop's own thread (waiting there for the write lock while another connection holds it briefly)."""
        if quick and self._on_the_loop is not None:
            ran, result = await self._on_the_loop.run(fn, relaxed)
            if ran:
                return result  # type: ignore[return-value]
        lane = BACKGROUND if background else URGENT
        work = functools.partial(self.transaction, fn, relaxed=relaxed)
        return await asyncio.wrap_future(self._executor.submit(lane, work))

    async def run_read(self, fn: Callable[[Connection], T], *, quick: bool = False) -> T:
        """``read`` off the event loop. ``quick``: small, bounded work that on SQLite runs on the loop's own
        thread (``OnTheLoop.read``): a thread's hand-off and its turns at the GIL cost a busy loop more than
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
