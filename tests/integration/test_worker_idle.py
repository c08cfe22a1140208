"""The worker in the test's own event loop: ``run_until_idle()`` claims and processes until nothing is due,
the retry schedule and the clock are injected, so no test sleeps for a real backoff."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from leadrelay.adapters.db.tables import attempts, deliveries, jobs
from leadrelay.bootstrap import Runtime, build_runtime
from leadrelay.config import Settings
from leadrelay.domain.retry import RetryPolicy
from leadrelay.entrypoints.worker import Worker
from leadrelay.services.intake_answers import IntakeRequest
from tests.integration.test_routing_flow import ScriptedBuyer
from tests.support import base_config, lead, prepare, rows


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def flaky() -> Iterator[ScriptedBuyer]:
    """sunco's buyer: a 503 (no Retry-After), then a 200."""
    with ScriptedBuyer([(503, {}), (200, {})]) as buyer:
        yield buyer


def _runtime(url: str, buyer: ScriptedBuyer) -> Runtime:
    prepare(url, base_config(lambda name: buyer.url(name)))
    return build_runtime(Settings(database_url=url))


async def _post(rt: Runtime) -> str:
    answer = await rt.intake.accept(IntakeRequest("web", "solar", lead(state="CA")))
    assert answer.status == "queued"
    return answer.lead_id


def _state(url: str) -> tuple[Any, Any, list[int]]:
    job = rows(url, select(jobs))[0]
    delivery = rows(url, select(deliveries))[0]
    codes = [a.status_code for a in rows(url, select(attempts).order_by(attempts.c.number))]
    return job, delivery, codes


def test_the_production_schedule_waits_on_the_injected_clock_not_the_wall_clock(
    db_url: str, flaky: ScriptedBuyer
) -> None:
    """With the default schedule (a first retry after about a second), a retry is not due until the
    injected clock has moved: ``run_until_idle`` returns at once instead of sleeping, and runs it after."""

    async def scenario(rt: Runtime) -> tuple[int, int, int]:
        await _post(rt)
        clock = Clock()  # from the lead's arrival on
        worker = Worker(rt.storage, rt.configs, rt.channels, rt.notifier, rt.sealer, clock=clock)
        first = await worker.run_until_idle()  # attempt 1: 503, retry in 0.75–1.25 s
        again = await worker.run_until_idle()  # nothing due yet by the worker's clock
        clock.advance(1.3)
        last = await worker.run_until_idle()  # attempt 2: 200
        return first, again, last

    rt = _runtime(db_url, flaky)
    try:
        first, again, last = asyncio.run(_run(rt, scenario))
    finally:
        rt.db.dispose()
    assert (first, again, last) == (1, 0, 1)
    job, delivery, codes = _state(db_url)
    assert codes == [503, 200]
    assert job.status == "delivered" and job.queue_state == "done"
    assert delivery.status == "delivered" and delivery.attempts == 2
    assert flaky.calls == 2
    # no wall-clock bound here: a loaded machine takes a second over three transactions; that the retry
    # waited on the injected clock is shown by ``again == 0`` then ``last == 1`` after ``advance``


def test_an_injected_schedule_retries_at_once(db_url: str, flaky: ScriptedBuyer) -> None:
    """A zero-delay schedule makes the retry due at once: one ``run_until_idle`` sees the lead delivered."""

    async def scenario(rt: Runtime) -> int:
        worker = Worker(
            rt.storage, rt.configs, rt.channels, rt.notifier, rt.sealer, retry=RetryPolicy(base_s=0, jitter=0)
        )
        await _post(rt)
        return await worker.run_until_idle()

    rt = _runtime(db_url, flaky)
    try:
        claims = asyncio.run(_run(rt, scenario))
    finally:
        rt.db.dispose()
    assert claims == 2  # the first attempt, then the retry it scheduled for now
    job, delivery, codes = _state(db_url)
    assert codes == [503, 200]
    assert job.status == "delivered" and delivery.attempts == 2


def test_the_retry_schedule_comes_from_the_settings(sqlite_url: str, flaky: ScriptedBuyer) -> None:
    """``LEADRELAY_RETRY_BASE`` (``Settings.retry_base``) sets the delay the worker schedules."""

    async def scenario(rt: Runtime) -> None:
        worker = rt.new_worker()
        await _post(rt)
        await worker.run_until_idle()

    prepare(sqlite_url, base_config(lambda name: flaky.url(name)))
    rt = build_runtime(Settings(database_url=sqlite_url, retry_base=600, retry_max_delay=3600))
    try:
        asyncio.run(_run(rt, scenario))
    finally:
        rt.db.dispose()
    job, delivery, codes = _state(sqlite_url)
    assert codes == [503]
    assert delivery.status == "retry"
    wait = (delivery.next_attempt_at.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()
    assert 400 < wait < 800  # 600 s ± 25 %
    assert job.queue_state == "ready"


def test_a_claim_that_got_fewer_jobs_than_asked_waits_for_word_of_more(db_url: str) -> None:
    """Nothing more is due after a short claim: the loop waits for intake's word (or the poll) instead of
    a second, empty claim transaction at once. One lead: the first claim finds nothing, the word of the
    lead wakes the loop, and the claim that takes it is the last one while the loop is idle."""

    async def scenario(rt: Runtime) -> int:
        worker = Worker(rt.storage, rt.configs, rt.channels, rt.notifier, rt.sealer, poll_interval=30.0)
        claims = 0
        claim_and_route = worker.steps.claim_and_route

        def counted(tx: Any, limit: int, now: datetime) -> Any:
            nonlocal claims
            claims += 1
            return claim_and_route(tx, limit, now)

        worker.steps.claim_and_route = counted  # type: ignore[method-assign]
        running = asyncio.create_task(worker.run())
        while claims == 0:  # the first claim, on an empty queue
            await asyncio.sleep(0.01)
        lead_id = await _post(rt)
        await _lead_done(rt, lead_id, 20)
        for _ in range(20):  # the loop's turn to claim again, if it were to
            await asyncio.sleep(0.005)
        worker.stop()
        await running
        return claims

    with ScriptedBuyer([(200, {})]) as buyer:
        rt = _runtime(db_url, buyer)
        try:
            claims = asyncio.run(_run(rt, scenario))
        finally:
            rt.db.dispose()
        assert buyer.calls == 1
    assert claims == 2
    job, delivery, _ = _state(db_url)
    assert job.status == "delivered" and delivery.status == "delivered"


async def _lead_done(rt: Runtime, lead_id: str, seconds: float) -> None:
    """Until the worker says the lead is done (at most ``seconds``), as a waiting request hears it: watch,
    then read the lead's job, so that a job finished before the watch is not waited for."""
    event = rt.notifier.watch(lead_id)
    query = select(jobs.c.finished_at).where(jobs.c.lead_id == lead_id)
    try:
        if await rt.db.run_read(lambda conn: conn.execute(query).scalar()) is None:
            await asyncio.wait_for(event.wait(), seconds)
    finally:
        rt.notifier.unwatch(lead_id, event)


async def _run(rt: Runtime, scenario: Any) -> Any:
    try:
        async with asyncio.timeout(30):
            return await scenario(rt)
    finally:
        await rt.channels.close()
