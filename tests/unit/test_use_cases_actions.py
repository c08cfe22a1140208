"""An operator's actions on a distribution against the fakes: resend, rerun, cancel (``services/act.py``)
and the release of a held lead (``services/holds.py``); what each allows, what it refuses, and its audit
entry."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from leadrelay.domain.states import DeliveryStatus, JobStatus, LeadStatus, QueueState
from leadrelay.errors import InvalidTransition, NotFound, ValidationFailed
from leadrelay.services import configure
from tests.documents import lead
from tests.unit.in_memory import LEASE, Installation, buyer_url, document, http, run, url_of


def only_sunco(**sunco: Any) -> dict[str, Any]:
    doc = document()
    doc["partners"] = {"sunco": {"timezone": "America/Los_Angeles", "price": 25, **sunco}}
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partner": "sunco"}
    return doc


def webhook(name: str, max_attempts: int = 3) -> dict[str, Any]:
    return {"webhook": {"url": buyer_url(name), "timeout": "5s", "max_attempts": max_attempts}}


def delivered(world: Installation, **values: Any) -> tuple[str, str]:
    """A lead accepted and delivered (to sunco, for a Californian); its id and its job's."""
    lead_id = world.accept(lead(**values)).lead_id
    world.work(http(200, '{"price": 30}'))
    job = world.job_of(lead_id)
    assert job.status == JobStatus.DELIVERED
    return lead_id, job.id


def unchanged(world: Installation) -> dict[str, list[Any]]:
    return {t: world.storage.rows(t) for t in ("jobs", "deliveries", "leads", "audit_log", "cap_counters")}


# ---------------------------------------------------------------- resend


def test_resend_makes_a_linked_job_straight_to_the_same_partner_past_its_cap() -> None:
    world = Installation(document(sunco={"caps": {"day": 1}}))
    lead_id, job_id = delivered(world, state="CA")
    world.clock.advance(minutes=5)
    [new_id] = run(world.actions.resend(job_id, actor="ops", reason="the buyer lost it"))

    new = world.one("jobs", id=new_id)
    assert (new.kind, new.target_partner, new.parent_id, new.status, new.queue_state) == (
        "resend",
        "sunco",
        job_id,
        JobStatus.RECEIVED,
        QueueState.READY,
    )
    assert world.one("jobs", id=job_id).status == JobStatus.DELIVERED  # the original stays as it was
    [entry] = world.audit("distribution.resend")
    assert (entry.actor, entry.object_id, entry.at, entry.reason) == (
        "ops",
        job_id,
        world.clock.now,
        "the buyer lost it",
    )
    assert entry.detail == {"new_jobs": [new_id], "partners": ["sunco"]}

    world.work(http(200))  # the cap of 1 a day is taken: a resend does not ask
    resent = world.one("deliveries", job_id=new_id)
    assert (resent.partner, resent.status, resent.cap_windows) == ("sunco", DeliveryStatus.DELIVERED, [])
    assert "sunco: resend straight to the partner (selection bypassed)" in world.one("jobs", id=new_id).trace
    assert world.one("leads", id=lead_id).status == LeadStatus.DELIVERED


def test_resend_is_refused_for_a_job_that_was_not_delivered() -> None:
    world = Installation(document(sunco={"filters": {"field": "monthly_bill", "op": "gte", "value": 500}}))
    lead_id = world.accept(lead(state="CA", monthly_bill=50)).lead_id
    world.work(http(200))
    job_id = world.job_of(lead_id).id
    before = unchanged(world)
    with pytest.raises(
        InvalidTransition, match=r"only for delivered distributions; .* is unsold \(use rerun\)"
    ):
        run(world.actions.resend(job_id, actor="ops"))
    with pytest.raises(NotFound):
        run(world.actions.resend("job_nope", actor="ops"))
    assert unchanged(world) == before


def test_resend_is_refused_up_front_when_the_partner_was_deleted_since() -> None:
    """A resend goes through the partner's current channel: a partner deleted since has none, and a job made
    for it would only fail later ("missing or has no delivery channel")."""
    doc = document()
    world = Installation(doc)
    _, job_id = delivered(world, state="CA")
    rest = copy.deepcopy(doc)
    rest["profiles"]["solar-main"]["rules"][0]["send_to"]["partners"] = ["brightpath"]
    world.configure(rest)
    world.storage.transaction(
        lambda tx: configure.delete_in(tx, "partners", "sunco", actor="ops", clock=world.clock)
    )
    world.configs.invalidate()
    before = unchanged(world)
    with pytest.raises(
        InvalidTransition, match=f"cannot resend {job_id}: partner sunco is missing or has no channel"
    ):
        run(world.actions.resend(job_id, actor="ops"))
    assert unchanged(world) == before


