"""The jobs repository of a ``SqlTx`` (``services.ports.repositories.Jobs``): distribution jobs and their
queue claims, bound to the transaction's connection (the SQL is ``store``'s)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from leadrelay.adapters.db import store


class SqlJobs:
    """Distribution jobs and their queue claims (lease per owner)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def insert_jobs(self, rows: Sequence[dict[str, Any]]) -> None:
        return store.insert_jobs(self._conn, rows)

    def claim_jobs(
        self, owner: str, limit: int, now: datetime, lease_until: datetime, only: Iterable[str] | None = None
    ) -> list[str]:
        return store.claim_jobs(self._conn, owner, limit, now, lease_until, only)

    def extend_leases(self, owner: str, job_ids: Iterable[str], lease_until: datetime) -> None:
        return store.extend_leases(self._conn, owner, job_ids, lease_until)

    def release_jobs(self, owner: str, job_ids: Iterable[str], now: datetime) -> int:
        return store.release_jobs(self._conn, owner, job_ids, now)

    def load_jobs(self, job_ids: Sequence[str], *, lock: bool = False) -> list[Row[Any]]:
        return store.load_jobs(self._conn, job_ids, lock=lock)

    def owns(self, job_id: str, owner: str) -> bool:
        return store.owns(self._conn, job_id, owner)

    def update_job(self, job_id: str, **values: Any) -> None:
        return store.update_job(self._conn, job_id, **values)

    def job_had_errors(self, job_id: str) -> bool:
        return store.job_had_errors(self._conn, job_id)

    def open_resends(self, lead_id: str, partners: Sequence[str]) -> list[str]:
        return store.open_resends(self._conn, lead_id, partners)
