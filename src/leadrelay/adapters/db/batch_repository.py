"""The batch repository of a ``SqlTx`` (``leadrelay.services.ports.Batches``): the functions of
``batch_store`` bound to the transaction's connection."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from leadrelay.adapters.db import batch_store
from leadrelay.domain.batches import Waiting
from leadrelay.domain.model import FileChannel, PartnerSpec


class SqlBatches:
    """Batch files and digests: waiting deliveries, cut batches, their claims and outcomes."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def lock_partner(self, partner: str) -> None:
        return batch_store.lock_partner(self._conn, partner)

    def waiting(self, partner: str, step: int) -> Waiting | None:
        return batch_store.waiting(self._conn, partner, step)

    def waiting_channels(self) -> set[tuple[str, int]]:
        return batch_store.waiting_channels(self._conn)

    def unbatch(self, partner: str, step: int, now: datetime) -> int:
        return batch_store.unbatch(self._conn, partner, step, now)

    def failed_channels(self) -> set[tuple[str, int]]:
        return batch_store.failed_channels(self._conn)

    def release_failed(self, partner: str, step: int, reason: str, now: datetime) -> int:
        return batch_store.release_failed(self._conn, partner, step, reason, now)

    def dissolve(self, row: Row[Any], owner: str, reason: str, now: datetime) -> int:
        return batch_store.dissolve(self._conn, row, owner, reason, now)

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
        return batch_store.insert_batch(
            self._conn, partner, spec, step, delivery_ids, trigger, now, test=test
        )

    def cut(
        self, partner: PartnerSpec, spec: FileChannel, step: int, limit: int, trigger: str, now: datetime
    ) -> str | None:
        return batch_store.cut(self._conn, partner, spec, step, limit, trigger, now)

    def any_due(self, now: datetime) -> bool:
        return batch_store.any_due(self._conn, now)

    def claim(
        self,
        owner: str,
        limit: int,
        now: datetime,
        lease_until: datetime,
        only_jobs: Collection[str] | None = None,
    ) -> list[Row[Any]]:
        return batch_store.claim(self._conn, owner, limit, now, lease_until, only_jobs)

    def batch(self, batch_id: str) -> Row[Any] | None:
        return batch_store.batch(self._conn, batch_id)

    def batch_leads(self, batch_id: str, *, cancelled_too: bool = False) -> list[Row[Any]]:
        return batch_store.batch_leads(self._conn, batch_id, cancelled_too=cancelled_too)

    def record_success(
        self,
        row: Row[Any],
        owner: str,
        *,
        location: str,
        size: int,
        started: datetime,
        duration_ms: float,
        price: float | None,
        now: datetime,
    ) -> list[str]:
        return batch_store.record_success(
            self._conn,
            row,
            owner,
            location=location,
            size=size,
            started=started,
            duration_ms=duration_ms,
            price=price,
            now=now,
        )

    def lock_jobs(self, job_ids: Sequence[str]) -> None:
        return batch_store.lock_jobs(self._conn, job_ids)

    def wake_jobs(self, job_ids: Sequence[str], now: datetime) -> None:
        return batch_store.wake_jobs(self._conn, job_ids, now)

    def wake_stranded(self, now: datetime, limit: int = 1000) -> int:
        return batch_store.wake_stranded(self._conn, now, limit)

    def record_failure(
        self,
        row: Row[Any],
        owner: str,
        *,
        reason: str,
        retry_at: datetime | None,
        started: datetime,
        duration_ms: float,
        now: datetime,
    ) -> None:
        return batch_store.record_failure(
            self._conn,
            row,
            owner,
            reason=reason,
            retry_at=retry_at,
            started=started,
            duration_ms=duration_ms,
            now=now,
        )

    def redeliver(self, batch_id: str, now: datetime) -> Row[Any] | None:
        return batch_store.redeliver(self._conn, batch_id, now)
