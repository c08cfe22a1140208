"""Batched delivery (email digests and batch files): cut batches when due, render and send them, keep the log.

The life of a batch: leads wait (their deliveries ``batched``) → the partner's schedule says go → a batch is
cut with a fixed set of leads and a fixed file name → a sender claims it (with a lease), renders the file
from the stored leads and ships it → ``sent`` (its leads delivered, their jobs settled), or ``retry`` after
a retryable failure, or ``failed`` after the last attempt or a failure no retry will fix. A failed batch
keeps its leads; ``redeliver`` sends any batch again, from the log, with the same leads and file name.

Everything is in the database, so leads waiting for a digest survive a restart, and a crash while sending
only means the lease runs out and the batch is sent again (replacing the same file; the same Message-ID).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from leadrelay.domain.attempts import AttemptResult, Outcome
from leadrelay.domain.batches import due
from leadrelay.domain.files import MEDIA_TYPES, EmailDestination, UploadError, fill
from leadrelay.domain.model import FileChannel, PartnerSpec
from leadrelay.domain.retry import GiveUp, RetryPolicy
from leadrelay.domain.states import BATCH, BatchStatus
from leadrelay.errors import InvalidTransition, NotFound, StorageError
from leadrelay.services.config_in_force import ConfigCache, LiveConfig
from leadrelay.services.distribution import select_values
from leadrelay.services.opened_leads import open_jobs
from leadrelay.services.ports import (
    Clock,
    FileSender,
    RandomSource,
    Record,
    Sealer,
    Storage,
    Tx,
    system_clock,
    system_random,
)

log = logging.getLogger("leadrelay.batches")
T = TypeVar("T")

_MAX_CUTS = 100  # per partner and pass: a backlog of a million leads goes out over several passes
_LIST_LIMIT = 500
_SWEEP_S = 60.0  # how often parked jobs are checked for a wake-up that never came (a safety net)

BATCH_RETRY = RetryPolicy(base_s=30.0, max_delay_s=3600.0)
"""The retry schedule of a failed upload or digest (each channel's ``max_attempts`` replaces the
template's): 30 s, doubling, spread ±25 %, at most an hour."""


def batched_channels(partner: PartnerSpec) -> list[tuple[int, FileChannel]]:
    steps = [partner.channel, *partner.failover]
    return [(i, spec) for i, spec in enumerate(steps) if isinstance(spec, FileChannel)]


def _cut_partner(
    tx: Tx, partner: PartnerSpec, channels: list[tuple[int, FileChannel]], now: datetime
) -> list[str]:
    tx.batches.lock_partner(partner.name)
    cut: list[str] = []
    for step, spec in channels:
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


def cut_due(tx: Tx, live: LiveConfig, now: datetime) -> list[str]:
    """Cut every batch whose schedule says go now; returns the new batches' ids. Leads waiting for a channel
    that is no longer batched (the partner now takes a webhook, or is gone) are sent the ordinary way."""
    for name, step in tx.batches.waiting_channels():
        partner = live.compiled.partners.get(name)
        if partner is None or not isinstance(partner.channel_at(step), FileChannel):
            moved = tx.batches.unbatch(name, step, now)
            log.info(
                "%d leads waiting for a batch of %s (step %d) go the ordinary way now", moved, name, step
            )
    cut: list[str] = []
    for partner in live.compiled.partners.values():
        channels = batched_channels(partner)
        if not channels:
            continue
        try:  # one partner's trouble must not undo the others' batches
            with tx.batch_queries.savepoint():
                cut.extend(_cut_partner(tx, partner, channels, now))
        except StorageError:
            raise
        except Exception:
            log.exception("cutting the batches of %s failed; the others go on", partner.name)
    return cut


@dataclass(frozen=True, slots=True)
class Rendered:
    data: bytes
    count: int
    subject: str
    summary: str


def render(
    tx: Tx, row: Record, partner: PartnerSpec, spec: FileChannel, sealer: Sealer, files: FileSender
) -> Rendered:
    """A batch's file, rendered from its stored leads (opened sensitive values included: it is what the
    partner bought), with the mail subject and summary of a digest."""
    leads = open_jobs(tx, tx.batches.batch_leads(row.id), sealer)
    rows: list[dict[str, Any]] = []
    for lead in leads:
        values = select_values(lead.lead_values, spec.fields)
        rows.append(
            {
                "lead_id": lead.lead_id,
                "received_at": lead.created_at.isoformat(timespec="seconds"),
                "source": lead.source,
                **values,
            }
        )
    data = files.render(spec.format, rows)
    subject = ""
    if isinstance(spec.destination, EmailDestination):
        subject = fill(
            spec.destination.subject,
            partner=partner.name,
            count=len(rows),
            now=row.created_at,
            tz=partner.timezone,
        )
        if row.is_test:
            subject = f"[TEST] {subject}"
    return Rendered(data, len(rows), subject, summary(row, partner, spec, leads, len(data)))


def summary(row: Record, partner: PartnerSpec, spec: FileChannel, leads: Sequence[Any], size: int) -> str:
    """The body of a digest: how many leads, from when to when (the partner's clock), from which sources."""
    tz = ZoneInfo(partner.timezone)
    lines = [f"{len(leads)} lead{'s' if len(leads) != 1 else ''} for {partner.name}."]
    if leads:
        first = leads[0].created_at.astimezone(tz)
        last = leads[-1].created_at.astimezone(tz)
        lines.append(f"Received {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} ({partner.timezone}).")
        sources = Counter(lead.source for lead in leads)
        lines.append("By source: " + ", ".join(f"{name} {n}" for name, n in sorted(sources.items())) + ".")
    lines.append(f"Sent because: {row.trigger}.")
    kind = spec.format.kind.upper()
    lines.append(f"Attached: {row.filename} ({kind}, {size:,} bytes).")
    lines.append(f"Batch {row.id}.")
    if row.is_test:
        lines.insert(0, "TEST DELIVERY: these leads are not for sale.")
    return "\n".join(lines) + "\n"


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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_s)

    async def run_once(self) -> int:
        """One pass: cut what is due, then send what is due; returns the number of batches sent."""
        live = await self.configs.get(self.storage)
        now = self.clock()
        # read first: a write transaction (SQLite's writer lock) only when there is something to do
        waiting, due_now = await self.storage.run_read(
            lambda tx: (tx.batches.waiting_channels(), tx.batches.any_due(now))
        )
        if self.only_jobs is None and waiting:
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
            if row.attempts >= spec.max_attempts:  # claimed again and again after its sender was lost
                lost = (
                    f"gave up: its sender stopped {row.attempts} times while sending it (see the worker logs)"
                )
                raise UploadError(lost, retryable=False)
            p = partner
            rendered = await self.storage.run_read(
                lambda tx: render(tx, row, p, spec, self.sealer, self.files)
            )
            # within the lease, so that no second sender starts while this one may still write
            async with asyncio.timeout(self.lease.total_seconds() * 0.8):
                result = await self.files.send(
                    spec,
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
        await self._record(
            lambda tx: tx.batches.record_success(
                row,
                self.owner,
                location=result.location,
                size=result.bytes,
                started=started_at,
                duration_ms=ms,
                price=price,
                now=now,
            )
        )
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


# ---------------------------------------------------------------- the log: list, show, file, redeliver


def _summary(row: Record) -> dict[str, Any]:
    return {
        "id": row.id,
        "partner": row.partner,
        "channel": row.channel,
        "status": row.status,
        "trigger": row.trigger,
        "filename": row.filename,
        "lead_count": row.lead_count,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        "location": row.location,
        "bytes": row.bytes,
        "reason": row.reason,
        "test": bool(row.is_test),
        "created_at": row.created_at.isoformat(),
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
    }


class BatchLog:
    """What the API and the command line show of batches, and redelivery."""

    def __init__(
        self,
        storage: Storage,
        configs: ConfigCache,
        sealer: Sealer,
        files: FileSender,  # renders a batch's file for a download or a preview; never ships it
        *,
        clock: Clock = system_clock,
    ) -> None:
        self.storage = storage
        self.configs = configs
        self.sealer = sealer
        self.files = files
        self.clock = clock

    async def find(self, partner: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        def read(tx: Tx) -> list[dict[str, Any]]:
            return [_summary(row) for row in tx.batch_queries.latest_batches(partner, status, _LIST_LIMIT)]

        return await self.storage.run_read(read)

    async def waiting(self) -> list[dict[str, Any]]:
        """How many leads wait for each partner's next batch, and since when."""

        def read(tx: Tx) -> list[dict[str, Any]]:
            return [
                {"partner": p, "waiting": n, "oldest": oldest.isoformat() if oldest else None}
                for p, n, oldest in tx.batch_queries.waiting_per_partner()
            ]

        return await self.storage.run_read(read)

    async def show(self, batch_id: str) -> dict[str, Any]:
        def read(tx: Tx) -> dict[str, Any]:
            row = tx.batches.batch(batch_id)
            if row is None:
                raise NotFound(f"unknown batch {batch_id}")
            leads = tx.batches.batch_leads(batch_id)
            tries = tx.batch_queries.batch_attempts(batch_id)
            return {
                **_summary(row),
                "leads": [
                    {"lead_id": r.lead_id, "delivery_id": r.delivery_id, "status": r.delivery_status}
                    for r in leads
                ],
                "attempts_log": [
                    {
                        "number": a.number,
                        "started_at": a.started_at.isoformat(),
                        "duration_ms": round(a.duration_ms, 1),
                        "outcome": a.outcome,
                        "location": a.location,
                        "bytes": a.bytes,
                        "reason": a.reason,
                    }
                    for a in tries
                ],
            }

        return await self.storage.run_read(read)

    async def file(self, batch_id: str, *, actor: str) -> tuple[str, str, bytes]:
        """The batch's file as the partner gets it: (file name, media type, bytes); audited."""
        live = await self.configs.get(self.storage)

        def work(tx: Tx) -> tuple[str, str, bytes]:
            row = tx.batches.batch(batch_id)
            if row is None:
                raise NotFound(f"unknown batch {batch_id}")
            partner = live.compiled.partners.get(row.partner)
            spec = partner.channel_at(row.channel_step) if partner is not None else None
            if partner is None or not isinstance(spec, FileChannel):
                raise InvalidTransition(
                    f"partner {row.partner} has no batched channel to render the file with"
                )
            rendered = render(tx, row, partner, spec, self.sealer, self.files)
            tx.config.audit(
                actor=actor,
                action="batches.download",
                object_kind="batch",
                object_id=batch_id,
                at=self.clock(),
                detail={"leads": rendered.count},
            )
            return row.filename, MEDIA_TYPES[spec.format.kind], rendered.data

        return await self.storage.run(work)

    async def with_previews(self, detail: dict[str, Any]) -> dict[str, Any]:
        """A test delivery's detail with the file each test batch carried (its "rendered request"): the
        text of a CSV, or its size for XLSX. Only test batches: their one lead is the made-up test lead."""
        live = await self.configs.get(self.storage)
        for delivery in detail.get("deliveries", []):
            batch = delivery.get("batch")
            if not batch or not delivery.get("test"):
                continue

            def preview(tx: Tx, batch_id: str = batch["id"]) -> str | None:
                row = tx.batches.batch(batch_id)
                partner = live.compiled.partners.get(row.partner) if row is not None else None
                spec = partner.channel_at(row.channel_step) if row is not None and partner else None
                if row is None or not row.is_test or partner is None or not isinstance(spec, FileChannel):
                    return None
                data = render(tx, row, partner, spec, self.sealer, self.files).data
                if spec.format.kind == "csv":
                    return data.decode("utf-8", "replace")[:4000]
                return f"<{spec.format.kind} file, {len(data):,} bytes>"

            batch["file"] = await self.storage.run_read(preview)
        return detail

    async def redeliver(self, batch_id: str, *, actor: str) -> dict[str, Any]:
        """Send a batch again, with the same leads and file name; audited."""

        def work(tx: Tx) -> dict[str, Any]:
            before = tx.batches.batch(batch_id)
            if before is None:
                raise NotFound(f"unknown batch {batch_id}")
            if not BATCH.allowed(before.status, BatchStatus.READY):
                raise InvalidTransition(f"batch {batch_id} is {before.status}: it is being sent already")
            row = tx.batches.redeliver(batch_id, self.clock())
            assert row is not None
            tx.config.audit(
                actor=actor,
                action="batches.redeliver",
                object_kind="batch",
                object_id=batch_id,
                at=self.clock(),
                detail={"was": before.status, "leads": before.lead_count},
            )
            return _summary(row)

        return await self.storage.run(work)
