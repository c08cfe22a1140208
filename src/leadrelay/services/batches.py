"""Batched delivery (email digests and batch files): cut batches when due, claim them, send them, record it.

The life of a batch: leads wait (their deliveries ``batched``) → the partner's schedule says go → a batch is
cut with a fixed set of leads and a fixed file name → a sender claims it (with a lease), renders the file
from the stored leads and ships it → ``sent`` (its leads delivered, their jobs settled), or ``retry`` after
a retryable failure, or ``failed`` after the last attempt or a failure no retry will fix. A failed batch
keeps its leads; ``redeliver`` sends any batch again, from the log, with the same leads and file name.

Everything is in the database, so leads waiting for a digest survive a restart, and a crash while sending
only means the lease runs out and the batch is sent again (replacing the same file; the same Message-ID).
A batch is claimed with the jobs' leases and retried on the deliveries' retry policy. The file is rendered
in ``batch_files``; the log and redelivery are ``batch_log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TypeVar

from leadrelay.domain.attempts import AttemptResult, Outcome
from leadrelay.domain.batch_format import CutFormat
from leadrelay.domain.batches import due
from leadrelay.domain.files import UploadError
from leadrelay.domain.model import FileChannel, PartnerSpec
from leadrelay.domain.retry import GiveUp, RetryPolicy
from leadrelay.errors import StorageError
from leadrelay.services.batch_files import entity_fields, render
from leadrelay.services.config_in_force import ConfigCache, LiveConfig
from leadrelay.services.ledger import post_sales
from leadrelay.services.ports import (
    Clock,
    FileSender,
    IdSource,
    RandomSource,
    Record,
    Sealer,
    Storage,
    Tx,
    system_clock,
    system_ids,
    system_random,
)
from leadrelay.services.postback_relay import sold_in_batch

log = logging.getLogger("leadrelay.batches")
T = TypeVar("T")

_MAX_CUTS = 100  # per partner and pass: a backlog of a million leads goes out over several passes
_SWEEP_S = 60.0  # how often parked jobs are checked for a wake-up that never came (a safety net)

BATCH_RETRY = RetryPolicy(base_s=30.0, max_delay_s=3600.0)
"""The retry schedule of a failed upload or digest (each channel's ``max_attempts`` replaces the
template's): 30 s, doubling, spread ±25 %, at most an hour."""


def batched_channels(partner: PartnerSpec) -> list[tuple[int, FileChannel]]:
    steps = [partner.channel, *partner.failover]
    return [(i, spec) for i, spec in enumerate(steps) if isinstance(spec, FileChannel)]


def _cut_partner(
    tx: Tx,
    partner: PartnerSpec,
    channels: list[tuple[int, FileChannel]],
    entities: list[list[str]],
    now: datetime,
) -> list[str]:
    tx.batches.lock_partner(partner.name)
    cut: list[str] = []
    for step, channel in channels:
        # the batch keeps the format it is cut with, its columns fixed now (``domain.batch_format``)
        as_cut = CutFormat.of(channel, entities)
        spec = replace(channel, format=as_cut.format)
        for _ in range(_MAX_CUTS):
            waiting = tx.batches.waiting(partner.name, step)
            trigger = due(spec.schedule, waiting, now, partner.timezone)
            if trigger is None or waiting is None:
                break
            count = spec.schedule.count
            limit = count if count is not None and waiting.count >= count else spec.schedule.max_leads
            batch_id = tx.batches.cut(partner, spec, step, limit, trigger, now)
            if batch_id is None:
                break
            cut.append(batch_id)
    return cut


def takes_batches(live: LiveConfig, partner: str, step: int) -> bool:
    """Whether the partner (still there) takes batches at that failover step in the configuration in force."""
    spec = live.compiled.partners.get(partner)
    return spec is not None and isinstance(spec.channel_at(step), FileChannel)


def cut_due(tx: Tx, live: LiveConfig, now: datetime) -> list[str]:
    """Cut every batch whose schedule says go now; returns the new batches' ids. Leads waiting for a channel
    that is no longer batched (the partner now takes a webhook, or is gone), and those a failed batch of
    such a channel holds, are sent the ordinary way."""
    for name, step in tx.batches.waiting_channels():
        if not takes_batches(live, name, step):
            moved = tx.batches.unbatch(name, step, now)
            log.info(
                "%d leads waiting for a batch of %s (step %d) go the ordinary way now", moved, name, step
            )
    for name, step in tx.batches.failed_channels():
        if not takes_batches(live, name, step):
            why = f"partner {name} takes no batches at step {step} any more: its leads went the ordinary way"
            moved = tx.batches.release_failed(name, step, why, now)
            log.info("%d leads of failed batches of %s (step %d) go the ordinary way now", moved, name, step)
    cut: list[str] = []
    entities = entity_fields(live.specs.entities)
    for partner in live.compiled.partners.values():
        channels = batched_channels(partner)
        if not channels:
            continue
        try:  # one partner's trouble must not undo the others' batches
            with tx.batch_queries.savepoint():
                cut.extend(_cut_partner(tx, partner, channels, entities, now))
        except StorageError:
            raise
        except Exception:
            log.exception("cutting the batches of %s failed; the others go on", partner.name)
    return cut


def next_try(
    policy: RetryPolicy, spec: FileChannel | None, row: Record, exc: UploadError, rand: float
) -> tuple[float | None, str]:
    """After a failed send of batch ``row``: the delay before the next attempt (None: no more attempts)
    and the reason to record. ``policy`` decides, with the channel's ``max_attempts``; a test batch reports
    at once; ``rand`` in [0, 1) is the jitter's random number."""
    attempts = row.attempts + 1
    limit = spec.max_attempts if spec is not None else 1
    result = AttemptResult(Outcome.ERROR, reason=exc.reason, retryable=exc.retryable)
    decision = replace(policy, max_attempts=limit).decide(result, attempts, rand)
    if not exc.retryable:
        return None, exc.reason
    if isinstance(decision, GiveUp) or row.is_test:
        return None, f"{exc.reason} (gave up after {attempts} attempts)"
    return decision.delay_s, exc.reason


class Batcher:
    """The loop a worker process runs beside its workers: cut due batches, claim and send them.

    Several processes may run it: cutting is serialized per partner, claiming uses leases (and SKIP LOCKED
    on PostgreSQL), so every batch is cut once and sent by one sender at a time.
    """

    def __init__(
        self,
        storage: Storage,
        configs: ConfigCache,
        sealer: Sealer,
        files: FileSender,  # renders the files and ships them (SMTP settings in force, guarded targets)
        *,
        owner: str,
        interval_s: float = 1.0,
        lease_s: float = 300.0,
        retry: RetryPolicy = BATCH_RETRY,
        concurrency: int = 4,
        only_jobs: set[str] | None = None,
        record_backoff_s: float = 0.2,  # the first wait before recording an outcome again (doubling)
        clock: Clock = system_clock,
        rand: RandomSource = system_random,
        ids: IdSource = system_ids,
    ) -> None:
        """``retry``: the schedule after a failed send (the delivery policy type of ``domain.retry``; each
        channel's ``max_attempts`` replaces the template's); ``rand`` spreads its delays (jitter)."""
        self.storage = storage
        self.configs = configs
        self.sealer = sealer
        self.files = files
        self.owner = owner
        self.interval_s = interval_s
        self.lease = timedelta(seconds=lease_s)
        self.retry = retry
        self.rand = rand
        self.concurrency = concurrency
        self.only_jobs = only_jobs  # send only these jobs' batches and cut none (a partner test)
        self.record_backoff_s = record_backoff_s
        self.clock = clock
        self.ids = ids
        self.passes = 0  # the passes made since it started (each looked for what to cut and send)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        last_sweep = 0.0
        while not self._stopping.is_set():
            try:
                await self.run_once()
                if self.only_jobs is None and time.monotonic() - last_sweep > _SWEEP_S:
                    last_sweep = time.monotonic()
                    woken = await self.storage.run(lambda tx: tx.batches.wake_stranded(self.clock()))
                    if woken:
                        log.warning(
                            "%d parked jobs had no lead waiting for a batch; back in the queue", woken
                        )
            except Exception:  # the database is away, a bug: log, wait, go on
                log.exception("batch pass failed; trying again")
            self.passes += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_s)

    async def run_once(self) -> int:
        """One pass: cut what is due, then send what is due; returns the number of batches sent."""
        live = await self.configs.get(self.storage)
        now = self.clock()
        # read first: a write transaction (SQLite's writer lock) only when there is something to do
        waiting, failed, due_now = await self.storage.run_read(
            lambda tx: (tx.batches.waiting_channels(), tx.batches.failed_channels(), tx.batches.any_due(now))
        )
        stranded = [c for c in failed if not takes_batches(live, *c)]
        if self.only_jobs is None and (waiting or stranded):
            await self.storage.run(lambda tx: cut_due(tx, live, now), background=True)
            due_now = True
        if not due_now:
            return 0
        claimed = await self.storage.run(
            lambda tx: tx.batches.claim(self.owner, self.concurrency, now, now + self.lease, self.only_jobs),
            background=True,
        )
        if not claimed:
            return 0
        results = await asyncio.gather(*(self.send(row, live) for row in claimed))
        return sum(results)

    async def send(self, row: Record, live: LiveConfig) -> bool:
        started_at = self.clock()
        started = time.perf_counter()
        partner = live.compiled.partners.get(row.partner)
        spec = partner.channel_at(row.channel_step) if partner is not None else None
        if partner is None or not isinstance(spec, FileChannel):
            why = f"partner {row.partner} takes no batches at step {row.channel_step} any more"
            moved = await self._record(lambda tx: tx.batches.dissolve(row, self.owner, why, started_at))
            log.warning("batch %s: %s; its %s leads go the ordinary way", row.id, why, moved)
            return False
        try:
            if row.attempts >= spec.max_attempts:  # max_attempts lowered since, or its sender lost each time
                spent = f"gave up: {row.attempts} attempts, max_attempts {spec.max_attempts}"
                lost = "its sender stopped while sending it (see the worker logs)"
                raise UploadError(f"{spent}; the last: {row.reason or lost}", retryable=False)
            p = partner
            rendered = await self.storage.run_read(
                lambda tx: render(tx, row, p, spec, live.specs.entities, self.sealer, self.files)
            )
            if not rendered.count:  # every lead taken out since the cut (erased): no empty file to the buyer
                why = "no lead left to send (erased or taken out)"
                await self._record(lambda tx: tx.batches.dissolve(row, self.owner, why, started_at))
                return False
            # within the lease, so that no second sender starts while this one may still write
            async with asyncio.timeout(self.lease.total_seconds() * 0.8):
                result = await self.files.send(
                    replace(spec, format=rendered.format),  # sent in the format it was cut with
                    row.filename,
                    rendered.data,
                    subject=rendered.subject,
                    summary=rendered.summary,
                    key=f"batch:{row.id}",
                )
        except TimeoutError:
            error = UploadError("timed out (the upload took most of the batch lease)", retryable=True)
            await self._failed(row, spec, error, started_at, started)
            return False
        except UploadError as exc:
            await self._failed(row, spec, exc, started_at, started)
            return False
        except Exception as exc:  # a bug or bad stored data: the batch waits for a fix and a redelivery
            log.exception("sending batch %s failed", row.id)
            error = UploadError(f"internal error: {type(exc).__name__} (see the worker log)", retryable=True)
            await self._failed(row, spec, error, started_at, started)
            return False
        price = partner.price
        ms = (time.perf_counter() - started) * 1000.0
        now = self.clock()

        def record(tx: Tx) -> list[str]:
            delivered = tx.batches.record_success(
                row,
                self.owner,
                location=result.location,
                size=result.bytes,
                started=started_at,
                duration_ms=ms,
                price=price,
                now=now,
            )
            if delivered and not row.is_test:  # the sales go to the ledger with the deliveries
                post_sales(tx, live, delivered, now, self.ids)
            if delivered:  # the leads' sources are told of the sales (those that subscribe to them)
                sold_in_batch(tx, self.configs.current(tx), row.id, now)
            return delivered

        await self._record(record)
        log.info("batch %s sent to %s (%d leads, %s)", row.id, row.partner, rendered.count, result.location)
        return True

    async def _record(self, fn: Callable[[Tx], T]) -> T:
        """Record an outcome, trying again after a deadlock or a database restart: the file is out, and a
        lost record would send it again when the lease runs out."""
        attempt = 0
        while True:
            try:
                return await self.storage.run(fn)
            except StorageError:  # the storage reports deadlocks and lost connections so
                attempt += 1
                if attempt == 5:
                    raise
                log.warning("recording a batch outcome failed; trying again", exc_info=True)
                await asyncio.sleep(self.record_backoff_s * 2 ** (attempt - 1))

    async def _failed(
        self, row: Record, spec: FileChannel | None, exc: UploadError, started_at: datetime, started: float
    ) -> None:
        delay, reason = next_try(self.retry, spec, row, exc, self.rand())
        retry_at = self.clock() + timedelta(seconds=delay) if delay is not None else None
        ms = (time.perf_counter() - started) * 1000.0
        now = self.clock()
        await self._record(
            lambda tx: tx.batches.record_failure(
                row,
                self.owner,
                reason=reason,
                retry_at=retry_at,
                started=started_at,
                duration_ms=ms,
                now=now,
            )
        )
        log.warning("batch %s to %s failed: %s", row.id, row.partner, reason)