def test_a_second_resend_is_refused_while_the_first_is_on_its_way_and_allowed_once_it_has_finished() -> None:
    world = Installation(document())
    _, job_id = delivered(world, state="CA")
    [first] = run(world.actions.resend(job_id, actor="ops"))
    before = unchanged(world)
    with pytest.raises(InvalidTransition, match=rf"the lead of {job_id} is being resent \({first}\)"):
        run(world.actions.resend(job_id, actor="other operator"))  # the buyer would get the lead twice
    assert unchanged(world) == before  # no job, no audit entry

    world.work(http(200))
    assert world.one("jobs", id=first).status == JobStatus.DELIVERED
    [second] = run(world.actions.resend(job_id, actor="ops"))  # the first has arrived: again is a choice
    assert second != first


# ---------------------------------------------------------------- rerun


def test_rerun_resets_a_failed_job_to_be_routed_again() -> None:
    world = Installation(only_sunco(channel=webhook("sunco", 1)))
    lead_id = world.accept().lead_id
    world.work(http(503))
    job = world.job_of(lead_id)
    assert (job.status, world.one("leads", id=lead_id).status) == (JobStatus.FAILED, LeadStatus.FAILED)

    world.clock.advance(hours=1)
    run(world.actions.rerun(job.id, actor="ops", reason="buyer is back"))
    job = world.job_of(lead_id)
    assert (job.status, job.queue_state, job.error, job.excluded, job.finished_at, job.run_at) == (
        JobStatus.RECEIVED,
        QueueState.READY,
        None,
        [],
        None,
        world.clock.now,
    )
    assert job.trace[-1] == "rerun by ops: buyer is back"
    assert world.one("leads", id=lead_id).status == LeadStatus.QUEUED
    [entry] = world.audit("distribution.rerun")
    assert (entry.object_id, entry.detail, entry.reason) == (
        job.id,
        {"previous_status": "failed"},
        "buyer is back",
    )

    world.work(http(200))
    assert world.job_of(lead_id).status == JobStatus.DELIVERED
    assert [d.status for d in world.all("deliveries", lead_id=lead_id)] == ["failed", "delivered"]


def test_rerun_of_a_job_whose_worker_was_lost_mid_post_resumes_the_post_with_the_same_key() -> None:
    """The post may have reached the buyer before the worker died: routing afresh could sell the lead to
    another buyer too. The rerun resumes the delivery under way (the same delivery and idempotency key, as
    a worker taking the lease over does) and keeps its cap slot."""
    world = Installation(only_sunco(channel=webhook("sunco"), caps={"day": 5}))
    lead_id = world.accept().lead_id
    [(job_id, step)] = world.claim_and_route().items()
    [first] = step.sends  # the worker posts it, and dies before the answer
    world.clock.advance(seconds=LEASE.total_seconds() + 1)

    run(world.actions.rerun(job_id, actor="ops", reason="stuck"))
    job = world.job_of(lead_id)
    assert (job.status, job.queue_state, job.lease_owner) == (JobStatus.DELIVERING, QueueState.READY, None)
    assert job.trace[-1] == "rerun by ops: stuck (its delivery under way resumed: sunco)"
    [again] = world.claim_and_route()[job_id].sends
    assert (again.delivery_id, again.lead.idempotency_key) == (first.delivery_id, first.lead.idempotency_key)
    assert len(world.all("deliveries", lead_id=lead_id)) == 1
    assert [c.used for c in world.storage.rows("cap_counters")] == [1]


