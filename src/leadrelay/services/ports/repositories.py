"""The repositories a ``Tx`` holds, one per stored concept. Each has the methods of the functions of a
store module in ``leadrelay.adapters.db`` (``store``, ``config_store``, ``dedup_store``,
``suppression_store``) minus their leading connection: ``store.get_lead(conn, lead_id)`` is
``tx.leads.get_lead(lead_id)``. The batch repository is in ``ports.batches``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from leadrelay.domain.dedup import Mark
from leadrelay.domain.states import LeadStatus
from leadrelay.domain.suppression import ListRow
from leadrelay.services.ports.records import LeadOutcome, Objects, Record


class Leads(Protocol):
    """A lead's row, its idempotent answer and its derived status."""

    def insert_leads(self, rows: Sequence[dict[str, Any]]) -> set[str]: ...

    def lead_by_idempotency_key(self, source: str, key: str) -> Record | None: ...

    def keep_answer(self, lead_id: str, code: int, body: Mapping[str, Any]) -> None: ...

    def get_lead(self, lead_id: str) -> Record | None: ...

    def lead_outcome(self, lead_id: str) -> LeadOutcome | None:
        """The lead's answer to its source (``None``: no such lead)."""

    def refresh_lead_status(self, lead_id: str, now: datetime) -> LeadStatus: ...

    def refresh_lead_statuses(self, lead_ids: Sequence[str], now: datetime) -> dict[str, LeadStatus]: ...


class Jobs(Protocol):
    """Distribution jobs and their queue claims (lease per owner)."""

    def insert_jobs(self, rows: Sequence[dict[str, Any]]) -> None: ...

    def claim_jobs(
        self, owner: str, limit: int, now: datetime, lease_until: datetime, only: Iterable[str] | None = None
    ) -> list[str]: ...

    def extend_leases(self, owner: str, job_ids: Iterable[str], lease_until: datetime) -> None: ...

    def release_jobs(self, owner: str, job_ids: Iterable[str], now: datetime) -> int: ...

    def load_jobs(self, job_ids: Sequence[str], *, lock: bool = False) -> list[Record]: ...

    def owns(self, job_id: str, owner: str) -> bool: ...

    def update_job(self, job_id: str, **values: Any) -> None: ...

    def job_had_errors(self, job_id: str) -> bool: ...

    def open_resends(self, lead_id: str, partners: Sequence[str]) -> list[str]:
        """The ids of the lead's resend jobs to any of ``partners`` still on their way: open, or held for the
        partner's pick-up (a resend of the job, or of a resend of it: the buyer would get the lead twice)."""


class Caps(Protocol):
    """Cap slots per partner, scope and window; round-robin counters; partner availability (a partner
    never set is available)."""

    def reserve_cap(self, partner: str, scope: str, window: str, limit: int) -> tuple[bool, int]: ...

    def release_caps(self, partner: str, windows: Sequence[Sequence[str]]) -> None: ...

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
        """Count what a cap window holds already, where it was not counted (or ``again``: a period newly
        capped, whose counter froze while it was not): the partner's deliveries that keep a slot (of the
        profile ``scope``'s jobs, unless ``""``; a resend takes none), or for a source's counter
        (``domain.caps.source_counter``) its valid leads, made since ``since`` (None: ever). Each delivery
        counted carries the window from then on, so that its failure or cancel gives the slot back. A
        counter is never set below what it says (erring on the cap's side). ``settled_too``: the delivered
        ones carry it too (a cancel gives the slot back); else only those not delivered yet (a month's or
        a whole history's sales are counted, not updated: a cancel of one of them keeps its slot)."""
        ...

    def cap_usage(self, partner: str) -> dict[tuple[str, str], int]: ...

    def cap_used(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]: ...

    def next_rotation(self, key: str, n: int = 1) -> int: ...

    def set_availability(
        self, partner: str, available: bool, note: str | None, actor: str, at: datetime
    ) -> bool | None:
        """Record it at once; returns the availability before (None: never set)."""
        ...

    def unavailable_partners(self) -> frozenset[str]: ...

    def availability(self) -> dict[str, dict[str, Any]]: ...

    def unavailable_and_breakers(self) -> tuple[frozenset[str], dict[str, dict[str, Any]]]:
        """The partners checked out, and every circuit breaker not closed: name → {state, opened_at,
        retry_at, reason, changed_at} (one read per routing batch)."""
        ...

    def breakers(self) -> dict[str, dict[str, Any]]:
        """Every stored breaker (closed ones too), by partner name, as above."""
        ...

    def move_breaker(
        self, partner: str, values: dict[str, Any], expect: Collection[str], due: datetime | None = None
    ) -> bool:
        """Set the breaker's row to ``values`` if its state is one of ``expect`` (no row counts as
        ``closed``) and, with ``due``, its ``retry_at`` is at or before it; True when it moved."""
        ...


