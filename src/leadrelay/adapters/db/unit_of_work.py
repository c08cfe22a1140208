"""The SQL side of the services' ports: ``SqlStorage`` runs a use case's function of a ``Tx`` in one
transaction of a ``Database``, and ``SqlTx`` hands it the repositories bound to that transaction.

The statements themselves live in the store modules beside this one; the repositories bind them to the
transaction's connection.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy import Connection, Row

from leadrelay.adapters.db import batch_store, config_store, dedup_store, store, suppression_store
from leadrelay.adapters.db.batch_queries import SqlBatchQueries
from leadrelay.adapters.db.deferred_writes import SqlDeferredWrites
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.erasure_queries import SqlErasure
from leadrelay.adapters.db.hold_queries import SqlHoldQueries
from leadrelay.adapters.db.log_queries import SqlLogQueries
from leadrelay.domain.batches import Waiting
from leadrelay.domain.dedup import Mark
from leadrelay.domain.model import FileChannel, PartnerSpec
from leadrelay.domain.states import LeadStatus
from leadrelay.domain.suppression import ListRow
from leadrelay.services.ports import Storage, Tx

T = TypeVar("T")
Objects = config_store.Objects


class SqlLeads:
    """A lead's row, its idempotent answer and its derived status."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def insert_leads(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        return store.insert_leads(self._conn, rows)

    def lead_by_idempotency_key(self, source: str, key: str) -> Row[Any] | None:
        return store.lead_by_idempotency_key(self._conn, source, key)

    def keep_answer(self, lead_id: str, code: int, body: Mapping[str, Any]) -> None:
        return store.keep_answer(self._conn, lead_id, code, body)

    def get_lead(self, lead_id: str) -> Row[Any] | None:
        return store.get_lead(self._conn, lead_id)

    def lead_outcome(self, lead_id: str) -> tuple[str, list[dict[str, Any]], str | None]:
        return store.lead_outcome(self._conn, lead_id)

    def refresh_lead_status(self, lead_id: str, now: datetime) -> LeadStatus:
        return store.refresh_lead_status(self._conn, lead_id, now)

    def refresh_lead_statuses(self, lead_ids: Sequence[str], now: datetime) -> dict[str, LeadStatus]:
        return store.refresh_lead_statuses(self._conn, lead_ids, now)


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


class SqlCaps:
    """Cap slots per partner, scope and window; round-robin counters."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def reserve_cap(self, partner: str, scope: str, window: str, limit: int) -> tuple[bool, int]:
        return store.reserve_cap(self._conn, partner, scope, window, limit)

    def release_caps(self, partner: str, windows: Sequence[Sequence[str]]) -> None:
        return store.release_caps(self._conn, partner, windows)

    def cap_usage(self, partner: str) -> dict[tuple[str, str], int]:
        return store.cap_usage(self._conn, partner)

    def next_rotation(self, key: str, n: int = 1) -> int:
        return store.next_rotation(self._conn, key, n)


class SqlDeliveries:
    """A job's deliveries to partners and their attempts."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def insert_delivery(self, row: Mapping[str, Any]) -> None:
        return store.insert_delivery(self._conn, row)

    def job_deliveries(self, job_id: str) -> list[Row[Any]]:
        return store.job_deliveries(self._conn, job_id)

    def deliveries_of(self, job_ids: Sequence[str]) -> dict[str, list[Row[Any]]]:
        return store.deliveries_of(self._conn, job_ids)

    def update_delivery(self, delivery_id: str, **values: Any) -> None:
        return store.update_delivery(self._conn, delivery_id, **values)

    def insert_attempt(self, row: Mapping[str, Any]) -> None:
        return store.insert_attempt(self._conn, row)


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

    def batch_leads(self, batch_id: str) -> list[Row[Any]]:
        return batch_store.batch_leads(self._conn, batch_id)

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


