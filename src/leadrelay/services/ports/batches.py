"""The batch files' and digests' storage: the ``Batches`` repository (``adapters.db.batch_store``) and
the batch log's reads (``BatchQueries``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from leadrelay.domain.batches import Waiting
from leadrelay.domain.model import FileChannel, PartnerSpec
from leadrelay.services.ports.records import Record


class Batches(Protocol):
    """Batch files and digests: waiting deliveries, cut batches, their claims and outcomes."""

    def lock_partner(self, partner: str) -> None: ...

    def waiting(self, partner: str, step: int) -> Waiting | None: ...

    def waiting_channels(self) -> set[tuple[str, int]]: ...

    def unbatch(self, partner: str, step: int, now: datetime) -> int: ...

    def failed_channels(self) -> set[tuple[str, int]]:
        """The (partner, step) pairs of failed batches that still hold leads not sent."""
        ...

    def release_failed(self, partner: str, step: int, reason: str, now: datetime) -> int:
        """The unsent leads of that channel's failed batches go the ordinary way; returns how many."""
        ...

    def dissolve(self, row: Record, owner: str, reason: str, now: datetime) -> int: ...

    def insert_batch(
        self,
        partner: PartnerSpec,
        spec: FileChannel,
        step: int,
        delivery_ids: Sequence[str],
        trigger: str,
        now: datetime,
        *,
        test: bool = False,
    ) -> str: ...

    def cut(
        self, partner: PartnerSpec, spec: FileChannel, step: int, limit: int, trigger: str, now: datetime
    ) -> str | None: ...

    def any_due(self, now: datetime) -> bool: ...

    def claim(
        self,
        owner: str,
        limit: int,
        now: datetime,
        lease_until: datetime,
        only_jobs: Collection[str] | None = None,
    ) -> list[Record]: ...

    def batch(self, batch_id: str) -> Record | None: ...

    def batch_leads(self, batch_id: str, *, cancelled_too: bool = False) -> list[Record]:
        """The leads of a batch, oldest first (its deliveries batched or delivered; ``cancelled_too``: and
        those cancelled since it was sent)."""
        ...

    def record_success(
        self,
        row: Record,
        owner: str,
        *,
        location: str,
        size: int,
        started: datetime,
        duration_ms: float,
        price: float | None,
        now: datetime,
    ) -> list[str]:
        """The batch was delivered; returns the deliveries it delivered now (none for a redelivery)."""
        ...

    def lock_jobs(self, job_ids: Sequence[str]) -> None: ...

    def wake_jobs(self, job_ids: Sequence[str], now: datetime) -> None: ...

    def wake_stranded(self, now: datetime, limit: int = 1000) -> int: ...

    def record_failure(
        self,
        row: Record,
        owner: str,
        *,
        reason: str,
        retry_at: datetime | None,
        started: datetime,
        duration_ms: float,
        now: datetime,
    ) -> None: ...

    def redeliver(self, batch_id: str, now: datetime) -> Record | None: ...


class BatchQueries(Protocol):
    """The batch log's reads, and a savepoint that keeps one partner's batches apart from the others'."""

    def latest_batches(self, partner: str | None, status: str | None, limit: int) -> list[Record]:
        """Batches, newest first, of one partner and in one status when they are given."""
        ...

    def waiting_per_partner(self) -> list[tuple[str, int, datetime | None]]:
        """(partner, number of leads waiting for its next batch, when the oldest came), by partner."""
        ...

    def batch_attempts(self, batch_id: str) -> list[Record]:
        """A batch's attempts in their order."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: kept when the block ends, rolled back alone when it raises (the exception
        goes on). A database error goes on as ``StorageError``: the whole transaction is lost then."""
        ...