class Deliveries(Protocol):
    """A job's deliveries to partners and their attempts."""

    def insert_delivery(self, row: Mapping[str, Any]) -> None: ...

    def job_deliveries(self, job_id: str, *, lock: bool = False) -> list[Record]:
        """The job's deliveries by id; ``lock``: their rows held to the transaction's end (PostgreSQL)."""
        ...

    def deliveries_of(self, job_ids: Sequence[str]) -> dict[str, list[Record]]: ...

    def update_delivery(self, delivery_id: str, **values: Any) -> None: ...

    def insert_attempt(self, row: Mapping[str, Any]) -> None: ...

    def post_observations(
        self, since: datetime, partner: str | None = None, limit: int = 50_000
    ) -> list[tuple[str, datetime, float, str, str | None]]:
        """Delivery attempts started at or after ``since`` (one partner's, or all), newest first, at most
        ``limit``: (partner, started_at, duration_ms, outcome, reason)."""
        ...

    def ping_observations(
        self, since: datetime, partner: str | None = None, limit: int = 50_000
    ) -> list[tuple[str, datetime, float, str]]:
        """Pings (stored bids with a duration) made at or after ``since`` (one partner's, or all), newest
        first, at most ``limit``: (partner, created_at, duration_ms, status)."""
        ...

    def insert_bids(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """An auction's answers (``bids`` rows), one per partner."""
        ...

    def bids_of(self, job_id: str, *, history: bool = False) -> list[Record]:
        """A job's bids of its current auction (``history``: of every auction, reruns' too), in the order
        they were stored."""
        ...

    def supersede_bids(self, job_id: str) -> None:
        """Keep the job's bids so far in its history only (a rerun auctions the lead afresh)."""
        ...

    def update_bid(self, bid_id: str, **values: Any) -> None: ...

    def insert_supplier_ping(self, row: Mapping[str, Any]) -> None:
        """A source's ping (``supplier_pings``): its quote and bids, no lead value."""
        ...

    def supplier_ping(self, ping_id: str) -> Record | None: ...

    def use_supplier_ping(self, ping_id: str, lead_id: str, now: datetime) -> bool:
        """Mark the ping's token used by ``lead_id``, if it is neither used nor expired at ``now``; whether
        it was (of two transactions using one token, one gets True)."""

    def revoke_supplier_pings(self, source: str, now: datetime) -> int:
        """Mark every unused token of ``source``'s pings used by no lead (its source is deleted: a source
        created later under the name is another party); how many."""
        ...

    def insert_offers(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """A user-choice job's offers (``offers`` rows), one per partner offered."""
        ...

    def offers_of(self, job_id: str, *, history: bool = False) -> list[Record]:
        """A job's offers of its last routing (or, with ``history``, every round's), in the target's order
        (``place``)."""
        ...

    def supersede_offers(self, job_id: str) -> None:
        """A rerun offers afresh: mark the job's offers so far superseded (history only)."""
        ...

    def lead_offers(self, lead_id: str) -> list[Record]:
        """Every offer made for a lead, job by job, each job's in the target's order."""
        ...

    def get_offer(self, offer_id: str) -> Record | None: ...

    def update_offer(self, offer_id: str, **values: Any) -> None: ...

    def jobs_with_expired_offers(self, now: datetime, limit: int) -> list[str]:
        """The jobs (at most ``limit``, the oldest offer first) with an open offer past its time."""
        ...

    def any_expired_offer(self, now: datetime) -> bool:
        """Whether an open offer is past its time (the sweep's cheap read before its write)."""
        ...


class ConfigObjects(Protocol):
    """The stored configuration objects, their version, and the audit log."""

    def config_version(self) -> int: ...

    def lock_config(self) -> int:
        """Take the configuration's write lock until the transaction ends and return its version: every
        change of the configuration objects takes it before reading them, so a check made on what was read
        (a preview's fingerprint, references between objects) still holds at the write."""
        ...

    def bump_version(self) -> int: ...

    def load_objects(self) -> Objects: ...

    def put_object(self, kind: str, name: str, doc: Mapping[str, Any], now: datetime) -> None: ...

    def delete_object(self, kind: str, name: str) -> bool: ...

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
    ) -> None: ...


class Credentials(Protocol):
    """API keys of sources and partners (``owner_kind``: "source" or "partner") and admin tokens (stored as
    hashes). A key row has ``id``, ``owner_kind``, ``owner``, ``prefix``, ``created_at``, ``last_used_at``
    and ``revoked_at``."""

    def add_api_key(self, owner: str, key: str, now: datetime, *, owner_kind: str = "source") -> str: ...

    def source_for_key(self, key: str) -> str | None: ...

    def add_admin_token(
        self, name: str, token: str, now: datetime, expires_at: datetime | None = None, *, role: str = "admin"
    ) -> str: ...

    def admin_for_token(self, token: str) -> str | None: ...

    def find_api_key(self, key: str) -> Record | None: ...

    def find_admin_token(self, token: str) -> Record | None: ...

    def list_api_keys(self, owner: str, *, owner_kind: str = "source") -> list[Record]: ...

    def list_admin_tokens(self) -> list[Record]: ...

    def revoke_api_keys(
        self, owner: str, now: datetime, key_id: str | None = None, *, owner_kind: str = "source"
    ) -> list[str]: ...

    def revoke_admin_token(self, token_id: str, now: datetime) -> bool: ...

    def record_last_use(self, kind: str, ids: Sequence[str], now: datetime) -> None: ...


class DedupMarks(Protocol):
    """Dedup marks: keyed hashes of a lead's values, per scope, with expiry."""

    def lock_keys(self, keys: Collection[tuple[str, str]]) -> None: ...

    def load_marks(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], Mark]: ...

    def put_marks(self, rows: Sequence[dict[str, Any]]) -> None: ...

    def release_partner_marks(self, partner: str, lead_id: str) -> None: ...

    def forget_leads(self, lead_ids: Sequence[str]) -> int:
        """Erasure: the leads' dedup marks and lookup keys go; returns how many marks went."""
        ...

    def put_lookups(self, rows: Sequence[tuple[str, str]]) -> None:
        """``(lead_id, key_hash)``: the leads' lookup keys (``domain.lookup``), in one statement."""
        ...

    def replace_lookups(
        self, lead_ids: Sequence[str], rows: Sequence[tuple[str, str]], *, wait: bool = False
    ) -> tuple[int, list[str]]:
        """The lookup keys of these leads replaced by ``rows`` (``(lead_id, key_hash)``), for the leads
        still not erased only, each lead's row held (PostgreSQL: FOR SHARE) until the commit so an
        erasure in flight either wins first (no key written) or deletes these keys after; returns how
        many leads had their keys replaced, and the ids skipped because another transaction holds them
        (``wait`` False, PostgreSQL: do them again)."""
        ...

    def leads_by_lookup(self, keys: Collection[str], limit: int, *, before: str | None = None) -> list[str]:
        """The ids of the leads holding any of these lookup keys, newest first (an index lookup), those
        before the id ``before`` only when given."""
        ...

    def any_marks(self) -> bool: ...

    def count_marks(self) -> int: ...

    def marks_after(self, after: tuple[str, str] | None, limit: int) -> list[Record]: ...

    def drop_marks(self, keys: Collection[tuple[str, str]]) -> None: ...

    def move_marks(self, moves: Sequence[tuple[Record, str]]) -> None: ...


class SuppressionLists(Protocol):
    """Suppression lists and their hashed entries."""

    def create_list(self, name: str, kind: str, description: str | None, now: datetime) -> None: ...

    def count_entries(self, name: str) -> int: ...

    def get_list(self, name: str, *, lock: bool = False, count: bool = True) -> ListRow | None: ...

    def lists(self) -> list[ListRow]: ...

    def delete_list(self, name: str) -> int: ...

    def add_hashes(self, list_name: str, hashes: Iterable[str]) -> int: ...

    def remove_hashes(self, list_name: str, hashes: Iterable[str]) -> int: ...

    def listed(self, lists: Sequence[str], hashes: Collection[str]) -> set[tuple[str, str]]: ...