class SqlConfigObjects:
    """The stored configuration objects, their version, and the audit log."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def config_version(self) -> int:
        return config_store.config_version(self._conn)

    def bump_version(self) -> int:
        return config_store.bump_version(self._conn)

    def load_objects(self) -> Objects:
        return config_store.load_objects(self._conn)

    def put_object(self, kind: str, name: str, doc: Mapping[str, Any], now: datetime) -> None:
        return config_store.put_object(self._conn, kind, name, doc, now)

    def delete_object(self, kind: str, name: str) -> bool:
        return config_store.delete_object(self._conn, kind, name)

    def audit(
        self,
        *,
        actor: str,
        action: str,
        object_kind: str,
        object_id: str,
        at: datetime,
        detail: Mapping[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        return config_store.audit(
            self._conn,
            actor=actor,
            action=action,
            object_kind=object_kind,
            object_id=object_id,
            at=at,
            detail=detail,
            reason=reason,
        )


class SqlCredentials:
    """Source API keys and admin tokens (stored as hashes)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_api_key(self, source: str, key: str, now: datetime) -> str:
        return config_store.add_api_key(self._conn, source, key, now)

    def source_for_key(self, key: str) -> str | None:
        return config_store.source_for_key(self._conn, key)

    def add_admin_token(
        self, name: str, token: str, now: datetime, expires_at: datetime | None = None
    ) -> str:
        return config_store.add_admin_token(self._conn, name, token, now, expires_at)

    def admin_for_token(self, token: str) -> str | None:
        return config_store.admin_for_token(self._conn, token)

    def find_api_key(self, key: str) -> Row[Any] | None:
        return config_store.find_api_key(self._conn, key)

    def find_admin_token(self, token: str) -> Row[Any] | None:
        return config_store.find_admin_token(self._conn, token)

    def list_api_keys(self, source: str) -> list[Row[Any]]:
        return config_store.list_api_keys(self._conn, source)

    def list_admin_tokens(self) -> list[Row[Any]]:
        return config_store.list_admin_tokens(self._conn)

    def revoke_api_keys(self, source: str, now: datetime, key_id: str | None = None) -> list[str]:
        return config_store.revoke_api_keys(self._conn, source, now, key_id)

    def revoke_admin_token(self, token_id: str, now: datetime) -> bool:
        return config_store.revoke_admin_token(self._conn, token_id, now)

    def record_last_use(self, kind: str, ids: Sequence[str], now: datetime) -> None:
        return config_store.record_last_use(self._conn, kind, ids, now)


class SqlDedupMarks:
    """Dedup marks: keyed hashes of a lead's values, per scope, with expiry."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def lock_keys(self, keys: Collection[tuple[str, str]]) -> None:
        return dedup_store.lock_keys(self._conn, keys)

    def load_marks(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], Mark]:
        return dedup_store.load_marks(self._conn, keys)

    def put_marks(self, rows: Sequence[dict[str, Any]]) -> None:
        return dedup_store.put_marks(self._conn, rows)

    def release_partner_marks(self, partner: str, lead_id: str) -> None:
        return dedup_store.release_partner_marks(self._conn, partner, lead_id)

    def forget_leads(self, lead_ids: Sequence[str]) -> int:
        return dedup_store.forget_leads(self._conn, lead_ids)

    def any_marks(self) -> bool:
        return dedup_store.any_marks(self._conn)

    def count_marks(self) -> int:
        return dedup_store.count_marks(self._conn)

    def marks_after(self, after: tuple[str, str] | None, limit: int) -> list[Row[Any]]:
        return dedup_store.marks_after(self._conn, after, limit)

    def drop_marks(self, keys: Collection[tuple[str, str]]) -> None:
        return dedup_store.drop_marks(self._conn, keys)

    def move_marks(self, moves: Sequence[tuple[Row[Any], str]]) -> None:
        return dedup_store.move_marks(self._conn, moves)


class SqlSuppressionLists:
    """Suppression lists and their hashed entries."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def create_list(self, name: str, kind: str, description: str | None, now: datetime) -> None:
        return suppression_store.create_list(self._conn, name, kind, description, now)

    def count_entries(self, name: str) -> int:
        return suppression_store.count_entries(self._conn, name)

    def get_list(self, name: str, *, lock: bool = False, count: bool = True) -> ListRow | None:
        return suppression_store.get_list(self._conn, name, lock=lock, count=count)

    def lists(self) -> list[ListRow]:
        return suppression_store.lists(self._conn)

    def delete_list(self, name: str) -> int:
        return suppression_store.delete_list(self._conn, name)

    def add_hashes(self, list_name: str, hashes: Iterable[str]) -> int:
        return suppression_store.add_hashes(self._conn, list_name, hashes)

    def remove_hashes(self, list_name: str, hashes: Iterable[str]) -> int:
        return suppression_store.remove_hashes(self._conn, list_name, hashes)

    def listed(self, lists: Sequence[str], hashes: Collection[str]) -> set[tuple[str, str]]:
        return suppression_store.listed(self._conn, lists, hashes)

    def list_names(self) -> set[str]:
        return suppression_store.list_names(self._conn)


