"""SQLite's write lock: ``BEGIN IMMEDIATE`` waited for with short pauses, and how to tell "busy" apart."""

from __future__ import annotations

import contextlib
import sqlite3
import time

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

BUSY_TIMEOUT_S = 30.0
"""How long a write transaction waits for another connection's write lock before it fails."""
FIRST_PAUSE_S, LONGEST_PAUSE_S = 0.0001, 0.001


def begin_immediate(conn: Connection) -> None:
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
        deadline, pause = time.monotonic() + BUSY_TIMEOUT_S, FIRST_PAUSE_S
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as exc:
                if not is_busy(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE_S)
    finally:
        with contextlib.suppress(sqlite3.Error):  # a connection gone meanwhile: its own error tells why
            driver.execute(busy_timeout_pragma())


def busy_timeout_pragma() -> str:
    """The connection's own wait for a lock, ``BUSY_TIMEOUT_S`` (read when called: tests shorten it)."""
    return f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}"


def is_busy(exc: OperationalError) -> bool:
    """SQLITE_BUSY, in any of its extended forms (BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT)."""
    return (getattr(exc.orig, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY
