"""Readiness: does the database answer, quickly, with the schema this version of leadrelay needs?

``GET /health`` says the process is alive; ``GET /ready`` (alias ``/health/ready``) asks this module,
first the database (:func:`check_ready`), then whether workers claim the jobs (:func:`check_claiming`).
The first check reads the Alembic
version row (a real table, so a missing or empty SQLite file is not "ready" the way ``SELECT 1`` would be),
on a thread of its own rather than the database executor's queue, so the answer measures the database and
not the backlog of intake work, and gives up after a short timeout. One check runs at a time: while one
is in flight (a hung database), later requests wait for that one instead of starting threads that would
pile up; the thread is a daemon, so a hung check never holds up the process's exit. The reasons it gives
are generic: the endpoint needs no credentials, so the database's own error (host, port, path) goes to
the log only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import threading
import weakref
from datetime import UTC, datetime

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.migrate import alembic_config
from leadrelay.adapters.db.operations_queries import oldest_due
from leadrelay.errors import StorageError, Unavailable

READY_TIMEOUT_S = 2.0
log = logging.getLogger("leadrelay.api")


@functools.cache
def head_revision() -> str:
    """The migration this version of the code needs (read from the migration scripts once)."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "no migrations"
    return head


def _schema_version(conn: Connection) -> str | None:
    if not conn.dialect.has_table(conn, "alembic_version"):
        return None
    version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if version is None else str(version)


_in_flight: weakref.WeakKeyDictionary[Database, concurrent.futures.Future[str | None]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def _schema_check(db: Database) -> concurrent.futures.Future[str | None]:
    """The check in flight for ``db``, or a new one on a daemon thread."""
    with _lock:
        pending = _in_flight.get(db)
        if pending is not None and not pending.done():
            return pending
        future: concurrent.futures.Future[str | None] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()  # a waiter that gives up cannot cancel it under the thread

        def work() -> None:
            try:
                future.set_result(db.read(_schema_version))
            except BaseException as exc:  # handed to the waiters, who say why they are not ready
                future.set_exception(exc)

        threading.Thread(target=work, name="leadrelay-ready", daemon=True).start()
        _in_flight[db] = future
        return future


async def check_ready(db: Database, within_s: float = READY_TIMEOUT_S) -> dict[str, str]:
    """``{"status": "ready", "database", "schema"}``, or ``Unavailable`` saying why not."""
    try:
        version = await asyncio.wait_for(asyncio.wrap_future(_schema_check(db)), within_s)
    except TimeoutError as exc:
        log.warning("readiness: the database did not answer within %g s", within_s)
        raise Unavailable(f"the database did not answer within {within_s:g} s") from exc
    except (StorageError, SQLAlchemyError) as exc:
        log.warning("readiness: the database does not answer: %s", exc)
        raise Unavailable("the database does not answer") from exc
    if version is None:
        raise Unavailable("the database has no leadrelay schema: run `leadrelay db upgrade`")
    head = head_revision()
    if version != head:
        raise Unavailable(
            f"the database schema is at {version}, this version needs {head}: run `leadrelay db upgrade`"
        )
    return {"status": "ready", "database": db.dialect, "schema": version}


async def check_claiming(db: Database, max_age_s: float, within_s: float = READY_TIMEOUT_S) -> float:
    """The second readiness check, "workers claiming": the job waiting longest to be claimed (ready, due)
    has waited at most ``max_age_s``. A job waits only while no worker of the installation (in this
    process or any other) claims: none runs, or they are far behind. Returns that wait in seconds (0 when
    none waits), or raises ``Unavailable`` saying so."""
    now = datetime.now(UTC)
    try:
        since = await asyncio.wait_for(
            asyncio.to_thread(db.read, lambda conn: oldest_due(conn, now)), within_s
        )
    except TimeoutError as exc:
        raise Unavailable(f"the database did not answer within {within_s:g} s") from exc
    except (StorageError, SQLAlchemyError) as exc:
        log.warning("readiness: reading the job queue failed: %s", exc)
        raise Unavailable("the database does not answer") from exc
    waited = 0.0 if since is None else max(0.0, (now - since).total_seconds())
    if waited > max_age_s:
        raise Unavailable(
            f"workers are not claiming jobs: a job has waited {waited:.0f} s to be claimed "
            f"(more than {max_age_s:g} s); start workers (`leadrelay worker`) or add more"
        )
    return waited
