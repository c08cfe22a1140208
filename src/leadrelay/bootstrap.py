"""The composition root: settings → database, configuration cache, channels, services, workers."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import timedelta

from leadrelay.adapters.channels.dispatch import Channels
from leadrelay.adapters.channels.email import SmtpSettings
from leadrelay.adapters.channels.guard import TargetGuard
from leadrelay.adapters.channels.webhook import WebhookSender
from leadrelay.adapters.crypto import Sealer
from leadrelay.adapters.db.batching import GroupCommits
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.dedup_keys import DedupKeys
from leadrelay.adapters.files.results import UploadError
from leadrelay.config import Settings
from leadrelay.configuration.load import smtp_settings
from leadrelay.domain.attempts import AttemptResult, LeadView, Outcome
from leadrelay.domain.model import ChannelSpec, EmailChannel
from leadrelay.domain.retry import RetryPolicy
from leadrelay.entrypoints.worker import Worker
from leadrelay.errors import ConfigError
from leadrelay.services import ports
from leadrelay.services.act import Actions
from leadrelay.services.batches import Batcher, BatchLog
from leadrelay.services.configstate import ConfigCache
from leadrelay.services.holds import Holds
from leadrelay.services.intake import Intake
from leadrelay.services.logview import LogView
from leadrelay.services.notify import Notifier
from leadrelay.services.privacy import Privacy

log = logging.getLogger("leadrelay")


def env_smtp(settings: Settings) -> SmtpSettings:
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security,  # type: ignore[arg-type]
        username=settings.smtp_username,
        password=password,
        sender=settings.smtp_sender,
    )


class ConfiguredChannels:
    """Channels whose SMTP settings follow the configuration in force (its ``smtp`` section, else the
    environment)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.guard = TargetGuard.from_setting(
            settings.allowed_target_networks, enabled=settings.block_private_targets
        )
        self.channels = Channels(WebhookSender(guard=self.guard), smtp=env_smtp(settings))
        self._smtp_version = -1

    async def smtp(self) -> SmtpSettings:
        """The SMTP settings in force; raises ``ConfigError`` when the ``smtp`` section cannot be used."""
        live = await self.runtime.configs.get(self.runtime.storage)
        if live.version != self._smtp_version:
            smtp = live.specs.smtp
            self.channels.email.settings = (
                smtp_settings(smtp, os.environ) if smtp else env_smtp(self.runtime.settings)
            )
            self._smtp_version = live.version
        return self.channels.email.settings

    async def send(self, lead: LeadView, spec: ChannelSpec) -> AttemptResult:
        if isinstance(spec, EmailChannel):
            try:
                await self.smtp()
            except ConfigError as exc:
                return AttemptResult(Outcome.ERROR, reason=f"SMTP settings: {exc.detail}")
        return await self.channels.send(lead, spec)

    async def close(self) -> None:
        await self.channels.close()


@dataclass
class Runtime:
    settings: Settings
    db: Database
    configs: ConfigCache = field(default_factory=ConfigCache)
    notifier: Notifier = field(default_factory=Notifier)

    def __post_init__(self) -> None:
        secret = self.settings.secret_key.get_secret_value() if self.settings.secret_key else None
        self.storage: ports.Storage = SqlStorage(self.db)
        self.sealer = Sealer(self.db, secret)
        _sealer: ports.Sealer = self.sealer  # the adapters implement the ports (checked by mypy)
        self.configs.sealer = self.sealer
        self.configs.dedup_keys = self.dedup_keys = DedupKeys(self.db, secret)
        _keys: ports.DedupKeys = self.dedup_keys
        self.intake = Intake(
            self.storage, self.configs, self.notifier, self.sealer, group_commits=GroupCommits(self.storage)
        )
        self.privacy = Privacy(self.db, self.sealer, self.configs)
        self.holds = Holds(self.db, self.configs, self.notifier, self.sealer)
        self.actions = Actions(self.db, self.configs, self.notifier, self.sealer)
        self.logview = LogView(self.db)
        self.batches = BatchLog(self.db, self.configs, self.sealer)
        self.channels = ConfiguredChannels(self)
        self.workers: list[Worker] = []
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._retention: asyncio.Task[None] | None = None
        self.batcher: Batcher | None = None
        self._batcher_task: asyncio.Task[None] | None = None

    def new_worker(self, only: set[str] | None = None) -> Worker:
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
        )

    def start_workers(self, count: int, only: set[str] | None = None) -> None:
        for _ in range(count):
            worker = self.new_worker(only)
            self.workers.append(worker)
            self._worker_tasks.append(asyncio.create_task(worker.run()))
        if count and self.settings.retention_days and self._retention is None:
            self._retention = asyncio.create_task(self._retain(self.settings.retention_days))
        if count and self.batcher is None:
            self.batcher = self.new_batcher(only)
            self._batcher_task = asyncio.create_task(self.batcher.run())

    def new_batcher(self, only_jobs: set[str] | None = None) -> Batcher:
        """The batch loop (email digests, batch files); one per process is enough."""
        s = self.settings
        return Batcher(
            self.db,
            self.configs,
            self.sealer,
            self._smtp_for_batches,
            owner=f"{socket.gethostname()[:64]}:{os.getpid()}:batches",
            interval_s=s.batch_interval,
            lease_s=s.batch_lease_seconds,
            retry_base_s=s.batch_retry_base,
            only_jobs=only_jobs,
            guard=self.channels.guard,
        )

    async def _smtp_for_batches(self) -> SmtpSettings:
        try:
            return await self.channels.smtp()
        except ConfigError as exc:
            raise UploadError(f"SMTP settings: {exc.detail}", retryable=True) from None

    async def _retain(self, days: int) -> None:
        """Erase the personal data of leads older than the retention period, now and every hour."""
        while True:
            try:
                erased = await asyncio.to_thread(self.privacy.purge_sync, timedelta(days=days))
                if erased:
                    log.info("retention: erased the personal data of %d leads (> %d days old)", erased, days)
            except Exception:
                log.exception("retention purge failed; trying again in an hour")
            await asyncio.sleep(3600)

    async def stop(self) -> None:
        if self._retention is not None:
            self._retention.cancel()
        if self.batcher is not None and self._batcher_task is not None:
            self.batcher.stop()
            try:
                await asyncio.wait_for(self._batcher_task, self.settings.shutdown_grace)
            except Exception:
                log.exception("the batch loop did not stop cleanly")
        for worker in self.workers:
            worker.stop()
        for task in self._worker_tasks:
            try:
                await task
            except Exception:
                log.exception("a worker loop ended with an error")
        await self.channels.close()
        self.db.dispose()


def build_runtime(settings: Settings) -> Runtime:
    return Runtime(settings=settings, db=Database(settings.database_url))
