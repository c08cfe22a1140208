"""The worker: claim jobs with a lease → route → deliver → finish; heartbeat; graceful SIGTERM.

Database work for many jobs in flight is grouped: one transaction routes every job that is ready to be
routed, one records every finished attempt (the transactions: ``worker_steps``). Deliveries run
concurrently outside any transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from leadrelay import log_context
from leadrelay.adapters.db.group_commit import GroupCommits
from leadrelay.adapters.observability import traces
from leadrelay.domain.attempts import AttemptResult, LeadView, Outcome, log_reason
from leadrelay.domain.model import WebhookChannel
from leadrelay.domain.retry import RetryPolicy
from leadrelay.entrypoints import worker_steps
from leadrelay.entrypoints.worker_steps import Bids, Outcomes, WorkerSteps
from leadrelay.services import auction_pings, reports, user_choice
from leadrelay.services.alerts import Alerting
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.health import HealthTracker
from leadrelay.services.notify import Notifier
from leadrelay.services.ports import (
    NO_METRICS,
    Channel,
    Clock,
    GroupCommit,
    IdSource,
    Metrics,
    RandomSource,
    Sealer,
    Storage,
    system_clock,
    system_ids,
    system_random,
    timed_step,
)
from leadrelay.services.postback_links import places_url
from leadrelay.services.steps import SendItem, StepResult

log = logging.getLogger("leadrelay.worker")


class Worker:
    """Claims due jobs under a lease, routes them, sends their deliveries concurrently and records the
    outcomes, each step grouped into shared transactions (see the module docstring)."""

    def __init__(
        self,
        storage: Storage,
        configs: ConfigCache,
        channels: Channel,
        notifier: Notifier,
        sealer: Sealer,
        *,
        concurrency: int = 64,
        claim_batch: int = 100,
        lease_seconds: float = 60.0,
        poll_interval: float = 0.1,
        grace_seconds: float = 10.0,
        only: set[str] | None = None,
        retry: RetryPolicy | None = None,
        release_delay_seconds: float = 1.0,
        offer_sweep_seconds: float = 1.0,
        report_rollup_seconds: float = 60.0,
        clock: Clock = system_clock,
        ids: IdSource = system_ids,
        rand: RandomSource = system_random,
        health: HealthTracker | None = None,
        alerts: Alerting | None = None,
        alert_interval_seconds: float = 30.0,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        """``retry``: the delivery retry schedule (its ``max_attempts`` comes from each channel; ``rand``
        gives its jitter); ``health``: the process's partner health windows (every post is observed in it;
        the partners' circuit breakers open and close by it); ``release_delay_seconds``: how soon a job
        whose transaction failed goes back to the queue; ``offer_sweep_seconds``: how often user-choice
        offers past their time are expired (and their jobs closed unsold when nothing is left to select);
        ``alerts``: the alert rules this loop checks every ``alert_interval_seconds`` (one loop per process
        is enough; several processes may check at once, one sends); ``report_rollup_seconds``: how often
        the reports' hourly rollup looks for closed hours to roll up (``services.reports.roll_up``; several
        workers may run it, one of them rolls each hour); ``clock``: the time the worker claims, leases
        and records by; ``ids``: where the ids of new deliveries and attempts (and of the worker itself)
        come from; ``metrics``: counts routing outcomes, attempts and pings, and times the database steps
        (``services.ports.Metrics``)."""
        self.storage = storage
        self.configs = configs
        self.channels = channels
        self.notifier = notifier
        self.sealer = sealer
        self.concurrency = concurrency
        self.claim_batch = claim_batch
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_interval = poll_interval
        self.grace_seconds = grace_seconds
        self.only = only  # when set, claim only these jobs
        self.retry = retry or RetryPolicy()
        self.release_delay = timedelta(seconds=release_delay_seconds)
        self.offer_sweep = offer_sweep_seconds
        self.report_rollup = report_rollup_seconds
        self.clock = clock
        self.ids = ids
        self.rand = rand
        self.health = health if health is not None else HealthTracker()
        self.alerts = alerts
        self.alert_interval = alert_interval_seconds
        self.metrics = metrics
        self.owner = f"{socket.gethostname()[:64]}:{os.getpid()}:{ids('w')[-6:]}"
        self.held: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._slot_free = asyncio.Event()
        # small background transactions: intake (urgent) never waits long behind a routing batch
        group_commits = GroupCommits(storage)
        self.steps = WorkerSteps(
            self.owner, configs, sealer, self.health, self.retry, self.lease, only, clock, ids, rand
        )
        self._route: GroupCommit[str, StepResult] = group_commits(
            self.steps.route_batch, max_batch=32, background=True
        )
        # recording outcomes may be lost in a power cut without harm: the delivery goes out again with the
        # same Idempotency-Key, which the buyer drops. (Routing may not: a lost routing commit after the
        # post could route the lead to a second partner.)
        self._award: GroupCommit[Bids, StepResult] = group_commits(
            self.steps.award_batch, max_batch=32, background=True
        )
        self._finish: GroupCommit[Outcomes, StepResult] = group_commits(
            self.steps.finish_batch, max_batch=32, background=True, relaxed=True
        )

    def stop(self) -> None:
        """Stop claiming; in-flight deliveries get the grace period, then the rest is released."""
        self._stopping.set()
        self._slot_free.set()

    async def run(self) -> None:
        heartbeat = asyncio.create_task(self._heartbeat())
        sweeper = asyncio.create_task(self._sweep_offers())
        watcher = asyncio.create_task(self._watch_alerts()) if self.alerts is not None else None
        rollup = asyncio.create_task(self._roll_up_reports())
        failures = 0
        try:
            while not self._stopping.is_set():
                free = self.concurrency - len(self.held)
                # claim in batches: waiting for a quarter of the slots costs nothing in throughput and
                # saves one transaction per finished job
                if free <= 0 or (self.held and free < max(1, self.concurrency // 4)):
                    self._slot_free.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._slot_free.wait(), self.poll_interval)
                    continue
                wanted = min(free, self.claim_batch)
                try:
                    claimed, took = await self._claim(wanted)
                except Exception:  # the database is away (restart, failover): wait, then try again
                    failures += 1
                    log.exception("claiming jobs failed (%d in a row); retrying", failures)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._stopping.wait(), min(5.0, self.poll_interval * 2**failures)
                        )
                    continue
                failures = 0
                self._start(claimed, took)
                if len(claimed) < wanted:  # nothing more is due: wait for word of new jobs, or the poll
                    await self._idle()
        finally:
            await self._drain()
            for task in filter(None, (heartbeat, sweeper, watcher, rollup)):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def run_until_idle(self) -> int:
        """Claim and process jobs until none is due by the worker's clock, then return how many claims
        were processed. No polling and no sleeps: for tests and one-shot runs, in the caller's event loop.
        A retry scheduled later than now is not due (a test makes it due with a zero-delay ``retry`` or by
        moving the injected clock). Bound it with ``asyncio.timeout`` where a job could come back forever."""
        processed = 0
        while True:
            await self.expire_offers()
            claimed, took = await self._claim(self.claim_batch)
            if not claimed:
                return processed
            processed += len(claimed)
            self._start(claimed, took)
            await asyncio.gather(*self._tasks)

    async def _claim(self, wanted: int) -> tuple[list[tuple[str, StepResult]], float]:
        """Claim and route up to ``wanted`` due jobs in one transaction, and how long it took."""
        began, now = time.perf_counter(), self.clock()
        claimed = await self.storage.run(  # quick: at most ``wanted`` jobs
            lambda tx: self.steps.claim_and_route(tx, wanted, now), background=True, quick=True
        )
        return claimed, time.perf_counter() - began

    def _start(self, claimed: Sequence[tuple[str, StepResult]], took: float) -> None:
        """Each claimed job in a task of its own; ``took``: the claim's time, each one's ``route`` step."""
        for job_id, first in claimed:
            self._routed(first)
            self.held.add(job_id)
            task = asyncio.create_task(self._process(job_id, first))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self.metrics.step_finished("route", took)

    async def _idle(self) -> None:
        waiter = asyncio.create_task(self.notifier.wait_work(self.poll_interval))
        stopper = asyncio.create_task(self._stopping.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for t in (waiter, stopper):
            t.cancel()

    async def _drain(self) -> None:
        """Let in-flight jobs finish within the grace period; hand the rest back to the queue at once
        (their deliveries are sent again, with the same Idempotency-Key, by whoever claims them)."""
        unfinished: set[str] = set()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.grace_seconds)
            unfinished = set(self.held)  # noted before cancelling: each task forgets its job as it ends
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        unfinished |= self.held
        if unfinished:
            released = await self.storage.run(
                lambda tx: tx.jobs.release_jobs(self.owner, unfinished, self.clock())
            )
            log.info("released %d unfinished jobs", released)
            self.held.clear()

    async def _heartbeat(self) -> None:
        interval = max(0.2, self.lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(interval)
            if self.held:
                held = set(self.held)
                until = self.clock() + self.lease
                try:
                    await self.storage.run(
                        lambda tx, h=held, u=until: tx.jobs.extend_leases(self.owner, h, u)  # type: ignore[misc]
                    )
                except Exception:  # a missed beat is survivable; the next one tries again
                    log.exception("lease heartbeat failed")

    async def expire_offers(self) -> int:
        """Expire the user-choice offers past their time (``services.user_choice.expire_due``); the jobs
        left with nothing to select close unsold, and their waiting answers are woken. Returns how many."""
        now = self.clock()
        # read first: a sweep that finds nothing due (nearly every one) takes no write lock
        if not await self.storage.run_read(lambda tx: tx.deliveries.any_expired_offer(now), quick=True):
            return 0
        closed = await self.storage.run(lambda tx: user_choice.expire_due(tx, now), background=True)
        for lead_id in closed:
            self.notifier.lead_done(lead_id)
        return len(closed)

    async def _sweep_offers(self) -> None:
        while True:
            await asyncio.sleep(self.offer_sweep)
            try:
                await self.expire_offers()
            except Exception:  # the database is away: the next sweep tries again
                log.exception("expiring offers failed")

    async def _watch_alerts(self) -> None:
        """Check the alert rules every ``alert_interval`` (``services.alerts.Alerting.check``)."""
        assert self.alerts is not None
        while True:
            await asyncio.sleep(self.alert_interval)
            try:
                await self.alerts.check()
            except Exception:  # the database is away: the next check tries again
                log.exception("checking alerts failed")

    def _routed(self, step: StepResult) -> None:
        """Count a routing step's outcome (``Metrics.job_routed``), once its transaction committed."""
        outcome = worker_steps.outcome(step)
        if outcome is not None:
            self.metrics.job_routed(outcome)

    async def _roll_up_reports(self) -> None:
        while True:
            await asyncio.sleep(self.report_rollup)
            try:  # a day at a time until caught up; then the next closed hour, once an hour
                rolled = await reports.roll_up(self.storage, self.clock())
                while rolled is not None and not self._stopping.is_set():
                    rolled = await reports.roll_up(self.storage, self.clock())
            except Exception:  # the database is away: the next round tries again
                log.exception("rolling up the reports failed")

    async def _process(self, job_id: str, first: StepResult) -> None:
        lead_id: str | None = None
        log_context.bind(job_id=job_id, lead_id=first.lead_id)  # this task's log lines (and its sends')
        pinged: float | None = None  # when the last pings ended (perf_counter)
        try:
            step = first
            lead_id = step.lead_id
            while step.sends or step.reroute or step.auction is not None:
                if (auction := step.auction) is not None:
                    attributes = {"leadrelay.lead_id": lead_id, "leadrelay.job_id": job_id}
                    with traces.span("auction", attributes) as span:
                        span.set_attribute("leadrelay.pings", len(auction.pings))
                        offers = await auction_pings.run_pings(self.channels, auction, self.clock())
                    pinged = time.perf_counter()
                    now = self.clock()
                    counted = auction_pings.observe_pings(self.health, self.metrics, auction, offers, now)
                    with timed_step(self.metrics, "award"):
                        step = await self._award.submit((job_id, auction, offers, counted))
                    self._routed(step)
                    continue
                if step.reroute:
                    with timed_step(self.metrics, "route"):
                        step = await self._route.submit(job_id)
                    self._routed(step)
                    continue
                results = await asyncio.gather(*(self._send(s) for s in step.sends))
                with timed_step(self.metrics, "record"):
                    step = await self._finish.submit((job_id, list(zip(step.sends, results, strict=True))))
            if step.done and lead_id is not None:
                self.notifier.lead_done(lead_id)
            if step.done and pinged is not None:  # how long the award and the posts took
                self.steps.reserve.observe(time.perf_counter() - pinged)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s failed in the worker; it goes back to the queue", job_id)
            await self._release_soon(job_id)
        finally:
            self.held.discard(job_id)
            self._slot_free.set()

    async def _release_soon(self, job_id: str) -> None:
        """After a failed transaction (deadlock, database restart): back to the queue in a second (the
        release delay), not after the lease runs out. If even that fails, the lease still brings it back."""
        when = self.clock() + self.release_delay
        try:
            await self.storage.run(
                lambda tx: tx.jobs.release_jobs(self.owner, [job_id], when), background=True
            )
        except Exception:
            log.exception("could not release job %s; its lease will bring it back", job_id)

    async def _with_postback_url(self, item: SendItem) -> LeadView:
        """The lead with its delivery's postback URL when the partner's mapping places it
        (``{{ postback.url }}``); the other sends skip signing. Without the key, it is sent without."""
        links = self.configs.postback_links
        spec = item.spec
        if links is None or not isinstance(spec, WebhookChannel) or not places_url(spec.mapping):
            return item.lead
        try:
            url = await links.url_for(item.delivery_id)
        except Exception:  # the installation key is unreadable: the lead still goes, without the URL
            log.exception("no postback URL for %s", item.delivery_id)
            return item.lead
        # the signed URL is the partner's credential: never in the recorded request a viewer may read
        return replace(item.lead, postback_url=url, redactor=item.lead.redactor.plus(secrets=[url]))

    async def _send(self, item: SendItem) -> AttemptResult:
        log_context.bind(delivery_id=item.delivery_id)  # this send's own task (asyncio.gather)
        attributes = {
            "leadrelay.lead_id": item.lead.lead_id,
            "leadrelay.job_id": item.job_id,
            "leadrelay.delivery_id": item.delivery_id,
            "leadrelay.partner": item.partner,
            "leadrelay.attempt": item.attempt,
        }
        started = time.perf_counter()
        with traces.span("delivery", attributes) as span:
            try:
                result = await self.channels.send(await self._with_postback_url(item), item.spec)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a channel bug must not lose the job: record it as an error attempt
                log.exception("channel raised for %s", item.delivery_id)
                result = AttemptResult(
                    Outcome.ERROR, reason=f"internal error: {type(exc).__name__}", retryable=True
                )
            span.set_attribute("leadrelay.outcome", result.outcome.value)
            if result.status_code is not None:
                span.set_attribute("http.response.status_code", result.status_code)
        seconds = result.duration_ms / 1000 if result.duration_ms else time.perf_counter() - started
        self.metrics.attempt_finished(item.partner, result.outcome, seconds)
        if result.outcome is not Outcome.SUCCESS:  # of a buyer's answer, only its status (log_reason)
            shown = log_reason(result, item.lead.redactor)
            log.info("delivery attempt %d to %s: %s (%s)", item.attempt, item.partner, result.outcome, shown)
        self.health.observe_attempt(item.partner, result, self.clock())
        return result.storable()
