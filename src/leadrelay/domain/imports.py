"""The console's CSV lead imports as stored (``lead_imports``): their states, when a running import is
taken for interrupted, and when a file posted again is answered with an earlier import of it instead of
being imported twice. Pure decisions: the caller reads the rows and the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class ImportState(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # the file could not be read on (no header row, a broken quote): said in ``error``
    INTERRUPTED = "interrupted"  # its process stopped: no heartbeat for ``STALE_AFTER``


# a running import's process writes its progress (its heartbeat, ``updated_at``) every few seconds;
# one not heard of for this long is taken for interrupted (its process died or was stopped)
STALE_AFTER = timedelta(minutes=5)
# the same file (same SHA-256) posted again by the same user within this long of an earlier import of it
# is answered with that import; its temporary files and rejects are kept no longer either
REUSE_WITHIN = timedelta(hours=24)
KEPT_FOR = timedelta(days=1)


def interrupted(
    state: str, updated_at: datetime, now: datetime, stale_after: timedelta = STALE_AFTER
) -> bool:
    """A running import whose heartbeat is older than ``stale_after``: its process is gone."""
    return state == ImportState.RUNNING and now - updated_at > stale_after


@dataclass(frozen=True)
class Earlier:
    """What the decision needs of an earlier import of the same file by the same user."""

    state: str
    updated_at: datetime
    finished_at: datetime | None


def reuses(earlier: Earlier, now: datetime, within: timedelta = REUSE_WITHIN) -> bool:
    """Whether a post of the same file (to the same source and entity) answers with this earlier import:
    it is still running (and not interrupted), or it finished within ``within``. An interrupted or failed
    import is not reused: posting the file again is how it is redone."""
    if earlier.state == ImportState.RUNNING:
        return not interrupted(earlier.state, earlier.updated_at, now)
    if earlier.state in (ImportState.INTERRUPTED, ImportState.FAILED) or earlier.finished_at is None:
        return False
    return now - earlier.finished_at <= within
