"""The ports the services talk to. Implementations live in ``leadrelay.adapters``.

A use case runs its reads and writes in one transaction through a ``Storage`` (the unit of work): it
passes a function of a ``Tx``, whose attributes are the repositories. The SQL behind them lives in
``leadrelay.adapters.db``; the unit tests pass in-memory fakes. Time and new ids come from an injected
``Clock`` and ``IdSource``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from leadrelay.domain.attempts import AttemptResult, LeadView
from leadrelay.domain.batches import Waiting
from leadrelay.domain.dedup import Mark, MarkHasher
from leadrelay.domain.files import FileFormat, UploadResult
from leadrelay.domain.log_filter import DistributionFilter
from leadrelay.domain.model import ChannelSpec, FileChannel, PartnerSpec
from leadrelay.domain.privacy import FieldMatch
from leadrelay.domain.states import LeadStatus
from leadrelay.domain.suppression import ListRow
from leadrelay.ids import new_id

if TYPE_CHECKING:
    from leadrelay.services.writes import Writes

T = TypeVar("T")

Record = Any
"""A stored row as a repository returns it: its columns are attributes (``row.status``)."""

Objects = dict[str, dict[str, dict[str, Any]]]
"""The stored configuration: kind → name → document."""


class Clock(Protocol):
    """The current time, timezone-aware UTC."""

    def __call__(self) -> datetime: ...


class IdSource(Protocol):
    """A new unique, time-ordered id with a prefix (``lead_01m81z…``)."""

    def __call__(self, prefix: str) -> str: ...


def system_clock() -> datetime:
    return datetime.now(UTC)


system_ids: IdSource = new_id


class Channel(Protocol):
    """Sends one lead to one partner through one transport; never raises for transport trouble."""

    async def send(self, lead: LeadView, spec: ChannelSpec) -> AttemptResult: ...

    async def close(self) -> None: ...


class Leads(Protocol):
    """A lead's row, its idempotent answer and its derived status."""

    def insert_leads(self, rows: Sequence[dict[str, Any]]) -> set[str]: ...

    def lead_by_idempotency_key(self, source: str, key: str) -> Record | None: ...

    def keep_answer(self, lead_id: str, code: int, body: Mapping[str, Any]) -> None: ...

    def get_lead(self, lead_id: str) -> Record | None: ...

    def lead_outcome(self, lead_id: str) -> tuple[str, list[dict[str, Any]], str | None]: ...

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


class Caps(Protocol):
    """Cap slots per partner, scope and window; round-robin counters."""

    def reserve_cap(self, partner: str, scope: str, window: str, limit: int) -> tuple[bool, int]: ...

    def release_caps(self, partner: str, windows: Sequence[Sequence[str]]) -> None: ...

    def cap_usage(self, partner: str) -> dict[tuple[str, str], int]: ...

    def next_rotation(self, key: str, n: int = 1) -> int: ...


class Deliveries(Protocol):
    """A job's deliveries to partners and their attempts."""

    def insert_delivery(self, row: Mapping[str, Any]) -> None: ...

    def job_deliveries(self, job_id: str) -> list[Record]: ...

    def deliveries_of(self, job_ids: Sequence[str]) -> dict[str, list[Record]]: ...

    def update_delivery(self, delivery_id: str, **values: Any) -> None: ...

    def insert_attempt(self, row: Mapping[str, Any]) -> None: ...


class Batches(Protocol):
    """Batch files and digests: waiting deliveries, cut batches, their claims and outcomes."""

    def lock_partner(self, partner: str) -> None: ...

    def waiting(self, partner: str, step: int) -> Waiting | None: ...

    def waiting_channels(self) -> set[tuple[str, int]]: ...

    def unbatch(self, partner: str, step: int, now: datetime) -> int: ...

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

    def batch_leads(self, batch_id: str) -> list[Record]: ...

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
    ) -> list[str]: ...

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


