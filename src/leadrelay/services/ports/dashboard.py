"""What the console's dashboard reads beside the reports, the caps, the breakers and the alerts (which have
their own repositories): the job queue's depth by queue state and the oldest job waiting to be claimed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """The distribution jobs not done, by queue state, and the ``run_at`` of the one waiting longest."""

    due: int  # ready, and due now: waiting for a worker to claim it
    scheduled: int  # ready from a later time (a retry's backoff)
    claimed: int  # held by a worker under its lease
    waiting: int  # parked until its batch is sent
    oldest_due: datetime | None  # the run_at of the job waiting longest to be claimed

    def oldest_age_s(self, now: datetime) -> float:
        """How long the job waiting longest to be claimed has waited (0 when none waits)."""
        return 0.0 if self.oldest_due is None else max(0.0, (now - self.oldest_due).total_seconds())


class DashboardQueries(Protocol):
    def queue_depth(self, now: datetime) -> QueueDepth:
        """The open jobs by queue state at ``now`` (a few index probes on ``ix_jobs_queue``)."""
        ...
