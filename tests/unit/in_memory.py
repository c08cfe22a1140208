"""An installation in memory for the use cases' unit tests: a configuration document applied through the
real configuration service (document → validation → stored objects → specs → compiled routing), the
services built on ``FakeStorage`` with a ``FakeClock`` and ``FakeIds``, and a driver that does what the
worker does with a job (claim → route → send → record the outcome) one step at a time.

The driver repeats ``entrypoints/worker_steps.py``'s ``claim_and_route``, ``route_batch``, ``route_one`` and
``finish_batch`` without their savepoints: the worker opens those on the SQL connection
(``connection_of(tx)``), which a fake transaction does not have. The buyers' answers are what the webhook
channel makes of an HTTP exchange (``classify``, a pure function).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from leadrelay.adapters.channels.webhook import classify
from leadrelay.domain.attempts import AttemptResult
from leadrelay.domain.health import Kind, result_of
from leadrelay.domain.model import WebhookChannel
from leadrelay.domain.retry import RetryPolicy
from leadrelay.domain.states import JOB_TO_ROUTE, QUEUE, JobStatus, QueueState
from leadrelay.services import configure, distribution, reservations, settlement
from leadrelay.services.act import Actions
from leadrelay.services.config_in_force import ConfigCache, LiveConfig
from leadrelay.services.health import BreakerGate, HealthTracker, settle_breakers
from leadrelay.services.holds import Holds
from leadrelay.services.intake import Intake
from leadrelay.services.intake_answers import IntakeAnswer, IntakeRequest
from leadrelay.services.notify import Notifier
from leadrelay.services.opened_leads import open_jobs
from leadrelay.services.ports import Record, Tx
from leadrelay.services.privacy import Privacy
from leadrelay.services.steps import SendItem, StepResult
from leadrelay.services.writes import Writes
from tests.documents import base_config, lead
from tests.fakes import (
    FakeClock,
    FakeDedupKeys,
    FakeGroupCommits,
    FakeIds,
    FakeOldPages,
    FakeRow,
    FakeSealer,
    FakeStorage,
)

T = TypeVar("T")

OWNER = "worker-1"
LEASE = timedelta(seconds=60)
# no jitter: a retry comes back exactly base_s * factor ** (attempt - 1) seconds later
RETRY = RetryPolicy(base_s=10.0, factor=2.0, jitter=0.0)

Answer = Callable[[SendItem], AttemptResult]


def buyer_url(name: str) -> str:
    return f"https://{name}.buyer.example/leads"


def document(**partner_overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The integration tests' solar configuration (``tests/documents.py``), buyers on example hosts."""
    return base_config(buyer_url, **partner_overrides)


def url_of(item: SendItem) -> str:
    """Where a send goes (a webhook's URL)."""
    assert isinstance(item.spec, WebhookChannel), item.spec
    return item.spec.url


def http(status: int, body: str = "", *, retry_after: str | None = None) -> Answer:
    """A buyer that answers every post with this HTTP status and body (as the webhook channel sees it:
    the request it records carries the values it sent)."""

    def answer(item: SendItem) -> AttemptResult:
        request = {"url": buyer_url(item.partner), "body": dict(item.lead.values)}
        return classify(status, body, None, retry_after, 12.0, request)

    return answer


