"""The in-memory unit of work: ``FakeStorage`` runs a use case's function of a ``FakeTx`` on its own view of
the tables and installs its writes only when the function returns, so a use case that raises leaves
nothing behind, as a rolled-back transaction does.

Writers are serialized (one at a time, like SQLite's write lock); a read sees the last commit. A write
transaction opened inside another on the same thread is refused (on SQLite it would wait for ever for the
write lock its own caller holds), and so is a write inside ``read``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import TypeVar

from leadrelay.services.ports import IdSource, Storage, Tx
from tests.fakes.alerts import FakeAlerts
from tests.fakes.batches import FakeBatches, FakeBatchQueries
from tests.fakes.clock import FakeIds
from tests.fakes.config import FakeConfigObjects, FakeCredentials
from tests.fakes.delivery import FakeCaps, FakeDeliveries, FakeJobs, FakeLeads
from tests.fakes.invoices import FakeInvoices
from tests.fakes.ledger import FakeLedger
from tests.fakes.postbacks import FakePostbacks, FakeRelays
from tests.fakes.quality import FakeDedupMarks, FakeFormPosts, FakeSuppressionLists
from tests.fakes.queries import (
    FakeDashboardQueries,
    FakeDeferredWrites,
    FakeErasure,
    FakeHoldQueries,
    FakeLogQueries,
    FakePortalQueries,
    FakeSuppressionListNames,
)
from tests.fakes.reports import FakeReportFacts
from tests.fakes.returns import FakeReturns
from tests.fakes.tables import FakeRow, State, Tables, empty_state
from tests.fakes.wallets import FakeWallets

T = TypeVar("T")


class FakeSavepoint:
    """``leadrelay.services.ports.Savepoint`` in memory: the transaction's written tables as they were (a
    written row is replaced, never changed in place, so a copy of each table's row map is a snapshot)."""

    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self._written = {name: dict(rows) for name, rows in tables.written.items()}

    def release(self) -> None:
        pass

    def roll_back(self) -> None:
        self._tables.written = self._written


class NoUsers:
    """The console's users: the fake installation has none (the console is tested on the databases), so a
    partner's or source's deletion finds no portal user to disable."""

    def list_users(self) -> list[FakeRow]:
        return []


class FakeTx:
    """One transaction's repositories (``leadrelay.services.ports.Tx``), over ``tables``."""

    def __init__(self, tables: Tables, ids: IdSource) -> None:
        self.tables = tables
        self.ids = ids

    def savepoint(self) -> FakeSavepoint:
        return FakeSavepoint(self.tables)

    @cached_property
    def leads(self) -> FakeLeads:
        return FakeLeads(self.tables)

    @cached_property
    def jobs(self) -> FakeJobs:
        return FakeJobs(self.tables)

    @cached_property
    def caps(self) -> FakeCaps:
        return FakeCaps(self.tables)

    @cached_property
    def deliveries(self) -> FakeDeliveries:
        return FakeDeliveries(self.tables)

    @cached_property
    def batches(self) -> FakeBatches:
        return FakeBatches(self.tables)

    @cached_property
    def config(self) -> FakeConfigObjects:
        return FakeConfigObjects(self.tables, self.ids)

    @cached_property
    def credentials(self) -> FakeCredentials:
        return FakeCredentials(self.tables, self.ids)

    @cached_property
    def dedup(self) -> FakeDedupMarks:
        return FakeDedupMarks(self.tables)

    @cached_property
    def batch_queries(self) -> FakeBatchQueries:
        return FakeBatchQueries(self.tables)

    @cached_property
    def suppression(self) -> FakeSuppressionLists:
        return FakeSuppressionLists(self.tables)

    @cached_property
    def ledger(self) -> FakeLedger:
        return FakeLedger(self.tables)

    @cached_property
    def alerts(self) -> FakeAlerts:
        return FakeAlerts(self.tables)

    @cached_property
    def postbacks(self) -> FakePostbacks:
        return FakePostbacks(self.tables)

    @cached_property
    def relays(self) -> FakeRelays:
        return FakeRelays(self.tables)

    @cached_property
    def wallets(self) -> FakeWallets:
        return FakeWallets(self.tables)

    @cached_property
    def returns(self) -> FakeReturns:
        return FakeReturns(self.tables)

    @cached_property
    def users(self) -> NoUsers:
        return NoUsers()

    @cached_property
    def invoices(self) -> FakeInvoices:
        return FakeInvoices(self.tables)

    @cached_property
    def reports(self) -> FakeReportFacts:
        return FakeReportFacts(self.tables)

    @cached_property
    def deferred(self) -> FakeDeferredWrites:
        return FakeDeferredWrites(self.tables)

    @cached_property
    def log(self) -> FakeLogQueries:
        return FakeLogQueries(self.tables)

    @cached_property
    def holds(self) -> FakeHoldQueries:
        return FakeHoldQueries(self.tables)

    @cached_property
    def suppression_names(self) -> FakeSuppressionListNames:
        return FakeSuppressionListNames(self.tables)

    @cached_property
    def erasure(self) -> FakeErasure:
        return FakeErasure(self.tables)

    @cached_property
    def form_posts(self) -> FakeFormPosts:
        return FakeFormPosts(self.tables)

    @cached_property
    def dashboard(self) -> FakeDashboardQueries:
        return FakeDashboardQueries(self.tables)

    @cached_property
    def portal(self) -> FakePortalQueries:
        return FakePortalQueries(self.tables)


