"""The unit of work: ``Storage`` runs a function of a ``Tx`` (whose attributes are the repositories and
query objects) in one transaction; ``GroupCommits`` lets concurrent submissions share one; ``OldPages``
clears what erasure left in SQLite's write-ahead log."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from leadrelay.services.ports.alerts import Alerts
from leadrelay.services.ports.batches import Batches, BatchQueries
from leadrelay.services.ports.dashboard import DashboardQueries
from leadrelay.services.ports.form_posts import FormPosts
from leadrelay.services.ports.invoices import Invoices
from leadrelay.services.ports.lead_imports import LeadImports
from leadrelay.services.ports.lead_pages import LeadPageQueries
from leadrelay.services.ports.ledger import Ledger
from leadrelay.services.ports.portals import PortalQueries
from leadrelay.services.ports.postbacks import Postbacks, Relays
from leadrelay.services.ports.queries import (
    DeferredWrites,
    Erasure,
    HoldQueries,
    LogQueries,
    SimulationReads,
    SuppressionListNames,
)
from leadrelay.services.ports.reports import ReportFacts
from leadrelay.services.ports.repositories import (
    Caps,
    ConfigObjects,
    Credentials,
    DedupMarks,
    Deliveries,
    Jobs,
    Leads,
    SuppressionLists,
)
from leadrelay.services.ports.returns import Returns
from leadrelay.services.ports.users import Users
from leadrelay.services.ports.wallets import Wallets

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741
R = TypeVar("R")
I_contra = TypeVar("I_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)


class Savepoint(Protocol):
    """A mark inside a transaction (``Tx.savepoint``): ``release`` keeps what was written since it,
    ``roll_back`` undoes that and ends the mark. One mark at a time."""

    def release(self) -> None: ...

    def roll_back(self) -> None: ...


class Tx(Protocol):
    """One transaction's view of the storage: its repositories (``ports.repositories``, ``Batches``) and
    its query objects (``ports.queries``, ``BatchQueries``); ``savepoint`` marks a point to undo to (the
    worker runs a batch of jobs under one, and a job that raises under its own)."""

    def savepoint(self) -> Savepoint: ...

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
    @property
    def alerts(self) -> Alerts: ...

    @property
    def ledger(self) -> Ledger: ...
    @property
    def wallets(self) -> Wallets: ...

    @property
    def postbacks(self) -> Postbacks: ...
    @property
    def relays(self) -> Relays: ...
    @property
    def returns(self) -> Returns: ...
    @property
    def invoices(self) -> Invoices: ...
    @property
    def reports(self) -> ReportFacts: ...

    @property
    def deferred(self) -> DeferredWrites: ...
    @property
    def log(self) -> LogQueries: ...
    @property
    def holds(self) -> HoldQueries: ...
    @property
    def batch_queries(self) -> BatchQueries: ...
    @property
    def suppression_names(self) -> SuppressionListNames: ...
    @property
    def erasure(self) -> Erasure: ...
    @property
    def simulation(self) -> SimulationReads: ...
    @property
    def users(self) -> Users: ...
    @property
    def dashboard(self) -> DashboardQueries: ...
    @property
    def portal(self) -> PortalQueries: ...
    @property
    def lead_pages(self) -> LeadPageQueries: ...
    @property
    def lead_imports(self) -> LeadImports: ...
    @property
    def form_posts(self) -> FormPosts: ...


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

    async def run(
        self, fn: Callable[[Tx], T], *, background: bool = False, relaxed: bool = False, quick: bool = False
    ) -> T:
        """``transaction`` off the event loop; ``background`` work yields to urgent work. ``quick``: small,
        bounded work that may run on the loop's own thread when that is cheaper (SQLite: there, it waits
        for the write lock while another connection holds it briefly)."""
        ...

    async def run_read(self, fn: Callable[[Tx], T], *, quick: bool = False) -> T:
        """``read`` off the event loop. ``quick``: a small, bounded read (one lead's answer) that may run
        on the loop's own thread when that is cheaper (SQLite: never waiting behind a commit)."""
        ...


class GroupCommit(Protocol[I_contra, R_co]):
    """Concurrent submissions share one transaction; each gets its own result once it committed."""

    async def submit(self, item: I_contra) -> R_co: ...


class GroupCommits(Protocol):
    """Makes a ``GroupCommit`` whose ``handler`` runs a batch of items in one transaction and returns one
    result per item. ``background``/``relaxed``: as in ``Storage.run``; ``max_batch``: items per
    transaction, which bounds it: its transactions are ``quick``. A batch that raises anything but a
    failure of the database itself (``StorageError``: a lost connection, a deadlock) is run again item by
    item, each in its own transaction, so that only the item at fault gets the error: a ``handler`` that
    raises must leave its items as they were."""

    def __call__(
        self,
        handler: Callable[[Tx, Sequence[I]], Sequence[R]],
        *,
        max_batch: int = 256,
        background: bool = False,
        relaxed: bool = False,
    ) -> GroupCommit[I, R]: ...


class OldPages(Protocol):
    """Where erased values may linger on disk after their transaction: SQLite's write-ahead log keeps the
    earlier versions of pages until a checkpoint (a no-op elsewhere)."""

    def forget_old_pages(self) -> None: ...

    async def forget_old_pages_soon(self) -> None: ...
