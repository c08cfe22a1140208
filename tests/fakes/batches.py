"""A partial fake of the batches (``batch_store``): what reads the deliveries waiting for a batch. Cutting,
claiming and recording batches is not faked (the batch engine is being merged into the delivery engine):
those methods raise ``NotImplementedError``."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, NoReturn

from leadrelay.domain.batches import Waiting
from leadrelay.domain.model import FileChannel, PartnerSpec
from leadrelay.domain.states import DeliveryStatus
from tests.fakes.tables import Tables


def _not_faked(what: str) -> NoReturn:
    raise NotImplementedError(f"Batches.{what} is not faked; test it against the database")


class FakeBatches:
    """Batch files and digests: only ``lock_partner``, ``waiting`` and ``waiting_channels`` are faked."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def _waiting(self) -> list[dict[str, Any]]:
        return self._t.where(
            "deliveries", lambda d: d["status"] == DeliveryStatus.BATCHED and d["batch_id"] is None
        )

    def lock_partner(self, partner: str) -> None:
        return None

    def waiting(self, partner: str, step: int) -> Waiting | None:
        rows = [d for d in self._waiting() if d["partner"] == partner and d["channel_step"] == step]
        if not rows:
            return None
        created = [d["created_at"] for d in rows]
        return Waiting(len(rows), min(created), max(created))

    def waiting_channels(self) -> set[tuple[str, int]]:
        return {(d["partner"], d["channel_step"]) for d in self._waiting()}

    def unbatch(self, partner: str, step: int, now: datetime) -> int:
        _not_faked("unbatch")

    def failed_channels(self) -> set[tuple[str, int]]:
        _not_faked("failed_channels")

    def release_failed(self, partner: str, step: int, reason: str, now: datetime) -> int:
        _not_faked("release_failed")

    def dissolve(self, row: Any, owner: str, reason: str, now: datetime) -> int:
        _not_faked("dissolve")

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
    ) -> str:
        _not_faked("insert_batch")

    def cut(
        self, partner: PartnerSpec, spec: FileChannel, step: int, limit: int, trigger: str, now: datetime
    ) -> str | None:
        _not_faked("cut")

    def any_due(self, now: datetime) -> bool:
        _not_faked("any_due")

    def claim(
        self,
        owner: str,
        limit: int,
        now: datetime,
        lease_until: datetime,
        only_jobs: Collection[str] | None = None,
    ) -> list[Any]:
        _not_faked("claim")

    def batch(self, batch_id: str) -> Any:
        _not_faked("batch")

    def batch_leads(self, batch_id: str, *, cancelled_too: bool = False) -> list[Any]:
        _not_faked("batch_leads")

    def record_success(
        self,
        row: Any,
        owner: str,
        *,
        location: str,
        size: int,
        started: datetime,
        duration_ms: float,
        price: float | None,
        now: datetime,
    ) -> list[str]:
        _not_faked("record_success")

    def lock_jobs(self, job_ids: Sequence[str]) -> None:
        return None

    def wake_jobs(self, job_ids: Sequence[str], now: datetime) -> None:
        _not_faked("wake_jobs")

    def wake_stranded(self, now: datetime, limit: int = 1000) -> int:
        _not_faked("wake_stranded")

    def record_failure(
        self,
        row: Any,
        owner: str,
        *,
        reason: str,
        retry_at: datetime | None,
        started: datetime,
        duration_ms: float,
        now: datetime,
    ) -> None:
        _not_faked("record_failure")

    def redeliver(self, batch_id: str, now: datetime) -> Any:
        _not_faked("redeliver")


class FakeBatchQueries:
    """The batch log's reads: not faked (tested against the database)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def latest_batches(self, partner: str | None, status: str | None, limit: int) -> list[Any]:
        _not_faked("latest_batches")

    def waiting_per_partner(self) -> list[tuple[str, int, datetime | None]]:
        _not_faked("waiting_per_partner")

    def batch_attempts(self, batch_id: str) -> list[Any]:
        _not_faked("batch_attempts")

    def savepoint(self) -> AbstractContextManager[None]:
        _not_faked("savepoint")