class FakeStorage:
    """``leadrelay.services.ports.Storage`` in memory.

    ``ids`` makes the ids the repositories choose themselves (API keys, admin tokens, audit entries).
    ``dialect`` is what services that branch on it see ("sqlite": the fake serializes writers as SQLite
    does). ``transactions`` and ``reads`` count what ran; ``fail_next`` makes the next transactions fail
    at their commit (their writes dropped), like a deadlock or a lost connection.
    """

    def __init__(self, *, ids: IdSource | None = None, dialect: str = "sqlite") -> None:
        self.ids: IdSource = ids if ids is not None else FakeIds()
        self._dialect = dialect
        self._state: State = empty_state()
        self._writer = threading.Lock()
        self._inside = threading.local()
        self._failures: list[BaseException] = []
        self.transactions = 0
        self.reads = 0
        self.relaxed = 0
        self.background = 0

    @property
    def dialect(self) -> str:
        return self._dialect

    def fail_next(self, error: BaseException, times: int = 1) -> None:
        """The next ``times`` write transactions run their function, then raise ``error`` instead of
        committing (e.g. ``StorageError("database error: deadlock detected")``)."""
        self._failures.extend([error] * times)

    def transaction(self, fn: Callable[[FakeTx], T], *, relaxed: bool = False) -> T:
        if getattr(self._inside, "writing", False):
            raise RuntimeError("a write transaction inside another one (SQLite would wait for ever)")
        with self._writer:
            self._inside.writing = True
            try:
                tables = Tables(self._state)
                result = fn(FakeTx(tables, self.ids))
                self.transactions += 1
                self.relaxed += relaxed
                if self._failures:
                    raise self._failures.pop(0)
                if tables.written:  # a new state object: readers holding the old one are not disturbed
                    self._state = {**self._state, **tables.written}
                return result
            finally:
                self._inside.writing = False

    def read(self, fn: Callable[[FakeTx], T]) -> T:
        self.reads += 1
        return fn(FakeTx(Tables(self._state, readonly=True), self.ids))

    async def run(
        self,
        fn: Callable[[FakeTx], T],
        *,
        background: bool = False,
        relaxed: bool = False,
        quick: bool = False,
    ) -> T:
        self.background += background
        return self.transaction(fn, relaxed=relaxed)

    async def run_read(self, fn: Callable[[FakeTx], T], *, quick: bool = False) -> T:
        return self.read(fn)

    # ------------------------------------------------------------ for the tests' assertions

    def rows(self, table: str, **where: object) -> list[FakeRow]:
        """The committed rows of ``table`` (those whose columns equal ``where``'s values), in the order they
        were inserted. Only the rows that match are decoded: a test that looks one job up among hundreds
        would otherwise decode every row's JSON each time."""
        tables = Tables(self._state, readonly=True)
        return [
            tables.row(table, stored)
            for stored in tables.stored(table)
            if tables.matches(table, stored, where)
        ]


def _conforms(storage: FakeStorage, tx: FakeTx) -> tuple[Storage, Tx]:
    """mypy proves here that the fakes implement the ports."""
    return storage, tx