def by_partner(**answers: Answer) -> Answer:
    """Each partner's buyer answers in its own way."""
    return lambda item: answers[item.partner](item)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Installation:
    """The services over one ``FakeStorage`` with a configuration ``doc`` applied."""

    def __init__(self, doc: Mapping[str, Any] | None = None) -> None:
        self.clock = FakeClock()
        self.ids = FakeIds()
        self.storage = FakeStorage(ids=self.ids)
        self.sealer = FakeSealer()
        self.notifier = Notifier()
        self.old_pages = FakeOldPages()
        self.group_commits = FakeGroupCommits(self.storage)
        self.configs = ConfigCache(sealer=self.sealer)
        self.configs.dedup_keys = FakeDedupKeys()
        self.configure(doc if doc is not None else document())
        self.intake = Intake(
            self.storage,
            self.configs,
            self.notifier,
            self.sealer,
            group_commits=self.group_commits,
            clock=self.clock,
            ids=self.ids,
        )
        self.actions = Actions(
            self.storage, self.configs, self.notifier, self.sealer, clock=self.clock, ids=self.ids
        )
        self.holds = Holds(self.storage, self.configs, self.notifier, self.sealer, clock=self.clock)
        self.privacy = Privacy(self.storage, self.sealer, self.configs, self.old_pages, clock=self.clock)
        self.health = HealthTracker()

    def configure(self, doc: Mapping[str, Any]) -> None:
        configure.apply_document_sync(self.storage, doc, actor="test", sealer=self.sealer, clock=self.clock)
        self.configs.invalidate()

    def live(self) -> LiveConfig:
        return self.storage.read(self.configs.current)

    # ------------------------------------------------------------ intake

    def accept(self, body: Mapping[str, Any] | None = None, **request: Any) -> IntakeAnswer:
        raw = body if body is not None else lead()
        req = IntakeRequest(**{"source": "web", "entity": "solar", "raw": raw, **request})
        return run(self.intake.accept(req))

    # ------------------------------------------------------------ the worker's steps

    def claim_and_route(self) -> dict[str, StepResult]:
        """Claim the due jobs and take their first step, in one transaction
        (``WorkerSteps.claim_and_route``)."""

        def work(tx: Tx) -> dict[str, StepResult]:
            now = self.clock()
            ids = tx.jobs.claim_jobs(OWNER, 100, now, now + LEASE)
            return dict(zip(ids, self._route_batch(tx, ids), strict=True))

        return self.storage.transaction(work)

    def route_again(self, job_id: str) -> StepResult:
        """A job whose deliveries all failed goes back to routing (the worker's reroute)."""
        return self.storage.transaction(lambda tx: self._route_batch(tx, [job_id])[0])

    def _route_batch(self, tx: Tx, job_ids: Sequence[str]) -> list[StepResult]:
        now = self.clock()
        live = self.configs.current(tx)
        rows = {r.id: r for r in open_jobs(tx, tx.jobs.load_jobs(job_ids, lock=True), self.sealer)}
        mine = [
            rows[i]
            for i in job_ids
            if i in rows and rows[i].lease_owner == OWNER and rows[i].queue_state == QueueState.CLAIMED
        ]
        resuming = [job.id for job in mine if job.status == JobStatus.DELIVERING]
        dl = tx.deliveries.deliveries_of(resuming) if resuming else {}
        w = Writes()
        plans = {job.id: distribution.plan(job, live, now) for job in mine}
        rotations = reservations.Rotations(tx)
        rotations.reserve(reservations.rotations_wanted(plans, {job.id: job.profile for job in mine}))
        away, tripped = tx.caps.unavailable_and_breakers()
        self.health.sync(tripped)
        gate = BreakerGate(tx, live, now, self.health)
        steps: dict[str, StepResult] = {}
        for job in mine:
            if job.status in JOB_TO_ROUTE:
                steps[job.id] = distribution.route_job(
                    tx,
                    job,
                    live,
                    now,
                    w,
                    planned=plans[job.id],
                    rotations=rotations,
                    ids=self.ids,
                    unavailable=away,
                    breakers=gate,
                )
            elif job.status == JobStatus.DELIVERING:
                steps[job.id] = settlement.pending_sends(tx, job, dl.get(job.id, []), live, now, w)
            else:
                done = QUEUE.check(job.queue_state, QueueState.DONE)
                w.update_job(job.id, queue_state=done, lease_owner=None, lease_until=None)
                steps[job.id] = StepResult(done=True, lead_id=job.lead_id)
        w.flush(tx, now)
        return [steps.get(i) or StepResult(done=True) for i in job_ids]

    def finish(self, job_id: str, outcomes: Sequence[tuple[SendItem, AttemptResult]]) -> StepResult:
        """Record the outcomes of a job's sends in one transaction (``WorkerSteps.finish_batch``); each was
        observed for its partner's health (``Worker._send``) and may move its circuit breaker."""
        for item, result in outcomes:
            self.health.observe_attempt(item.partner, result, self.clock())

        def work(tx: Tx) -> StepResult:
            now = self.clock()
            live = self.configs.current(tx)
            job = open_jobs(tx, tx.jobs.load_jobs([job_id], lock=True), self.sealer)[0]
            items = [(job, list(outcomes))]
            step = settlement.finish_batch(tx, items, OWNER, live, now, retry=RETRY, ids=self.ids)[0]
            observed = [(item.partner, Kind.POST, result_of(result)) for item, result in outcomes]
            settle_breakers(tx, self.health, live, observed, now)
            return step

        return self.storage.transaction(work)

    def deliver(self, step: StepResult, job_id: str, answer: Answer) -> StepResult:
        """What ``Worker._process`` does with a job it holds: send, record, route again, until done."""
        while step.sends or step.reroute:
            if step.reroute:
                step = self.route_again(job_id)
                continue
            step = self.finish(job_id, [(item, answer(item)) for item in step.sends])
        return step

    def work(self, answer: Answer) -> dict[str, StepResult]:
        """One pass of the worker over every due job, each buyer answering with ``answer``."""
        return {job_id: self.deliver(step, job_id, answer) for job_id, step in self.claim_and_route().items()}

    # ------------------------------------------------------------ what is stored

    def one(self, table: str, **where: Any) -> FakeRow:
        found = self.all(table, **where)
        assert len(found) == 1, f"{len(found)} {table} rows where {where}"
        return found[0]

    def all(self, table: str, **where: Any) -> list[FakeRow]:
        return [r for r in self.storage.rows(table) if all(getattr(r, k) == v for k, v in where.items())]

    def job_of(self, lead_id: str, **where: Any) -> FakeRow:
        return self.one("jobs", lead_id=lead_id, **where)

    def audit(self, action: str) -> list[Record]:
        return [r for r in self.storage.rows("audit_log") if r.action == action]
