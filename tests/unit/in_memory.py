"""An installation in memory for the use cases' unit tests: a configuration document applied through the
real configuration service (document → validation → stored objects → specs → compiled routing), the
services built on ``FakeStorage`` with a ``FakeClock`` and ``FakeIds``, and a driver that does what the
worker does with a job (claim → route → send → record the outcome) one step at a time.

The driver runs the worker's own transactions (``entrypoints/worker_steps.py``: ``claim_and_route``,
``route_batch``, ``finish_batch``), their savepoints on the fakes' (``FakeSavepoint``). The buyers'
answers are what the webhook channel makes of an HTTP exchange (``classify``, a pure function).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from leadrelay.adapters.channels.webhook import classify
from leadrelay.domain.attempts import AttemptResult
from leadrelay.domain.model import WebhookChannel
from leadrelay.domain.retry import RetryPolicy
from leadrelay.entrypoints.worker_steps import WorkerSteps
from leadrelay.services import configure
from leadrelay.services.act import Actions
from leadrelay.services.config_in_force import ConfigCache, LiveConfig
from leadrelay.services.health import HealthTracker
from leadrelay.services.holds import Holds
from leadrelay.services.intake import Intake
from leadrelay.services.intake_answers import IntakeAnswer, IntakeRequest
from leadrelay.services.notify import Notifier
from leadrelay.services.ports import Record, system_random
from leadrelay.services.privacy import Privacy
from leadrelay.services.steps import SendItem, StepResult
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
        self.steps = WorkerSteps(
            OWNER,
            self.configs,
            self.sealer,
            self.health,
            RETRY,
            LEASE,
            None,
            self.clock,
            self.ids,
            system_random,
        )

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
        return self.storage.transaction(lambda tx: dict(self.steps.claim_and_route(tx, 100, self.clock())))

    def route_again(self, job_id: str) -> StepResult:
        """A job whose deliveries all failed goes back to routing (the worker's reroute)."""
        return self.storage.transaction(lambda tx: self.steps.route_batch(tx, [job_id])[0])

    def finish(self, job_id: str, outcomes: Sequence[tuple[SendItem, AttemptResult]]) -> StepResult:
        """Record the outcomes of a job's sends in one transaction (``WorkerSteps.finish_batch``); each was
        observed for its partner's health (``Worker._send``) and may move its circuit breaker."""
        for item, result in outcomes:
            self.health.observe_attempt(item.partner, result, self.clock())
        return self.storage.transaction(lambda tx: self.steps.finish_batch(tx, [(job_id, list(outcomes))])[0])

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
        return self.storage.rows(table, **where)

    def job_of(self, lead_id: str, **where: Any) -> FakeRow:
        return self.one("jobs", lead_id=lead_id, **where)

    def audit(self, action: str) -> list[Record]:
        return [r for r in self.storage.rows("audit_log") if r.action == action]
