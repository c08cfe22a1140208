"""The SQL side of the services' ports: ``SqlStorage`` runs a use case's function of a ``Tx`` in one
transaction of a ``Database``, and ``SqlTx`` hands it the repositories bound to that transaction.

The statements themselves live in the store modules and query objects beside this one; the repositories
(``repositories``, ``batch_repository``) bind them to the transaction's connection.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TypeVar

from sqlalchemy import Connection

from leadrelay.adapters.db.alert_repository import SqlAlerts
from leadrelay.adapters.db.batch_queries import SqlBatchQueries
from leadrelay.adapters.db.batch_repository import SqlBatches
from leadrelay.adapters.db.dashboard_queries import SqlDashboardQueries
from leadrelay.adapters.db.deferred_writes import SqlDeferredWrites
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.erasure_queries import SqlErasure
from leadrelay.adapters.db.form_store import SqlFormPosts
from leadrelay.adapters.db.hold_queries import SqlHoldQueries
from leadrelay.adapters.db.invoice_store import SqlInvoices
from leadrelay.adapters.db.job_repository import SqlJobs
from leadrelay.adapters.db.lead_import_store import SqlLeadImports
from leadrelay.adapters.db.lead_queries import SqlLeadPages
from leadrelay.adapters.db.ledger_store import SqlLedger
from leadrelay.adapters.db.log_queries import SqlLogQueries
from leadrelay.adapters.db.portal_queries import SqlPortalQueries
from leadrelay.adapters.db.postback_store import SqlPostbacks, SqlRelays
from leadrelay.adapters.db.report_store import SqlReportFacts
from leadrelay.adapters.db.repositories import (
    SqlCaps,
    SqlConfigObjects,
    SqlCredentials,
    SqlDedupMarks,
    SqlDeliveries,
    SqlLeads,
    SqlSuppressionLists,
)
from leadrelay.adapters.db.returns_store import SqlReturns
from leadrelay.adapters.db.simulation_reads import SqlSimulationReads
from leadrelay.adapters.db.user_store import SqlUsers
from leadrelay.adapters.db.wallet_store import SqlWallets
from leadrelay.services.ports import Storage, Tx

T = TypeVar("T")


# The savepoint as plain SQL (the same on SQLite and PostgreSQL): SQLAlchemy's begin_nested() compiles its
# SAVEPOINT and RELEASE clauses anew each time, which costs four times as much on the worker's hot path.
_SAVEPOINT = "SAVEPOINT leadrelay_step"
_RELEASE = "RELEASE SAVEPOINT leadrelay_step"
_ROLLBACK_TO = "ROLLBACK TO SAVEPOINT leadrelay_step"


class SqlSavepoint:
    """``leadrelay.services.ports.Savepoint``: one named SQL savepoint."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        conn.exec_driver_sql(_SAVEPOINT)

    def release(self) -> None:
        self._conn.exec_driver_sql(_RELEASE)

    def roll_back(self) -> None:
        """Undo everything since the savepoint, and drop it (as SQLAlchemy's nested rollback does)."""
        self._conn.exec_driver_sql(_ROLLBACK_TO)
        self._conn.exec_driver_sql(_RELEASE)


class SqlTx:
    """The repositories of one transaction (``leadrelay.services.ports.Tx``)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def savepoint(self) -> SqlSavepoint:
        return SqlSavepoint(self.conn)

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

    @cached_property
    def ledger(self) -> SqlLedger:
        return SqlLedger(self.conn)

    @cached_property
    def alerts(self) -> SqlAlerts:
        return SqlAlerts(self.conn)

    @cached_property
    def postbacks(self) -> SqlPostbacks:
        return SqlPostbacks(self.conn)

    @cached_property
    def relays(self) -> SqlRelays:
        return SqlRelays(self.conn)

    @cached_property
    def wallets(self) -> SqlWallets:
        return SqlWallets(self.conn)

    @cached_property
    def returns(self) -> SqlReturns:
        return SqlReturns(self.conn)

    @cached_property
    def invoices(self) -> SqlInvoices:
        return SqlInvoices(self.conn)

    @cached_property
    def reports(self) -> SqlReportFacts:
        return SqlReportFacts(self.conn)

    @cached_property
    def deferred(self) -> SqlDeferredWrites:
        return SqlDeferredWrites(self.conn)

    @cached_property
    def log(self) -> SqlLogQueries:
        return SqlLogQueries(self.conn)

    @cached_property
    def holds(self) -> SqlHoldQueries:
        return SqlHoldQueries(self.conn)

    @cached_property
    def batch_queries(self) -> SqlBatchQueries:
        return SqlBatchQueries(self.conn)

    @property
    def suppression_names(self) -> SqlSuppressionLists:
        return self.suppression

    @cached_property
    def erasure(self) -> SqlErasure:
        return SqlErasure(self.conn)

    @cached_property
    def simulation(self) -> SqlSimulationReads:
        return SqlSimulationReads(self.conn)

    @cached_property
    def users(self) -> SqlUsers:
        return SqlUsers(self.conn)

    @cached_property
    def dashboard(self) -> SqlDashboardQueries:
        return SqlDashboardQueries(self.conn)

    @cached_property
    def portal(self) -> SqlPortalQueries:
        return SqlPortalQueries(self.conn)

    @cached_property
    def lead_pages(self) -> SqlLeadPages:
        return SqlLeadPages(self.conn)

    @cached_property
    def lead_imports(self) -> SqlLeadImports:
        return SqlLeadImports(self.conn)

    @cached_property
    def form_posts(self) -> SqlFormPosts:
        return SqlFormPosts(self.conn)


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

    async def run(
        self,
        fn: Callable[[SqlTx], T],
        *,
        background: bool = False,
        relaxed: bool = False,
        quick: bool = False,
    ) -> T:
        return await self.db.run(
            lambda conn: fn(SqlTx(conn)), background=background, relaxed=relaxed, quick=quick
        )

    async def run_read(self, fn: Callable[[SqlTx], T], *, quick: bool = False) -> T:
        return await self.db.run_read(lambda conn: fn(SqlTx(conn)), quick=quick)


def connection_of(tx: Tx) -> Connection:
    """The connection under a ``Tx`` that an adapter outside the repositories (the key ring) reads in."""
    if not isinstance(tx, SqlTx):
        raise TypeError(f"not a SQL transaction: {tx!r}")
    return tx.conn


def _conforms(storage: SqlStorage, tx: SqlTx) -> tuple[Storage, Tx]:
    """mypy proves here that the SQL side implements the ports."""
    return storage, tx
