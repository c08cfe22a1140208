"""How the worker runs one step (routing, recording outcomes) for a batch of claimed jobs in one
transaction without letting one bad job sink the others: all jobs under one savepoint, and if one raises,
each under its own, the bad one closed as failed. A database error that is nobody's fault (a deadlock, a
restart, a lost connection) fails the whole transaction instead, and the worker puts its jobs back in the
queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from leadrelay.adapters.db.unit_of_work import connection_of
from leadrelay.services import settlement
from leadrelay.services.ports import Record, Tx
from leadrelay.services.steps import StepResult
from leadrelay.services.writes import Writes

log = logging.getLogger("leadrelay.worker")


def _nobodys_fault(exc: BaseException) -> bool:
    """A database error that says nothing about the job (a deadlock, a restart, a lost connection): the
    whole transaction fails and its jobs go back to the queue. Other storage errors (a value out of range,
    a bad byte) come from one job's data: that job alone is closed as failed."""
    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def _why(exc: Exception, what: str) -> str:
    """The trace line of a job that could not be processed. A storage error's first line is kept (the
    driver's message: "integer out of range"; parameters are hidden from it); other errors by type only."""
    if isinstance(exc, DBAPIError):
        first = (str(exc.orig).strip().splitlines() or [""])[0][:200]
        return f"internal error while {what}: storage refused it ({first}; see the worker log)"
    return f"internal error while {what} ({type(exc).__name__}; see the worker log)"


# The savepoint as plain SQL (the same on SQLite and PostgreSQL): SQLAlchemy's begin_nested() compiles its
# SAVEPOINT and RELEASE clauses anew each time, which costs four times as much on the worker's hot path.
_SAVEPOINT = "SAVEPOINT leadrelay_step"
_RELEASE = "RELEASE SAVEPOINT leadrelay_step"
_ROLLBACK_TO = "ROLLBACK TO SAVEPOINT leadrelay_step"


def _savepoint(conn: Connection) -> None:
    conn.exec_driver_sql(_SAVEPOINT)


def _release(conn: Connection) -> None:
    conn.exec_driver_sql(_RELEASE)


def _roll_back(conn: Connection) -> None:
    """Undo everything since the savepoint, and drop it (as SQLAlchemy's nested rollback does)."""
    conn.exec_driver_sql(_ROLLBACK_TO)
    conn.exec_driver_sql(_RELEASE)


def all_or_each(
    tx: Tx,
    jobs: Sequence[Record],
    run: Callable[[Sequence[Record]], list[StepResult]],
    what: str,
    deliveries: Callable[[Record], Sequence[Record]],
    now: datetime,
) -> list[StepResult]:
    """Run a step for all jobs under one savepoint; if one raises, redo them one by one, each under its own
    savepoint, so that only the bad job is closed as failed and the others go on. A database error that
    is nobody's fault (deadlock, restart) fails the whole transaction, and the worker puts the jobs back
    in the queue."""
    conn = connection_of(tx)  # savepoints: the worker's own business, beside the services' repositories
    _savepoint(conn)
    try:
        steps = run(jobs)
        _release(conn)
        return steps
    except Exception as exc:
        if _nobodys_fault(exc):
            raise
        _roll_back(conn)
    steps = []
    for job in jobs:
        _savepoint(conn)
        try:
            steps.extend(run([job]))
            _release(conn)
        except Exception as exc:
            if _nobodys_fault(exc):
                raise
            _roll_back(conn)
            log.exception("%s failed for job %s", what, job.id)
            w = Writes()
            steps.append(settlement.fail_job(tx, w, job, deliveries(job), _why(exc, what), now))
            w.flush(tx, now)
    return steps
