"""The worker's grouped transactions: claim and route, award an auction, record the outcomes.

Each takes the steps of many jobs in one transaction (the worker's group commits batch them): a job that
raises is redone alone and closed as failed (``worker_isolation.all_or_each``), and a database error sends
the whole batch back to the queue. The worker loop (``entrypoints.worker``) runs them and does the I/O in
between: the pings and the posts, outside any transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from leadrelay.adapters.observability import traces
from leadrelay.domain.attempts import AttemptResult
from leadrelay.domain.auction import Offer, PostReserve
from leadrelay.domain.health import Kind, ping_result, result_of
from leadrelay.domain.retry import RetryPolicy
from leadrelay.domain.routing import Evaluation
from leadrelay.domain.states import JOB_TO_ROUTE, QUEUE, JobStatus, QueueState
from leadrelay.entrypoints.worker_isolation import all_or_each
from leadrelay.services import auction, distribution, reservations, settlement
from leadrelay.services.config_in_force import ConfigCache, LiveConfig
from leadrelay.services.health import BreakerGate, HealthTracker, adapt_pings, settle_breakers
from leadrelay.services.opened_leads import open_jobs
from leadrelay.services.ports import Clock, IdSource, RandomSource, Record, Sealer, Tx
from leadrelay.services.steps import Auction, SendItem, StepResult
from leadrelay.services.writes import Writes

MAX_CLAIMS = 20  # a job whose worker was lost this often (its lease taken over) is failed: a poison job

Outcomes = tuple[str, list[tuple[SendItem, AttemptResult]]]  # a job's sends and what each got
# a job's auction, its answers, and those its buyers' health counts (``auction_pings.observed_pings``)
Bids = tuple[str, Auction, list[Offer], list[Offer]]


@dataclass
class WorkerSteps:
    """One worker's transactions, by its lease ``owner``: what it claims is leased until ``now + lease``
    (``only``: when set, it claims only these jobs); ``clock``, ``ids`` and ``rand`` are the worker's;
    ``health`` is the process's partner health (the circuit breakers); ``retry`` the delivery retry
    schedule; ``reserve`` the room its auctions keep after their pings for a waiting source."""

    owner: str
    configs: ConfigCache
    sealer: Sealer
    health: HealthTracker
    retry: RetryPolicy
    lease: timedelta
    only: set[str] | None
    clock: Clock
    ids: IdSource
    rand: RandomSource
    reserve: PostReserve = field(default_factory=PostReserve)  # learnt by the worker from its sales

    def claim_and_route(self, tx: Tx, limit: int, now: datetime) -> list[tuple[str, StepResult]]:
        """Claim runnable jobs and take their first step in the same transaction (one commit fewer per
        batch: the claim is only worth anything once the job is routed)."""
        ids = tx.jobs.claim_jobs(self.owner, limit, now, now + self.lease, self.only)
        return list(zip(ids, self.route_batch(tx, ids), strict=True)) if ids else []

    def route_batch(self, tx: Tx, job_ids: Sequence[str]) -> list[StepResult]:
        """Route (or resume) a batch of jobs in one transaction. Fast path: all jobs under one savepoint
        with their writes grouped; if a job raises, redo the batch job by job so that one bad job is
        closed as failed and the others go on. Database errors (a deadlock, a restart) are not the job's
        fault: they fail the whole batch, whose jobs go back to the queue and run again."""
        now = self.clock()
        live = self.configs.current(tx)
        rows = {r.id: r for r in open_jobs(tx, tx.jobs.load_jobs(job_ids, lock=True), self.sealer)}
        mine = [
            rows[i]
            for i in job_ids
            if i in rows and rows[i].lease_owner == self.owner and rows[i].queue_state == QueueState.CLAIMED
        ]
        resuming = [job.id for job in mine if job.status == JobStatus.DELIVERING]
        dl = tx.deliveries.deliveries_of(resuming) if resuming else {}

        def route(jobs: Sequence[Record]) -> list[StepResult]:
            w = Writes()
            plans = {job.id: distribution.plan(job, live, now) for job in jobs}
            rotations = reservations.Rotations(tx)
            rotations.reserve(reservations.rotations_wanted(plans, {job.id: job.profile for job in jobs}))
            away, tripped = tx.caps.unavailable_and_breakers()  # one read for the batch
            self.health.sync(tripped)
            gate = BreakerGate(tx, live, now, self.health)
            steps = []
            for job in jobs:  # one span per job's routing (nothing when tracing is off)
                with traces.span(
                    "routing", {"leadrelay.lead_id": job.lead_id, "leadrelay.job_id": job.id}
                ) as span:
                    step = self.route_one(tx, job, dl, live, now, w, plans[job.id], rotations, away, gate)
                    span.set_attribute("leadrelay.outcome", outcome(step))
                steps.append(step)
            for step in steps:
                if step.auction is not None:
                    step.auction = adapt_pings(step.auction, live, self.health, now)
            w.flush(tx, now)
            return steps

        done = all_or_each(tx, mine, route, "routing", lambda job: dl.get(job.id, []), now)
        steps = {job.id: step for job, step in zip(mine, done, strict=True)}
        return [steps.get(i) or StepResult(done=True) for i in job_ids]

    def route_one(
        self,
        tx: Tx,
        job: Record,
        dl: dict[str, list[Record]],
        live: LiveConfig,
        now: datetime,
        w: Writes,
        planned: Evaluation | None = None,
        rotations: reservations.Rotations | None = None,
        unavailable: frozenset[str] | None = None,
        breakers: BreakerGate | None = None,
    ) -> StepResult:
        if job.claims > MAX_CLAIMS:
            reason = f"gave up after {job.claims} workers were lost processing the job (see the worker log)"
            return settlement.fail_job(tx, w, job, dl.get(job.id, []), reason, now)
        if job.status in JOB_TO_ROUTE:
            return distribution.route_job(
                tx,
                job,
                live,
                now,
                w,
                planned=planned,
                rotations=rotations,
                ids=self.ids,
                unavailable=unavailable,
                breakers=breakers,
                reserve_s=self.reserve.seconds,
            )
        if job.status == JobStatus.DELIVERING:
            return settlement.pending_sends(tx, job, dl.get(job.id, []), live, now, w)
        # already final (a rerun raced us, or a crash after the last write): let go of it
        done = QUEUE.check(job.queue_state, QueueState.DONE)
        w.update_job(job.id, queue_state=done, lease_owner=None, lease_until=None)
        return StepResult(done=True, lead_id=job.lead_id)

    def award_batch(self, tx: Tx, items: Sequence[Bids]) -> list[StepResult]:
        """Award a batch of auctions in one transaction (``services.auction.award``); a job that is no
        longer ours, or was closed meanwhile (cancelled, erased), is let go of."""
        now = self.clock()
        live = self.configs.current(tx)
        loaded = tx.jobs.load_jobs([job_id for job_id, *_ in items], lock=True)
        rows = {r.id: r for r in open_jobs(tx, loaded, self.sealer)}
        by_id = {job_id: (a, offers) for job_id, a, offers, _ in items}
        mine = [
            rows[i]
            for i, *_ in items
            if i in rows
            and rows[i].lease_owner == self.owner
            and rows[i].queue_state == QueueState.CLAIMED
            and rows[i].status in JOB_TO_ROUTE
        ]

        def run(jobs: Sequence[Record]) -> list[StepResult]:
            w = Writes()
            reserve_s = self.reserve.seconds
            gate = BreakerGate(tx, live, now, self.health)  # a waterfall's next tier, opened at the award:

            def trials(names: Sequence[str], trace: list[str]) -> list[str]:  # its breakers may have opened
                return gate.claim_all(gate.admit(list(names), trace), trace)

            steps = [
                auction.award(
                    tx, job, live, now, w, *by_id[job.id], ids=self.ids, reserve_s=reserve_s, trials=trials
                )
                for job in jobs
            ]
            for step in steps:  # a waterfall's next tier
                if step.auction is not None:
                    step.auction = adapt_pings(step.auction, live, self.health, now)
            w.flush(tx, now)
            return steps

        done = all_or_each(tx, mine, run, "awarding an auction", lambda job: [], now)
        steps = {job.id: step for job, step in zip(mine, done, strict=True)}
        pinged = [(o.partner, Kind.PING, ping_result(o.bid.status)) for *_, counted in items for o in counted]
        settle_breakers(tx, self.health, live, pinged, now)
        return [steps.get(i) or StepResult(done=True) for i, *_ in items]

    def finish_batch(self, tx: Tx, items: Sequence[Outcomes]) -> list[StepResult]:
        """Record a batch of outcomes in one transaction; like routing, a job that raises is redone alone
        and closed as failed, and a database error sends the whole batch back to the queue."""
        now = self.clock()
        live = self.configs.current(tx)
        loaded = tx.jobs.load_jobs([job_id for job_id, _ in items], lock=True)
        rows = {r.id: r for r in open_jobs(tx, loaded, self.sealer)}
        work = [(rows[job_id], out) for job_id, out in items]
        by_id = {job.id: out for job, out in work}

        def record(jobs: Sequence[Record]) -> list[StepResult]:
            return settlement.finish_batch(
                tx,
                [(j, by_id[j.id]) for j in jobs],
                self.owner,
                live,
                now,
                retry=self.retry,
                ids=self.ids,
                rand=self.rand,
            )

        def deliveries(job: Record) -> list[Record]:
            return tx.deliveries.deliveries_of([job.id])[job.id]

        steps = all_or_each(tx, [job for job, _ in work], record, "recording an outcome", deliveries, now)
        observed = [(send.partner, Kind.POST, result_of(res)) for _, out in items for send, res in out]
        settle_breakers(tx, self.health, live, observed, now)
        return steps


def outcome(step: StepResult) -> str | None:
    """A routing step's outcome as ``/metrics`` counts it: auction, delivering or closed."""
    if step.auction is not None:
        return "auction"
    if step.sends:
        return "delivering"
    return "closed" if step.done else None
