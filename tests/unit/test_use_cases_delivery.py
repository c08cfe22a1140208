"""Routing a job (``services/distribution.py``) and settling a delivery's outcome (``services/settlement.py``)
against the fakes, driven as the worker drives them (``tests/unit/in_memory.py``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from leadrelay.domain.attempts import AttemptResult
from leadrelay.domain.states import DeliveryStatus, JobStatus, LeadStatus, QueueState
from leadrelay.services import distribution
from leadrelay.services.steps import SendItem
from tests.documents import lead
from tests.unit.in_memory import (
    LEASE,
    OWNER,
    Installation,
    buyer_url,
    by_partner,
    document,
    http,
    run,
    url_of,
)


def only_sunco(**sunco: Any) -> dict[str, Any]:
    doc = document()
    doc["partners"] = {"sunco": {"timezone": "America/Los_Angeles", "price": 25, **sunco}}
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partner": "sunco"}
    return doc


def webhook(name: str, max_attempts: int = 3) -> dict[str, Any]:
    return {"webhook": {"url": buyer_url(name), "timeout": "5s", "max_attempts": max_attempts}}


def accepted(world: Installation, **values: Any) -> str:
    return world.accept(lead(**values)).lead_id


# ---------------------------------------------------------------- route


def test_a_lead_goes_to_the_partner_first_by_priority_and_takes_a_slot_of_its_cap() -> None:
    world = Installation(document(sunco={"caps": {"day": 5}}))
    lead_id = accepted(world, state="CA")
    [(job_id, step)] = world.claim_and_route().items()

    [send] = step.sends
    assert (send.partner, send.attempt, url_of(send)) == ("sunco", 1, buyer_url("sunco"))
    assert send.lead.values["phone"] == "+15125551212" and send.lead.idempotency_key == f"{job_id}:sunco"
    delivery = world.one("deliveries", job_id=job_id)
    assert (delivery.partner, delivery.status, delivery.channel) == ("sunco", "pending", "webhook")
    assert delivery.cap_windows == [["", "d:2026-11-22"]]  # the day in Los Angeles
    job = world.one("jobs", id=job_id)
    assert (job.status, job.rule, job.queue_state, job.lease_owner) == (
        JobStatus.DELIVERING,
        "west-coast",
        QueueState.CLAIMED,
        OWNER,
    )
    assert job.lease_until == world.clock.now + LEASE
    assert "sunco: chosen (priority)" in job.trace
    assert "brightpath: eligible, not needed (sunco first)" in job.trace
    assert [(c.partner, c.window, c.used) for c in world.storage.rows("cap_counters")] == [
        ("sunco", "d:2026-11-22", 1)
    ]
    assert world.one("leads", id=lead_id).status == LeadStatus.QUEUED


def test_a_lead_its_only_partner_already_received_is_unsold_for_no_eligible_partner_not_a_cap() -> None:
    """The reason names what stopped the sale: the partner's dedup, not a cap that has room."""
    world = Installation(only_sunco(channel=webhook("sunco"), dedup={"keys": [["email"]], "window": "30d"}))
    accepted(world)
    world.work(http(200))
    second = accepted(world, phone="+15125550000")  # the same email: the same person for sunco
    world.work(http(200))
    job = world.job_of(second)
    assert job.status == JobStatus.UNSOLD, job.trace
    assert any(line.startswith("sunco: already received this person") for line in job.trace), job.trace
    assert job.error == "no eligible partner", job.error


def test_a_lead_whose_only_partner_is_at_its_cap_is_unsold_for_the_cap() -> None:
    world = Installation(only_sunco(channel=webhook("sunco"), caps={"day": 1}))
    accepted(world)
    world.work(http(200))
    second = accepted(world)
    world.work(http(200))
    assert world.job_of(second).error == "every eligible partner is at its cap"


def test_a_partner_at_its_cap_falls_to_the_next_until_its_window_turns() -> None:
    world = Installation(document(sunco={"caps": {"day": 1}}))
    first, second = accepted(world, state="CA"), accepted(world, state="OR")
    routed = world.claim_and_route()
    assert [s.sends[0].partner for s in routed.values()] == ["sunco", "brightpath"]
    assert "sunco: cap day 1/1 reached" in world.job_of(second).trace
    assert "sunco: chosen (priority)" in world.job_of(first).trace

    for job_id, step in routed.items():
        world.deliver(step, job_id, http(200))
    world.clock.advance(days=1)
    third = accepted(world, state="WA")
    [step] = world.claim_and_route().values()
    assert step.sends[0].partner == "sunco" and world.job_of(third).status == JobStatus.DELIVERING


