"""The writes a routing or recording step decides on, collected and executed together.

A step for a batch of jobs runs in one transaction. Reads that must see a write (cap slots, rotations) are
made at once; every other write is collected here and flushed at the end of the step through the
transaction's ``deferred`` repository, which executes one ``executemany`` per statement shape instead of
one round trip per row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leadrelay.services.ports import Tx


class Writes:
    """Pending job and delivery updates (merged per row), new deliveries and attempts, and the leads whose
    status is derived again from their jobs once the rest is written."""

    __slots__ = ("deliveries", "jobs", "leads", "new_attempts", "new_deliveries")

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}  # job id -> columns to set
        self.deliveries: dict[str, dict[str, Any]] = {}  # delivery id -> columns to set
        self.new_deliveries: list[dict[str, Any]] = []
        self.new_attempts: list[dict[str, Any]] = []
        self.leads: set[str] = set()

    def update_job(self, job_id: str, **values: Any) -> None:
        self.jobs.setdefault(job_id, {}).update(values)

    def update_delivery(self, delivery_id: str, **values: Any) -> None:
        self.deliveries.setdefault(delivery_id, {}).update(values)

    def insert_delivery(self, row: dict[str, Any]) -> None:
        self.new_deliveries.append(row)

    def insert_attempt(self, row: dict[str, Any]) -> None:
        self.new_attempts.append(row)

    def refresh_lead(self, lead_id: str) -> None:
        self.leads.add(lead_id)

    def merge(self, other: Writes) -> None:
        for job_id, values in other.jobs.items():
            self.update_job(job_id, **values)
        for delivery_id, values in other.deliveries.items():
            self.update_delivery(delivery_id, **values)
        self.new_deliveries.extend(other.new_deliveries)
        self.new_attempts.extend(other.new_attempts)
        self.leads |= other.leads

    def flush(self, tx: Tx, now: datetime) -> None:
        """Execute everything collected in ``tx``, then start empty again."""
        tx.deferred.flush(self, now)
        self.clear()
