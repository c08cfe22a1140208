"""The repositories of a ``SqlTx`` (``leadrelay.services.ports.repositories``): each binds the functions of
a store module (``store``, ``cap_store``, ``config_store``, ``dedup_store``, ``suppression_store``) to the
transaction's connection. The batch repository is in ``batch_repository``, the jobs one in ``job_repository``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from leadrelay.adapters.db import (
    availability_store,
    breaker_store,
    cap_store,
    config_store,
    dedup_store,
    lead_answers,
    store,
    suppression_store,
)
from leadrelay.domain.dedup import Mark
from leadrelay.domain.states import LeadStatus
from leadrelay.domain.suppression import ListRow
from leadrelay.services.ports.records import LeadOutcome

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

    def lead_outcome(self, lead_id: str) -> LeadOutcome | None:
        return lead_answers.lead_outcome(self._conn, lead_id)

    def refresh_lead_status(self, lead_id: str, now: datetime) -> LeadStatus:
        return store.refresh_lead_status(self._conn, lead_id, now)

    def refresh_lead_statuses(self, lead_ids: Sequence[str], now: datetime) -> dict[str, LeadStatus]:
        return store.refresh_lead_statuses(self._conn, lead_ids, now)


class SqlCaps:
    """Cap slots per partner, scope and window; round-robin counters; partner availability."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def reserve_cap(self, partner: str, scope: str, window: str, limit: int) -> tuple[bool, int]:
        return cap_store.reserve_cap(self._conn, partner, scope, window, limit)

    def release_caps(self, partner: str, windows: Sequence[Sequence[str]]) -> None:
        return cap_store.release_caps(self._conn, partner, windows)

    def seed_window(
        self,
        owner: str,
        scope: str,
        window: str,
        since: datetime | None,
        *,
        again: bool = False,
        settled_too: bool = True,
    ) -> None:
        cap_store.seed_window(self._conn, owner, scope, window, since, again=again, settled_too=settled_too)

    def cap_usage(self, partner: str) -> dict[tuple[str, str], int]:
        return cap_store.cap_usage(self._conn, partner)

    def cap_used(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
        return cap_store.cap_used(self._conn, keys)

    def next_rotation(self, key: str, n: int = 1) -> int:
        return cap_store.next_rotation(self._conn, key, n)

    def set_availability(
        self, partner: str, available: bool, note: str | None, actor: str, at: datetime
    ) -> bool | None:
        return availability_store.set_availability(self._conn, partner, available, note, actor, at)

    def unavailable_partners(self) -> frozenset[str]:
        return availability_store.unavailable_partners(self._conn)

    def availability(self) -> dict[str, dict[str, Any]]:
        return availability_store.availability(self._conn)

    def unavailable_and_breakers(self) -> tuple[frozenset[str], dict[str, dict[str, Any]]]:
        return breaker_store.unavailable_and_breakers(self._conn)

    def breakers(self) -> dict[str, dict[str, Any]]:
        return breaker_store.breakers(self._conn)

    def move_breaker(
        self, partner: str, values: dict[str, Any], expect: Collection[str], due: datetime | None = None
    ) -> bool:
        return breaker_store.move_breaker(self._conn, partner, values, expect, due)


class SqlDeliveries:
    """A job's deliveries to partners and their attempts."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def insert_delivery(self, row: Mapping[str, Any]) -> None:
        return store.insert_delivery(self._conn, row)

    def job_deliveries(self, job_id: str, *, lock: bool = False) -> list[Row[Any]]:
        return store.job_deliveries(self._conn, job_id, lock=lock)

    def deliveries_of(self, job_ids: Sequence[str]) -> dict[str, list[Row[Any]]]:
        return store.deliveries_of(self._conn, job_ids)

    def update_delivery(self, delivery_id: str, **values: Any) -> None:
        return store.update_delivery(self._conn, delivery_id, **values)

    def insert_attempt(self, row: Mapping[str, Any]) -> None:
        return store.insert_attempt(self._conn, row)

    def post_observations(
        self, since: datetime, partner: str | None = None, limit: int = 50_000
    ) -> list[tuple[str, datetime, float, str, str | None]]:
        return breaker_store.post_observations(self._conn, since, partner, limit)

    def ping_observations(
        self, since: datetime, partner: str | None = None, limit: int = 50_000
    ) -> list[tuple[str, datetime, float, str]]:
        return breaker_store.ping_observations(self._conn, since, partner, limit)

    def insert_bids(self, rows: Sequence[Mapping[str, Any]]) -> None:
        return store.insert_bids(self._conn, rows)

    def bids_of(self, job_id: str, *, history: bool = False) -> list[Row[Any]]:
        return store.bids_of(self._conn, job_id, history=history)

    def supersede_bids(self, job_id: str) -> None:
        return store.supersede_bids(self._conn, job_id)

    def update_bid(self, bid_id: str, **values: Any) -> None:
        return store.update_bid(self._conn, bid_id, **values)

    def insert_supplier_ping(self, row: Mapping[str, Any]) -> None:
        return store.insert_supplier_ping(self._conn, row)

    def supplier_ping(self, ping_id: str) -> Row[Any] | None:
        return store.supplier_ping(self._conn, ping_id)

    def use_supplier_ping(self, ping_id: str, lead_id: str, now: datetime) -> bool:
        return store.use_supplier_ping(self._conn, ping_id, lead_id, now)

    def revoke_supplier_pings(self, source: str, now: datetime) -> int:
        return store.revoke_supplier_pings(self._conn, source, now)

    def insert_offers(self, rows: Sequence[Mapping[str, Any]]) -> None:
        return store.insert_offers(self._conn, rows)

    def offers_of(self, job_id: str, *, history: bool = False) -> list[Row[Any]]:
        return store.offers_of(self._conn, job_id, history=history)

    def supersede_offers(self, job_id: str) -> None:
        return store.supersede_offers(self._conn, job_id)

    def lead_offers(self, lead_id: str) -> list[Row[Any]]:
        return store.lead_offers(self._conn, lead_id)

    def get_offer(self, offer_id: str) -> Row[Any] | None:
        return store.get_offer(self._conn, offer_id)

    def update_offer(self, offer_id: str, **values: Any) -> None:
        return store.update_offer(self._conn, offer_id, **values)

    def jobs_with_expired_offers(self, now: datetime, limit: int) -> list[str]:
        return store.jobs_with_expired_offers(self._conn, now, limit)

    def any_expired_offer(self, now: datetime) -> bool:
        return store.any_expired_offer(self._conn, now)


class SqlConfigObjects:
    """The stored configuration objects, their version, and the audit log."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def config_version(self) -> int:
        return config_store.config_version(self._conn)

    def lock_config(self) -> int:
        return config_store.lock_config(self._conn)

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

    def add_api_key(self, owner: str, key: str, now: datetime, *, owner_kind: str = "source") -> str:
        return config_store.add_api_key(self._conn, owner, key, now, owner_kind=owner_kind)

    def source_for_key(self, key: str) -> str | None:
        return config_store.source_for_key(self._conn, key)

    def add_admin_token(
        self, name: str, token: str, now: datetime, expires_at: datetime | None = None, *, role: str = "admin"
    ) -> str:
        return config_store.add_admin_token(self._conn, name, token, now, expires_at, role=role)

    def admin_for_token(self, token: str) -> str | None:
        return config_store.admin_for_token(self._conn, token)

    def find_api_key(self, key: str) -> Row[Any] | None:
        return config_store.find_api_key(self._conn, key)

    def find_admin_token(self, token: str) -> Row[Any] | None:
        return config_store.find_admin_token(self._conn, token)

    def list_api_keys(self, owner: str, *, owner_kind: str = "source") -> list[Row[Any]]:
        return config_store.list_api_keys(self._conn, owner, owner_kind=owner_kind)

    def list_admin_tokens(self) -> list[Row[Any]]:
        return config_store.list_admin_tokens(self._conn)

    def revoke_api_keys(
        self, owner: str, now: datetime, key_id: str | None = None, *, owner_kind: str = "source"
    ) -> list[str]:
        return config_store.revoke_api_keys(self._conn, owner, now, key_id, owner_kind=owner_kind)

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

    def put_lookups(self, rows: Sequence[tuple[str, str]]) -> None:
        return dedup_store.put_lookups(self._conn, rows)

    def replace_lookups(
        self, lead_ids: Sequence[str], rows: Sequence[tuple[str, str]], *, wait: bool = False
    ) -> tuple[int, list[str]]:
        return dedup_store.replace_lookups(self._conn, lead_ids, rows, wait=wait)

    def leads_by_lookup(self, keys: Collection[str], limit: int, *, before: str | None = None) -> list[str]:
        return dedup_store.leads_by_lookup(self._conn, keys, limit, before)

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