def test_the_default_rule_rotates_round_robin() -> None:
    world = Installation()
    for _ in range(3):
        accepted(world, state="TX")
    routed = world.claim_and_route()
    assert [s.sends[0].partner for s in routed.values()] == ["brightpath", "voltedge", "brightpath"]


def test_a_lead_no_partner_may_take_is_unsold_with_the_reason() -> None:
    doc = document(sunco={"filters": {"field": "monthly_bill", "op": "gte", "value": 500}})
    world = Installation(doc)
    lead_id = accepted(world, state="CA", monthly_bill=50)
    [step] = world.claim_and_route().values()

    assert step.done and not step.sends
    job = world.job_of(lead_id)
    assert (job.status, job.queue_state, job.error) == (
        JobStatus.UNSOLD,
        QueueState.DONE,
        "no eligible partner",
    )
    assert job.lease_owner is None and job.finished_at == world.clock.now
    assert world.all("deliveries") == [] and world.storage.rows("cap_counters") == []
    assert world.one("leads", id=lead_id).status == LeadStatus.UNSOLD
    outcome = run(world.intake.outcome(lead_id))
    assert (outcome.status, outcome.reason, outcome.settled) == (
        LeadStatus.UNSOLD,
        "no eligible partner",
        True,
    )


@pytest.mark.parametrize("other", ["a-first", "z-last"])  # its job before or after the main one's
def test_the_answer_gives_the_reason_of_the_profile_that_took_the_lead_up_not_of_one_that_matched_nothing(
    other: str,
) -> None:
    doc = document(sunco={"filters": {"field": "monthly_bill", "op": "gte", "value": 500}})
    doc["profiles"][other] = {
        "entity": "solar",
        "rules": [
            {
                "name": "tx",
                "when": {"field": "state", "op": "eq", "value": "TX"},
                "send_to": {"partners": ["sunco"]},
            }
        ],
    }
    doc["profiles"]["solar-main"]["rules"][0]["send_to"]["partners"] = ["sunco"]
    world = Installation(doc)
    lead_id = accepted(world, state="CA", monthly_bill=50)
    world.claim_and_route()
    errors = sorted(j.error for j in world.all("jobs", lead_id=lead_id))
    assert errors == ["no eligible partner", "no rule matched and the profile has no default"]
    assert run(world.intake.outcome(lead_id)).reason == "no eligible partner"