def test_rerun_is_refused_for_a_delivered_job_a_scheduled_retry_and_a_job_being_processed() -> None:
    world = Installation()
    _, sold = delivered(world, state="CA")
    waiting_lead = world.accept().lead_id
    world.work(http(503))  # a retry is scheduled in 10 s
    waiting = world.job_of(waiting_lead).id
    busy_lead = world.accept().lead_id
    world.claim_and_route()  # claimed, its lease live
    busy = world.job_of(busy_lead).id
    before = unchanged(world)

    for job_id, why in (
        (sold, "it was delivered (use resend)"),
        (waiting, "it is waiting for a scheduled retry at"),
        (busy, "it is being processed by a worker right now"),
    ):
        expected = re.escape(f"rerun is for failed or stuck distributions; {job_id}: {why}")
        with pytest.raises(InvalidTransition, match=expected):
            run(world.actions.rerun(job_id, actor="ops"))
    assert unchanged(world) == before


# ---------------------------------------------------------------- cancel


def test_cancel_of_a_delivered_job_gives_the_cap_slot_back_and_is_audited() -> None:
    world = Installation(document(sunco={"caps": {"day": 5}}))
    lead_id, job_id = delivered(world, state="CA")
    world.clock.advance(days=2)
    assert run(world.actions.cancel(job_id, actor="ops", reason="bad phone")) is None

    delivery = world.one("deliveries", job_id=job_id)
    assert (delivery.status, delivery.cancelled_at, delivery.cancel_reason) == (
        DeliveryStatus.CANCELLED,
        world.clock.now,
        "bad phone",
    )
    assert [c.used for c in world.storage.rows("cap_counters")] == [0]
    job = world.one("jobs", id=job_id)
    assert job.status == JobStatus.CANCELLED and job.trace[-1] == "cancelled by ops: bad phone"
    assert world.one("leads", id=lead_id).status == LeadStatus.CANCELLED
    [entry] = world.audit("distribution.cancel")
    assert (entry.object_id, entry.detail, entry.reason) == (job_id, {"redistributed_as": None}, "bad phone")


def test_cancel_with_automatic_redistribution_routes_the_lead_to_the_next_partner() -> None:
    doc = document()
    doc["profiles"]["solar-main"]["auto_redistribute"] = True
    world = Installation(doc)
    lead_id, job_id = delivered(world, state="CA")
    new_id = run(world.actions.cancel(job_id, actor="ops"))

    assert new_id is not None
    new = world.one("jobs", id=new_id)
    assert (new.parent_id, new.excluded, new.kind) == (job_id, ["sunco"], "route")
    world.work(http(200))
    assert world.one("deliveries", job_id=new_id).partner == "brightpath"
    assert world.one("leads", id=lead_id).status == LeadStatus.DELIVERED
    assert world.audit("distribution.cancel")[0].detail == {"redistributed_as": new_id}


def test_cancel_is_refused_past_the_period_when_invoiced_and_when_not_delivered() -> None:
    world = Installation(document(sunco={"cancel_period": "12h"}))
    _, late = delivered(world, state="CA")
    _, invoiced = delivered(world, state="CA")
    world.storage.transaction(
        lambda tx: tx.deliveries.update_delivery(tx.deliveries.job_deliveries(invoiced)[0].id, invoiced=True)
    )
    unsold_lead = world.accept(lead(state="CA", zip="94103")).lead_id
    world.work(http(400))  # refused by sunco and brightpath: unsold
    unsold = world.job_of(unsold_lead).id
    world.clock.advance(hours=13)
    before = unchanged(world)

    with pytest.raises(InvalidTransition, match=r"cancellation period of sunco \(12 hours\) has passed"):
        run(world.actions.cancel(late, actor="ops"))
    with pytest.raises(InvalidTransition, match="already invoiced"):
        run(world.actions.cancel(invoiced, actor="ops"))
    with pytest.raises(InvalidTransition, match="only for delivered distributions"):
        run(world.actions.cancel(unsold, actor="ops"))
    assert unchanged(world) == before


# ---------------------------------------------------------------- hold release


def held(world: Installation) -> tuple[str, str]:
    """A lead whose webhook gave up, held for pick-up by the partner's failover; its id and delivery's."""
    lead_id = world.accept().lead_id
    world.work(http(503))  # gives up at once, fails over to hold
    world.work(http(200))  # the hold channel keeps it
    delivery = world.one("deliveries", lead_id=lead_id)
    assert delivery.status == DeliveryStatus.HELD
    return lead_id, delivery.id