class ConfigObjects(Protocol):
    """The stored configuration objects, their version, and the audit log."""

    def config_version(self) -> int: ...

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
    """Source API keys and admin tokens (stored as hashes)."""

    def add_api_key(self, source: str, key: str, now: datetime) -> str: ...

    def source_for_key(self, key: str) -> str | None: ...

    def add_admin_token(
        self, name: str, token: str, now: datetime, expires_at: datetime | None = None
    ) -> str: ...

    def admin_for_token(self, token: str) -> str | None: ...

    def find_api_key(self, key: str) -> Record | None: ...

    def find_admin_token(self, token: str) -> Record | None: ...

    def list_api_keys(self, source: str) -> list[Record]: ...

    def list_admin_tokens(self) -> list[Record]: ...

    def revoke_api_keys(self, source: str, now: datetime, key_id: str | None = None) -> list[str]: ...

    def revoke_admin_token(self, token_id: str, now: datetime) -> bool: ...

    def record_last_use(self, kind: str, ids: Sequence[str], now: datetime) -> None: ...


class DedupMarks(Protocol):
    """Dedup marks: keyed hashes of a lead's values, per scope, with expiry."""

    def lock_keys(self, keys: Collection[tuple[str, str]]) -> None: ...

    def load_marks(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], Mark]: ...

    def put_marks(self, rows: Sequence[dict[str, Any]]) -> None: ...

    def release_partner_marks(self, partner: str, lead_id: str) -> None: ...

    def forget_leads(self, lead_ids: Sequence[str]) -> int: ...

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


class Ring(Protocol):
    """The installation's data keys: seals a sensitive value and opens it again (authenticated, bound to
    ``aad``, usually the lead id)."""

    def seal(self, plaintext: bytes, aad: bytes) -> str: ...

    def open(self, token: str, aad: bytes) -> bytes: ...

    def seal_json(self, value: Any, aad: bytes) -> str: ...

    def open_json(self, token: str, aad: bytes) -> Any: ...


class Sealer(Protocol):
    """Where the services get the key ring (``available``: a secret key is set)."""

    @property
    def available(self) -> bool: ...

    async def ring(self, *tokens: str) -> Ring: ...

    def ring_sync(self, *tokens: str, tx: Tx | None = None) -> Ring:
        """``ring()`` in a worker thread; ``tx`` when inside a transaction already (SQLite has one
        writer)."""
        ...


class DedupKeys(Protocol):
    """Where the services get the installation's ``MarkHasher`` (the dedup marks' HMAC key)."""

    @property
    def cached(self) -> MarkHasher | None:
        """The hasher when it is known and fresh, without I/O."""
        ...

    async def hasher(self) -> MarkHasher: ...

    def hasher_sync(self, *, tx: Tx | None = None) -> MarkHasher: ...


