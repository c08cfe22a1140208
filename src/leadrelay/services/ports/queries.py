"""Query objects of a ``Tx``: the statements one use case needs (the log, holds, erasure …), bound to
the transaction's connection in ``leadrelay.adapters.db``."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from leadrelay.domain.log_filter import DistributionFilter
from leadrelay.domain.privacy import FieldMatch
from leadrelay.services.ports.records import Record

if TYPE_CHECKING:
    from leadrelay.services.writes import Writes


class DeferredWrites(Protocol):
    """Executes the writes a routing or recording step collected (``services.writes.Writes``): one
    ``executemany`` per statement shape, then the status of every lead it touched."""

    def flush(self, writes: Writes, now: datetime) -> None: ...


class LogQueries(Protocol):
    """The distribution log and the audit log, as ``log list/show`` and ``/v1/distributions`` read them."""

    def distributions(self, f: DistributionFilter, limit: int) -> list[Record]:
        """The jobs ``f`` selects (older than ``f.cursor``), each with its lead's ``source``, newest first,
        at most ``limit`` (the caller's page size, not ``f.limit``)."""
        ...

    def delivery_states(self, job_ids: Sequence[str]) -> list[Record]:
        """The ``job_id``, ``partner`` and ``status`` of every delivery of these jobs."""
        ...

    def distribution(self, job_id: str) -> Record | None:
        """One job with its lead's ``source``."""
        ...

    def attempts(self, job_id: str) -> list[Record]:
        """The job's delivery attempts, oldest first."""
        ...

    def batches(self, batch_ids: Sequence[str]) -> list[Record]:
        """The batches (files or digests) with these ids."""
        ...

    def batch_attempts(self, batch_ids: Sequence[str]) -> list[Record]:
        """The attempts to deliver these batches, by number."""
        ...

    def audit_entries(self, cursor: str | None, limit: int) -> list[Record]:
        """Audit entries older than ``cursor``, newest first, at most ``limit``."""
        ...


class HoldQueries(Protocol):
    """Deliveries held for pick-up by the ``hold`` channel."""

    def held(
        self, partner: str | None, limit: int, after: tuple[datetime, str] | None = None
    ) -> list[Record]:
        """Held deliveries (of ``partner``), each with its lead's ``data`` and ``sealed``, oldest hold
        first (by ``held_at``, then id), at most ``limit``; with ``after``, those that come after that
        (``held_at``, id)."""
        ...

    def delivery(self, delivery_id: str) -> Record | None: ...

    def update_held(self, delivery_id: str, **values: Any) -> bool:
        """Updates the delivery if it is still held; False when it is not."""
        ...


class SuppressionListNames(Protocol):
    """The names of the suppression lists that exist (what configuration may name), without counting
    their entries."""

    def list_names(self) -> set[str]: ...


class Erasure(Protocol):
    """The statements of erasure and retention: find a person's or an old lead, blank what identifies the
    person in the lead, its jobs, attempts and deliveries, and close its deliveries not sent yet (taking
    it out of batches not sent yet)."""

    def unerased_leads(self, lead_ids: Sequence[str]) -> list[Record]: ...

    def leads_matching(self, entity: str, matches: Sequence[FieldMatch]) -> list[str]: ...

    def leads_received_before(self, cutoff: datetime, limit: int) -> list[str]: ...

    def forget_import_rejects(self, source: str, entity: str, at: datetime) -> int:
        """Drop the rejects files of the console imports of ``source`` and ``entity`` that were running at
        ``at`` (started by then, not finished before): a lead received then may be one of their rows, whose
        plain values the file quotes. How many were dropped."""
        ...

    def job_texts(self, lead_id: str) -> list[Record]:
        """The lead's jobs (``id``, ``trace``, ``error``), locked until the transaction ends (PostgreSQL),
        in the order workers lock jobs."""
        ...

    def set_job_texts(self, job_id: str, trace: Any, error: str | None) -> None: ...

    def finish_lead_jobs(
        self,
        lead_id: str,
        *,
        statuses: Collection[str],
        queue_states: Collection[str],
        status: str,
        queue_state: str,
        error: str | None,
        now: datetime,
    ) -> None: ...

    def finish_job(
        self,
        job_id: str,
        *,
        statuses: Collection[str],
        queue_states: Collection[str],
        status: str,
        queue_state: str,
        error: str | None,
        now: datetime,
    ) -> None: ...

    def attempt_reasons(self, lead_id: str) -> list[Record]: ...

    def erase_attempt(self, attempt_id: str, reason: str | None) -> None: ...

    def delivery_reasons(self, lead_id: str) -> list[Record]:
        """The lead's deliveries (``id``, ``reason``, ``cancel_reason``)."""
        ...

    def audit_reasons(self, object_ids: Collection[str]) -> list[Record]:
        """The audit entries about these objects that give a reason (``id``, ``reason``)."""
        ...

    def set_audit_reason(self, entry_id: str, reason: str | None) -> None:
        """An audit entry's reason, redacted (an operator's words may quote the person)."""
        ...

    def lead_deliveries(self, lead_id: str, statuses: Collection[str]) -> list[Record]:
        """The lead's deliveries in one of ``statuses`` (whole rows)."""
        ...

    def shrink_batch(self, batch_id: str) -> None: ...

    def blank_leads(self, lead_ids: Sequence[str], now: datetime) -> None: ...


class SimulationReads(Protocol):
    """What the routing simulator and backtest read (``services.simulation``); nothing here writes."""

    def leads_between(
        self, since: datetime, until: datetime, after: tuple[datetime, str] | None, limit: int
    ) -> list[Record]:
        """Non-test leads created in ``[since, until)`` after the cursor ``(created_at, id)``, oldest
        first, at most ``limit``: ``id``, ``entity``, ``source``, ``status``, ``data``, ``sealed``,
        ``created_at``."""
        ...

    def deliveries(self, lead_ids: Sequence[str]) -> list[Record]:
        """The deliveries of these leads' routing jobs (not resends, not tests): ``lead_id``, ``partner``,
        ``status``, ``price`` (a delivered one's: the sale's)."""
        ...

    def bids(self, lead_ids: Sequence[str]) -> list[Record]:
        """The recorded bids of these leads (not superseded): ``lead_id``, ``profile``, ``partner``,
        ``status``, ``price``, ``shared_price``, ``reference``."""
        ...

    def rotation(self, key: str) -> int:
        """A rotation counter as it stands (what ``Caps.next_rotation`` would hand out next), not moved."""
        ...

    def dedup_key_recorded(self) -> bool:
        """Whether the installation's dedup key is recorded (else no dedup mark exists yet)."""
        ...

    def read_only(self) -> AbstractContextManager[None]:
        """Within it, the database itself refuses any write of this transaction (a dry run's guard)."""
        ...