def test_releasing_a_held_lead_sends_it_through_the_partners_first_channel_again() -> None:
    world = Installation(only_sunco(channel=webhook("sunco", 1), failover=[{"hold": {}}]))
    lead_id, delivery_id = held(world)
    assert (world.job_of(lead_id).status, world.one("leads", id=lead_id).status) == (
        JobStatus.HELD,
        LeadStatus.HELD,
    )
    assert [h["delivery_id"] for h in run(world.holds.list("sunco"))[0]] == [delivery_id]

    world.clock.advance(hours=3)
    job_id = run(world.holds.release(delivery_id, actor="ops", reason="webhook fixed"))
    delivery = world.one("deliveries", id=delivery_id)
    assert (
        delivery.status,
        delivery.channel,
        delivery.channel_step,
        delivery.attempts,
        delivery.held_at,
    ) == (
        DeliveryStatus.PENDING,
        "webhook",
        0,
        0,
        None,
    )
    job = world.one("jobs", id=job_id)
    assert (job.status, job.queue_state, job.run_at) == (
        JobStatus.DELIVERING,
        QueueState.READY,
        world.clock.now,
    )
    assert job.trace[-1] == "sunco: released from hold by ops"
    assert world.one("leads", id=lead_id).status == LeadStatus.QUEUED
    [entry] = world.audit("hold.release")
    assert (entry.object_id, entry.detail, entry.reason) == (
        job_id,
        {"delivery": delivery_id, "partner": "sunco"},
        "webhook fixed",
    )
    assert run(world.holds.list()) == ([], None)

    [step] = world.claim_and_route().values()
    assert [(url_of(s), s.attempt) for s in step.sends] == [(buyer_url("sunco"), 1)]
    world.deliver(step, job_id, http(200))
    assert world.one("deliveries", id=delivery_id).status == DeliveryStatus.DELIVERED
    assert world.one("leads", id=lead_id).status == LeadStatus.DELIVERED


def test_release_is_refused_for_a_delivery_that_is_not_held() -> None:
    world = Installation(only_sunco(channel=webhook("sunco", 1), failover=[{"hold": {}}]))
    _, delivery_id = held(world)
    run(world.holds.release(delivery_id, actor="ops"))
    before = unchanged(world)
    with pytest.raises(InvalidTransition, match="is pending, not held"):
        run(world.holds.release(delivery_id, actor="ops"))
    with pytest.raises(NotFound):
        run(world.holds.release("dlv_nope", actor="ops"))
    assert unchanged(world) == before


def test_held_leads_come_a_page_at_a_time_and_every_one_is_reached() -> None:
    world = Installation(only_sunco(channel=webhook("sunco", 1), failover=[{"hold": {}}]))
    ids = []
    for n in range(5):
        ids.append(held(world)[1])
        world.clock.advance(seconds=n % 2)  # two holds share a second: the id orders them
    pages, after = [], None
    while True:
        items, after = run(world.holds.list(after=after, limit=2))
        pages.append([h["delivery_id"] for h in items])
        if after is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [d for p in pages for d in p] == sorted(
        ids, key=lambda d: (world.one("deliveries", id=d).held_at, d)
    )
    text, more = run(world.holds.export_csv("sunco", actor="ops", limit=3))
    assert (len(text.splitlines()), more is not None) == (4, True)
    rest, last = run(world.holds.export_csv("sunco", actor="ops", after=more, limit=3))
    assert (len(rest.splitlines()), last) == (3, None)
    assert (
        run(world.holds.list(after="", limit=2))[0] == run(world.holds.list(limit=2))[0]
    )  # empty: the first
    with pytest.raises(ValidationFailed) as bad:
        run(world.holds.list(after="not-a-cursor"))
    assert bad.value.problems[0].field == "cursor"


def test_the_held_leads_export_is_audited() -> None:
    world = Installation(only_sunco(channel=webhook("sunco", 1), failover=[{"hold": {}}]))
    lead_id, delivery_id = held(world)
    text, _ = run(world.holds.export_csv("sunco", actor="ops"))
    header, row = text.splitlines()
    assert header.startswith("delivery_id,lead_id,partner,profile,held_at,reason,first_name")
    assert row.startswith(f"{delivery_id},{lead_id},sunco,solar-main,") and "ada@example.com" in row
    [entry] = world.audit("holds.export")
    assert (entry.object_id, entry.detail) == ("sunco", {"count": 1, "after": None})