class SqlTx:
    """The repositories of one transaction (``leadrelay.services.ports.Tx``)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @cached_property
    def leads(self) -> SqlLeads:
        return SqlLeads(self.conn)

    @cached_property
    def jobs(self) -> SqlJobs:
        return SqlJobs(self.conn)

    @cached_property
    def caps(self) -> SqlCaps:
        return SqlCaps(self.conn)

    @cached_property
    def deliveries(self) -> SqlDeliveries:
        return SqlDeliveries(self.conn)

    @cached_property
    def batches(self) -> SqlBatches:
        return SqlBatches(self.conn)

    @cached_property
    def config(self) -> SqlConfigObjects:
        return SqlConfigObjects(self.conn)

    @cached_property
    def credentials(self) -> SqlCredentials:
        return SqlCredentials(self.conn)

    @cached_property
    def dedup(self) -> SqlDedupMarks:
        return SqlDedupMarks(self.conn)

    @cached_property
    def suppression(self) -> SqlSuppressionLists:
        return SqlSuppressionLists(self.conn)

    # -- group A --
    @cached_property
    def deferred(self) -> SqlDeferredWrites:
        return SqlDeferredWrites(self.conn)

    # -- group B --
    @cached_property
    def log(self) -> SqlLogQueries:
        return SqlLogQueries(self.conn)

    @cached_property
    def holds(self) -> SqlHoldQueries:
        return SqlHoldQueries(self.conn)

    # -- group C --
    @cached_property
    def batch_queries(self) -> SqlBatchQueries:
        return SqlBatchQueries(self.conn)

    # -- group D --
    @property
    def suppression_names(self) -> SqlSuppressionLists:
        return self.suppression

    @cached_property
    def erasure(self) -> SqlErasure:
        return SqlErasure(self.conn)


class SqlStorage:
    """``leadrelay.services.ports.Storage`` on a ``Database``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def transaction(self, fn: Callable[[SqlTx], T], *, relaxed: bool = False) -> T:
        return self.db.transaction(lambda conn: fn(SqlTx(conn)), relaxed=relaxed)

    def read(self, fn: Callable[[SqlTx], T]) -> T:
        return self.db.read(lambda conn: fn(SqlTx(conn)))

    async def run(self, fn: Callable[[SqlTx], T], *, background: bool = False, relaxed: bool = False) -> T:
        return await self.db.run(lambda conn: fn(SqlTx(conn)), background=background, relaxed=relaxed)

    async def run_read(self, fn: Callable[[SqlTx], T]) -> T:
        return await self.db.run_read(lambda conn: fn(SqlTx(conn)))


def connection_of(tx: Tx) -> Connection:
    """The connection under a ``Tx`` that an adapter outside the repositories (the key ring) reads in."""
    if not isinstance(tx, SqlTx):
        raise TypeError(f"not a SQL transaction: {tx!r}")
    return tx.conn


def _conforms(storage: SqlStorage, tx: SqlTx) -> tuple[Storage, Tx]:
    """mypy proves here that the SQL side implements the ports."""
    return storage, tx