def test_a_job_that_raises_while_routing_is_closed_as_failed_and_the_rest_of_its_batch_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's batch isolation (``entrypoints/worker_isolation.py``) on the fakes' savepoints: two
    jobs are routed in one transaction; routing one of them raises after it took a cap slot, so the batch
    is rolled back and redone job by job: that job is closed as failed with nothing of its routing kept
    (its slot is not taken), and the other job is routed and takes its own slot."""
    world = Installation(document(sunco={"caps": {"day": 5}}))
    bad = accepted(world, state="CA")
    good = accepted(world, state="CA", email="grace@example.com", phone="(512) 555-1313")
    real = distribution.route_job

    def route_job(tx: Any, job: Any, *args: Any, **kwargs: Any) -> Any:
        step = real(tx, job, *args, **kwargs)  # the cap slot is taken, the delivery written
        if job.lead_id == bad:
            raise RuntimeError("a bug in routing")
        return step

    monkeypatch.setattr(distribution, "route_job", route_job)
    routed = world.claim_and_route()

    by_lead = {world.one("jobs", id=job_id).lead_id: step for job_id, step in routed.items()}
    assert by_lead[bad].done and not by_lead[bad].sends
    assert [send.partner for send in by_lead[good].sends] == ["sunco"]
    failed = world.job_of(bad)
    assert failed.status == JobStatus.FAILED and failed.queue_state == QueueState.DONE
    assert failed.error == "internal error while routing (RuntimeError; see the worker log)"
    assert world.job_of(good).status == JobStatus.DELIVERING
    assert [d.lead_id for d in world.all("deliveries")] == [good]
    assert [c.used for c in world.storage.rows("cap_counters")] == [1]  # the good job's slot only


# ---------------------------------------------------------------- settle an outcome


def test_a_2xx_answer_delivers_records_the_attempt_and_settles_the_job() -> None:
    world = Installation()
    lead_id = accepted(world)
    [step] = world.work(http(200, '{"price": 30, "reference": "r-77"}')).values()

    assert step.done and not step.sends
    delivery = world.one("deliveries", lead_id=lead_id)
    assert (delivery.status, delivery.attempts, delivery.price, delivery.reference) == (
        DeliveryStatus.DELIVERED,
        1,
        30.0,
        "r-77",
    )
    assert delivery.delivered_at == world.clock.now and delivery.next_attempt_at is None
    attempt = world.one("attempts", delivery_id=delivery.id)
    assert (attempt.number, attempt.outcome, attempt.status_code) == (1, "success", 200)
    assert attempt.started_at == world.clock.now - timedelta(milliseconds=12)
    job = world.job_of(lead_id)
    assert (job.status, job.queue_state, job.lease_owner, job.finished_at) == (
        JobStatus.DELIVERED,
        QueueState.DONE,
        None,
        world.clock.now,
    )
    assert job.trace[-1] == "sunco: delivered (ref r-77)"
    assert world.one("leads", id=lead_id).status == LeadStatus.DELIVERED
    outcome = run(world.intake.outcome(lead_id))
    assert outcome.body()["partner"] == "sunco" and outcome.body()["price"] == 30.0


def test_a_2xx_answer_without_a_price_is_sold_at_the_partners_list_price() -> None:
    world = Installation()
    lead_id = accepted(world)
    world.work(http(200, "ok"))
    assert world.one("deliveries", lead_id=lead_id).price == 25.0


def test_an_error_is_retried_at_the_clock_plus_the_backoff_then_delivered() -> None:
    world = Installation()
    lead_id = accepted(world)
    start = world.clock.now
    [(job_id, step)] = world.claim_and_route().items()
    after = world.finish(job_id, [(step.sends[0], http(503)(step.sends[0]))])

    assert after.done and not after.sends
    delivery = world.one("deliveries", lead_id=lead_id)
    assert (delivery.status, delivery.attempts, delivery.reason) == (DeliveryStatus.RETRY, 1, "HTTP 503")
    assert delivery.next_attempt_at == start + timedelta(seconds=10)
    job = world.job_of(lead_id)
    assert (job.status, job.queue_state, job.run_at, job.lease_owner) == (
        JobStatus.DELIVERING,
        QueueState.READY,
        start + timedelta(seconds=10),
        None,
    )

    world.clock.advance(seconds=9)
    assert world.claim_and_route() == {}  # not due yet
    world.clock.advance(seconds=1)
    [again] = world.claim_and_route().values()
    assert [s.attempt for s in again.sends] == [2]
    world.finish(job_id, [(again.sends[0], http(502)(again.sends[0]))])
    assert world.one("deliveries", lead_id=lead_id).next_attempt_at == world.clock.now + timedelta(seconds=20)

    world.clock.advance(seconds=20)
    world.work(http(200))
    delivery = world.one("deliveries", lead_id=lead_id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 3)
    assert [a.outcome for a in world.all("attempts", delivery_id=delivery.id)] == [
        "error",
        "error",
        "success",
    ]
    assert world.job_of(lead_id).status == JobStatus.DELIVERED


def test_a_channel_that_gives_up_fails_over_to_the_partners_next_channel() -> None:
    world = Installation(only_sunco(channel=webhook("sunco", 1), failover=[webhook("sunco-backup")]))
    lead_id = accepted(world)
    [(job_id, step)] = world.claim_and_route().items()
    world.finish(job_id, [(step.sends[0], http(503)(step.sends[0]))])

    delivery = world.one("deliveries", lead_id=lead_id)
    assert (delivery.status, delivery.channel_step, delivery.attempts) == (DeliveryStatus.PENDING, 1, 0)
    job = world.job_of(lead_id)
    assert (job.queue_state, job.run_at) == (QueueState.READY, world.clock.now)
    assert any("gave up after 1 attempt(s)" in line and "failover to webhook" in line for line in job.trace)

    [again] = world.claim_and_route().values()
    assert [(url_of(s), s.step, s.attempt) for s in again.sends] == [(buyer_url("sunco-backup"), 1, 1)]
    world.deliver(again, job_id, http(200))
    assert world.one("deliveries", lead_id=lead_id).status == DeliveryStatus.DELIVERED
    assert world.job_of(lead_id).trace[-1] == "sunco: delivered by webhook (failover)"


def test_a_final_error_with_no_channel_and_no_partner_left_fails_the_job_and_frees_the_slot() -> None:
    world = Installation(only_sunco(channel=webhook("sunco", 2), caps={"day": 3}))
    lead_id = accepted(world)
    world.work(http(500))
    world.clock.advance(seconds=10)
    world.work(http(500))  # the second and last attempt: give up, route again, nobody left

    delivery = world.one("deliveries", lead_id=lead_id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 2)
    assert delivery.reason == "gave up after 2 attempts: HTTP 500"
    assert [c.used for c in world.storage.rows("cap_counters")] == [0]  # the slot is given back
    job = world.job_of(lead_id)
    assert (job.status, job.queue_state, job.excluded) == (JobStatus.FAILED, QueueState.DONE, ["sunco"])
    assert job.error == "no eligible partner (already tried: sunco)"
    assert world.one("leads", id=lead_id).status == LeadStatus.FAILED


def test_a_refusal_is_final_for_that_partner_and_the_lead_goes_to_the_next() -> None:
    world = Installation()
    lead_id = accepted(world, state="CA")
    world.work(by_partner(sunco=http(400, "duplicate lead"), brightpath=http(200)))

    dl = {d.partner: d for d in world.all("deliveries", lead_id=lead_id)}
    assert dl["sunco"].status == DeliveryStatus.FAILED and dl["sunco"].attempts == 1
    assert dl["sunco"].reason.startswith("partner refused")
    assert dl["brightpath"].status == DeliveryStatus.DELIVERED
    job = world.job_of(lead_id)
    assert (job.status, job.excluded) == (JobStatus.DELIVERED, ["sunco"])
    assert world.one("leads", id=lead_id).status == LeadStatus.DELIVERED


def test_an_outcome_for_a_job_another_worker_took_over_is_recorded_but_decides_nothing() -> None:
    world = Installation()
    lead_id = accepted(world)
    [(job_id, step)] = world.claim_and_route().items()
    world.clock.advance(LEASE + timedelta(seconds=1))  # our lease ran out: another worker claims it
    world.storage.transaction(lambda tx: tx.jobs.claim_jobs("worker-2", 10, world.clock.now, world.clock.now))
    result: AttemptResult = http(200)(step.sends[0])
    send: SendItem = step.sends[0]
    assert world.finish(job_id, [(send, result)]).done

    assert world.one("attempts", job_id=job_id).outcome == "success"  # what the buyer said is kept
    assert world.one("deliveries", lead_id=lead_id).status == DeliveryStatus.PENDING
    assert world.job_of(lead_id).lease_owner == "worker-2"


def test_the_retry_jitter_comes_from_the_injected_random_source() -> None:
    """``finish_batch(rand=…)``: the same error is retried sooner or later by the random number, within
    the policy's ±25 %."""
    from leadrelay.domain.retry import RetryPolicy
    from leadrelay.services import settlement
    from leadrelay.services.opened_leads import open_jobs

    jittered = RetryPolicy(base_s=10.0, factor=2.0, jitter=0.25)
    delays = []
    for rand in (0.0, 0.5, 0.999):
        world = Installation()
        lead_id = accepted(world)
        [(job_id, step)] = world.claim_and_route().items()
        item = step.sends[0]

        def work(
            tx: Any,
            item: SendItem = item,
            job_id: str = job_id,
            rand: float = rand,
            world: Installation = world,
        ) -> None:
            job = open_jobs(tx, tx.jobs.load_jobs([job_id], lock=True), world.sealer)[0]
            items = [(job, [(item, http(503)(item))])]
            live = world.configs.current(tx)
            settlement.finish_batch(
                tx, items, OWNER, live, world.clock(), retry=jittered, ids=world.ids, rand=lambda: rand
            )

        world.storage.transaction(work)
        delivery = world.one("deliveries", lead_id=lead_id)
        delays.append((delivery.next_attempt_at - world.clock.now).total_seconds())
    assert delays[0] == 7.5 and delays[1] == 10.0 and 12.49 < delays[2] < 12.5
