"""The composition root: settings → database, configuration cache, channels, services, workers."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import timedelta

from leadrelay.adapters.channels.alerts import AlertSender
from leadrelay.adapters.channels.configured import ConfiguredChannels
from leadrelay.adapters.crypto import Sealer
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.group_commit import GroupCommits
from leadrelay.adapters.db.local_wakeups import LocalWakeups
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.dedup_keys import DedupKeys
from leadrelay.adapters.files.sender import FileShipper
from leadrelay.adapters.observability import traces
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.config import Settings
from leadrelay.configuration.load import smtp_settings
from leadrelay.domain.access import SessionLimits
from leadrelay.domain.retry import RetryPolicy
from leadrelay.entrypoints.worker import Worker
from leadrelay.services import ports
from leadrelay.services.act import Actions
from leadrelay.services.alerts import Alerting
from leadrelay.services.batch_log import BatchLog
from leadrelay.services.batches import Batcher
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.health import HealthTracker
from leadrelay.services.holds import Holds
from leadrelay.services.intake import Intake
from leadrelay.services.invoicing import Billing
from leadrelay.services.lead_import import ConsoleImports
from leadrelay.services.lead_pages import LeadPages
from leadrelay.services.logview import LogView
from leadrelay.services.notify import Notifier
from leadrelay.services.pinging import Pings
from leadrelay.services.portals import Portals
from leadrelay.services.postback_links import PostbackLinks
from leadrelay.services.postback_relay import PostbackRelay
from leadrelay.services.postbacks import Postbacks
from leadrelay.services.privacy import Privacy
from leadrelay.services.reports import ReportCache
from leadrelay.services.retention import retain, sweep
from leadrelay.services.returns import Returns
from leadrelay.services.simulation import Simulator
from leadrelay.services.supplier_ping import SupplierPings
from leadrelay.services.user_choice import Offers
from leadrelay.services.users import Accounts

log = logging.getLogger("leadrelay")


@dataclass
class Runtime:
    settings: Settings
    db: Database
    configs: ConfigCache = field(default_factory=ConfigCache)
    notifier: Notifier = field(default_factory=Notifier)
    metrics: ports.Metrics = ports.NO_METRICS  # build_runtime counts with Prometheus

    def __post_init__(self) -> None:
        secret = self.settings.secret_key.get_secret_value() if self.settings.secret_key else None
        self.storage: ports.Storage = SqlStorage(self.db)
        self.sealer = Sealer(self.db, secret)
        _sealer: ports.Sealer = self.sealer  # the adapters implement the ports (checked by mypy)
        self.configs.sealer = self.sealer
        self.configs.dedup_keys = self.dedup_keys = DedupKeys(self.db, secret)
        _keys: ports.DedupKeys = self.dedup_keys
        self.postback_links = PostbackLinks(self.dedup_keys, self.settings.base_url())
        self.configs.postback_links = self.postback_links
        self.intake = Intake(
            self.storage,
            self.configs,
            self.notifier,
            self.sealer,
            group_commits=GroupCommits(self.storage),
            metrics=self.metrics,
        )
        self.offers = Offers(self.storage, self.configs, self.notifier, self.sealer)
        self.privacy = Privacy(self.storage, self.sealer, self.configs, self.db, keys=self.dedup_keys)
        self.lead_pages = LeadPages(self.storage, self.dedup_keys, self.privacy)
        # the console's CSV imports, kept in the database (their rejects sealed with a secret key)
        self.lead_imports = ConsoleImports(self.storage, sealer=self.sealer)
        self.holds = Holds(self.storage, self.configs, self.notifier, self.sealer)
        self.actions = Actions(self.storage, self.configs, self.notifier, self.sealer)
        self.logview = LogView(self.storage, self.postback_links, self.configs)
        self.returns = Returns(self.storage, self.configs, self.notifier)
        self.invoices = Billing(self.storage, self.configs)
        self.portals = Portals(self.storage, self.configs, self.postback_links)  # partner and source portals
        self.reports_cache = ReportCache()  # the rolled sums and settled hours the reports read again
        self.simulator = Simulator(self.storage, self.configs, self.sealer)  # routing dry runs: nothing moves
        self.accounts = Accounts(
            self.storage,
            Argon2Passwords(),
            session_limits=SessionLimits(
                idle=timedelta(minutes=self.settings.session_idle_minutes),
                absolute=timedelta(hours=self.settings.session_max_hours),
            ),
        )
        self.channels = ConfiguredChannels(
            self.settings,
            in_force=functools.partial(self.configs.get, self.storage),
            resolve_smtp=lambda smtp: smtp_settings(smtp, os.environ),
        )
        self.pings = Pings(self.storage, self.configs, self.channels)
        self.supplier_pings = SupplierPings(self.storage, self.configs, self.channels)
        self.files: ports.FileSender = FileShipper(self.channels.smtp_for_batches, guard=self.channels.guard)
        self.batches = BatchLog(self.storage, self.configs, self.sealer, self.files)
        self.postbacks = Postbacks(self.storage, self.configs, self.postback_links)
        self.relay: PostbackRelay | None = None
        self._relay_task: asyncio.Task[None] | None = None
        self.health = HealthTracker()  # this process's partner health windows (workers, auctions)
        self.alert_sender: ports.AlertTransport = AlertSender(self.channels.smtp, self.channels.guard)
        self.alerts = Alerting(self.storage, self.configs, self.alert_sender)
        self.workers: list[Worker] = []
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._retention: asyncio.Task[None] | None = None
        self._sweep: asyncio.Task[None] | None = None
        self.batcher: Batcher | None = None
        self._batcher_task: asyncio.Task[None] | None = None
        self.wakeups: ports.WakeRelay | None = None  # adapters.db: PgWakeups, or LocalWakeups on SQLite

    def start_wakeups(self) -> None:
        """Word to and from the installation's other processes (the ``wakeups`` setting): PostgreSQL's
        LISTEN/NOTIFY, or datagrams between SQLite's processes on the machine; for the long-running
        processes, ``serve`` and ``worker``, in their event loop."""
        if self.wakeups is not None or not self.settings.wakeups:
            return
        wakeups: ports.WakeRelay
        if self.db.dialect == "postgresql":
            from leadrelay.adapters.db.wakeups import PgWakeups  # psycopg: not for SQLite's commands

            wakeups = PgWakeups(self.db.url, self.notifier.heard_work, self.notifier.heard_done)
        else:
            path = self.db.file_path()
            if path is None:  # an in-memory database: one process
                return
            wakeups = LocalWakeups(path, self.notifier.heard_work, self.notifier.heard_done)
        try:
            wakeups.start()
        except OSError as exc:  # best effort: without it, the polls and reads do the work
            log.warning("no word between processes (%r): workers poll, waiting requests read", exc)
            return
        self.wakeups = self.notifier.relay = wakeups

    def new_worker(self, only: set[str] | None = None, *, alerts: bool = False) -> Worker:
        """A worker loop; ``alerts``: it also checks the alert rules (one loop per process does)."""
        s = self.settings
        return Worker(
            self.storage,
            self.configs,
            self.channels,
            self.notifier,
            self.sealer,
            concurrency=s.worker_concurrency,
            claim_batch=s.claim_batch,
            lease_seconds=s.lease_seconds,
            poll_interval=s.poll_interval,
            grace_seconds=s.shutdown_grace,
            only=only,
            retry=RetryPolicy(base_s=s.retry_base, max_delay_s=s.retry_max_delay),
            release_delay_seconds=s.release_delay,
            health=self.health,
            alerts=self.alerts if alerts else None,
            alert_interval_seconds=s.alert_interval,
            metrics=self.metrics,
        )

    def start_workers(self, count: int, only: set[str] | None = None) -> None:
        if count:
            self.notifier.local_workers = True
        for i in range(count):
            worker = self.new_worker(only, alerts=i == 0 and not self.workers and only is None)
            self.workers.append(worker)
            self._worker_tasks.append(asyncio.create_task(worker.run()))
        if count and self.settings.retention_days and self._retention is None:
            self._retention = asyncio.create_task(
                retain(self.privacy.purge_sync, self.settings.retention_days)
            )
        if count and self._sweep is None:
            self._sweep = asyncio.create_task(
                sweep("console imports' rejects files", self.lead_imports.forget_old)
            )
        if count and self.batcher is None:
            self.batcher = self.new_batcher(only)
            self._batcher_task = asyncio.create_task(self.batcher.run())
        if count and only is None and self.relay is None:  # a partner test's worker relays nothing
            self.relay = self.new_relay()
            self._relay_task = asyncio.create_task(self.relay.run())

    def new_relay(self) -> PostbackRelay:
        """The loop relaying postbacks to sources; one per process is enough (leases keep several apart)."""
        s = self.settings
        return PostbackRelay(
            self.storage,
            self.configs,
            self.channels,
            owner=f"{socket.gethostname()[:64]}:{os.getpid()}:postbacks",
            interval_s=s.postback_interval,
            lease_s=s.postback_lease_seconds,
            retry=RetryPolicy(
                max_attempts=s.postback_max_attempts,
                base_s=s.postback_retry_base,
                max_delay_s=s.postback_retry_max_delay,
            ),
        )

    def new_batcher(self, only_jobs: set[str] | None = None) -> Batcher:
        """The batch loop (email digests, batch files); one per process is enough."""
        s = self.settings
        return Batcher(
            self.storage,
            self.configs,
            self.sealer,
            self.files,
            owner=f"{socket.gethostname()[:64]}:{os.getpid()}:batches",
            interval_s=s.batch_interval,
            lease_s=s.batch_lease_seconds,
            retry=RetryPolicy(base_s=s.batch_retry_base, max_delay_s=s.batch_retry_max_delay),
            only_jobs=only_jobs,
        )

    async def stop(self) -> None:
        if self._retention is not None:
            self._retention.cancel()
        if self._sweep is not None:
            self._sweep.cancel()
        if self.batcher is not None and self._batcher_task is not None:
            self.batcher.stop()
            try:
                await asyncio.wait_for(self._batcher_task, self.settings.shutdown_grace)
            except Exception:
                log.exception("the batch loop did not stop cleanly")
        if self.relay is not None and self._relay_task is not None:
            self.relay.stop()
            try:
                await asyncio.wait_for(self._relay_task, self.settings.shutdown_grace)
            except Exception:
                log.exception("the postback relay did not stop cleanly")
        for worker in self.workers:
            worker.stop()
        for task in self._worker_tasks:
            try:
                await task
            except Exception:
                log.exception("a worker loop ended with an error")
        if self.wakeups is not None:
            self.notifier.relay = None
            await self.wakeups.close()
            self.wakeups = None
        await self.channels.close()
        self.db.dispose()
        traces.flush()


def build_runtime(settings: Settings) -> Runtime:
    # imported here: prometheus-client picks its multiprocess storage when first imported, and `serve`
    # sets PROMETHEUS_MULTIPROC_DIR first (entrypoints.commands.processes)
    from leadrelay.adapters.observability.metrics import PrometheusMetrics

    return Runtime(settings=settings, db=Database(settings.database_url), metrics=PrometheusMetrics())