# Repositories and query objects added while moving the services' SQL out: each group adds its own
# below its marker (kept in this order so that parallel branches merge cleanly).
# -- group A: intake, screening, routing, outcomes, worker --

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")
I_contra = TypeVar("I_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)


class DeferredWrites(Protocol):
    """Executes the writes a routing or recording step collected (``services.writes.Writes``): one
    ``executemany`` per statement shape, then the status of every lead it touched."""

    def flush(self, writes: Writes, now: datetime) -> None: ...


class GroupCommit(Protocol[I_contra, R_co]):
    """Concurrent submissions share one transaction; each gets its own result once it committed."""

    async def submit(self, item: I_contra) -> R_co: ...


class GroupCommits(Protocol):
    """Makes a ``GroupCommit`` whose ``handler`` runs a batch of items in one transaction and returns one
    result per item. ``background``/``relaxed``: as in ``Storage.run``; ``max_batch``: items per
    transaction."""

    def __call__(
        self,
        handler: Callable[[Tx, Sequence[I]], Sequence[R]],
        *,
        max_batch: int = 256,
        background: bool = False,
        relaxed: bool = False,
    ) -> GroupCommit[I, R]: ...


# -- group B: actions, holds, log view --


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

    def held(self, partner: str | None, limit: int) -> list[Record]:
        """Held deliveries (of ``partner``), each with its lead's ``data`` and ``sealed``, oldest hold
        first, at most ``limit``."""
        ...

    def delivery(self, delivery_id: str) -> Record | None: ...

    def update_held(self, delivery_id: str, **values: Any) -> bool:
        """Updates the delivery if it is still held; False when it is not."""
        ...


# -- group C: batches --


class RandomSource(Protocol):
    """A random number in [0, 1): what spreads retry delays (jitter)."""

    def __call__(self) -> float: ...


system_random: RandomSource = random.random


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


class FileSender(Protocol):
    """Renders a batch file and sends it where its channel says: uploaded (SFTP, FTP/FTPS, S3) or mailed."""

    def render(self, fmt: FileFormat, rows: Sequence[Mapping[str, Any]]) -> bytes: ...

    async def send(
        self, spec: FileChannel, name: str, data: bytes, *, subject: str, summary: str, key: str
    ) -> UploadResult:
        """Raises ``UploadError`` saying whether a later attempt may succeed. ``key`` names the batch
        (a mail's Message-ID is made from it)."""
        ...


# -- group D: configuration, credentials, suppression, privacy --


class SuppressionListNames(Protocol):
    """The names of the suppression lists that exist (what configuration may name), without counting
    their entries."""

    def list_names(self) -> set[str]: ...


class Erasure(Protocol):
    """The statements of erasure and retention: find a person's or an old lead, blank what identifies the
    person in the lead, its jobs, attempts and deliveries, and take it out of batches not sent yet."""

    def unerased_leads(self, lead_ids: Sequence[str]) -> list[Record]: ...

    def leads_matching(self, entity: str, matches: Sequence[FieldMatch]) -> list[str]: ...

    def leads_received_before(self, cutoff: datetime, limit: int) -> list[str]: ...

    def job_texts(self, lead_id: str) -> list[Record]: ...

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

    def delivery_reasons(self, lead_id: str) -> list[Record]: ...

    def lead_deliveries(self, lead_id: str, status: str) -> list[Record]: ...

    def shrink_batch(self, batch_id: str) -> None: ...

    def blank_leads(self, lead_ids: Sequence[str], now: datetime) -> None: ...


class OldPages(Protocol):
    """Where erased values may linger on disk after their transaction: SQLite's write-ahead log keeps the
    earlier versions of pages until a checkpoint (a no-op elsewhere)."""

    def forget_old_pages(self) -> None: ...

    async def forget_old_pages_soon(self) -> None: ...


class Tx(Protocol):
    """One transaction's view of the storage: its repositories."""

    @property
    def leads(self) -> Leads: ...
    @property
    def jobs(self) -> Jobs: ...
    @property
    def caps(self) -> Caps: ...
    @property
    def deliveries(self) -> Deliveries: ...
    @property
    def batches(self) -> Batches: ...
    @property
    def config(self) -> ConfigObjects: ...
    @property
    def credentials(self) -> Credentials: ...
    @property
    def dedup(self) -> DedupMarks: ...
    @property
    def suppression(self) -> SuppressionLists: ...

    # -- group A --
    @property
    def deferred(self) -> DeferredWrites: ...

    # -- group B --
    @property
    def log(self) -> LogQueries: ...
    @property
    def holds(self) -> HoldQueries: ...

    # -- group C --
    @property
    def batch_queries(self) -> BatchQueries: ...

    # -- group D --
    @property
    def suppression_names(self) -> SuppressionListNames: ...
    @property
    def erasure(self) -> Erasure: ...


class Storage(Protocol):
    """The unit of work: runs a function of a ``Tx`` in one transaction, committed when it returns and
    rolled back when it raises. ``StorageError`` reports a lost connection or a deadlock."""

    @property
    def dialect(self) -> str: ...

    def transaction(self, fn: Callable[[Tx], T], *, relaxed: bool = False) -> T:
        """``fn`` in one write transaction. ``relaxed``: its commit may be lost in a power cut (redoing
        it is safe), so the database need not wait for the disk."""
        ...

    def read(self, fn: Callable[[Tx], T]) -> T:
        """``fn`` in a read-only transaction."""
        ...

    async def run(self, fn: Callable[[Tx], T], *, background: bool = False, relaxed: bool = False) -> T:
        """``transaction`` off the event loop; ``background`` work yields to urgent work."""
        ...

    async def run_read(self, fn: Callable[[Tx], T]) -> T:
        """``read`` off the event loop."""
        ...
