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

from sqlalchemy.exc import DBAPIError

from leadrelay.adapters.db.faults import nobodys_fault
from leadrelay.services import settlement
from leadrelay.services.ports import Record, Tx
from leadrelay.services.steps import StepResult
from leadrelay.services.writes import Writes

log = logging.getLogger("leadrelay.worker")


def _why(exc: Exception, what: str) -> str:
    """The trace line of a job that could not be processed. A storage error's first line is kept (the
    driver's message: "integer out of range"; parameters are hidden from it); other errors by type only."""
    if isinstance(exc, DBAPIError):
        first = (str(exc.orig).strip().splitlines() or [""])[0][:200]
        return f"internal error while {what}: storage refused it ({first}; see the worker log)"
    return f"internal error while {what} ({type(exc).__name__}; see the worker log)"


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
    mark = tx.savepoint()
    try:
        steps = run(jobs)
        mark.release()
        return steps
    except Exception as exc:
        if nobodys_fault(exc):
            raise
        mark.roll_back()
    steps = []
    for job in jobs:
        mark = tx.savepoint()
        try:
            steps.extend(run([job]))
            mark.release()
        except Exception as exc:
            if nobodys_fault(exc):
                raise
            mark.roll_back()
            log.exception("%s failed for job %s", what, job.id)
            w = Writes()
            steps.append(settlement.fail_job(tx, w, job, deliveries(job), _why(exc, what), now))
            w.flush(tx, now)
    return steps
