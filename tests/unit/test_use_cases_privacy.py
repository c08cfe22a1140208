"""Erasure and retention (``services/privacy.py``) against the fakes: a person's values leave the lead, its
traces, attempts and deliveries, and its dedup marks; the business record stays."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from leadrelay.domain.states import DeliveryStatus, JobStatus, LeadStatus, QueueState
from leadrelay.errors import InvalidTransition, NotFound
from leadrelay.services.intake_writes import new_job_row
from leadrelay.services.privacy import ERASED_REASON
from tests.documents import lead
from tests.fakes.schema import TABLES
from tests.unit.in_memory import Installation, buyer_url, by_partner, document, http, run

PERSONAL = ("zelda", "quixote", "5551212", "555-1212", "123-45-6789", "123456789")


def private_document() -> dict[str, Any]:
    doc = document()
    doc["entities"]["solar"]["fields"]["ssn"] = {"type": "string", "sensitive": True}
    doc["entities"]["solar"]["dedup"] = {"keys": ["email"], "window": "30d"}
    return doc


def zelda(**values: Any) -> dict[str, Any]:
    person = {
        "first_name": "Zelda",
        "last_name": "Quixote",
        "email": "Zelda@Example.com",
        "ssn": "123-45-6789",
    }
    return lead(**{**person, **values})


def stored_text(world: Installation, lead_id: str) -> str:
    """Every stored row of the lead (its jobs, deliveries, attempts, marks, audit entries) as text."""
    jobs = {j.id for j in world.all("jobs", lead_id=lead_id)}
    rows = [
        row
        for table in TABLES
        for row in world.storage.rows(table)
        if lead_id in repr(row) or getattr(row, "job_id", None) in jobs
    ]
    return repr(rows).lower()


def sold_after_a_refusal(world: Installation) -> str:
    """Zelda's lead, refused by sunco (its answer quotes her email), then delivered to brightpath."""
    lead_id = world.accept(zelda(state="CA")).lead_id
    world.work(by_partner(sunco=http(400, "zelda@example.com is already ours"), brightpath=http(200, "ok")))
    assert world.one("leads", id=lead_id).status == LeadStatus.DELIVERED
    return lead_id


def test_erasing_a_lead_removes_every_personal_value_and_keeps_the_business_record() -> None:
    world = Installation(private_document())
    lead_id = sold_after_a_refusal(world)
    before = stored_text(world, lead_id)
    assert "zelda" in before and "5551212" in before  # there was something to erase
    assert "123-45-6789" not in before  # a sensitive value is sealed at rest
    assert len(world.storage.rows("dedup_marks")) == 1

    world.clock.advance(days=3)
    assert run(world.privacy.erase_lead(lead_id, actor="dpo", reason="request #12")) is True

    erased = world.one("leads", id=lead_id)
    assert (erased.data, erased.raw, erased.sealed, erased.flags) == ({}, {}, None, None)
    assert erased.erased_at == world.clock.now and erased.status == LeadStatus.DELIVERED
    after = stored_text(world, lead_id)
    assert not [value for value in PERSONAL if value in after]
    for attempt in world.all("attempts"):
        assert (attempt.request, attempt.response_body) == ({"erased": True}, None)
    dl = {d.partner: d for d in world.all("deliveries", lead_id=lead_id)}
    assert dl["sunco"].reason is not None and "***" in dl["sunco"].reason
    assert (dl["brightpath"].status, dl["brightpath"].price) == (DeliveryStatus.DELIVERED, None)
    assert world.job_of(lead_id).status == JobStatus.DELIVERED
    assert world.storage.rows("dedup_marks") == []  # the marks are forgotten: a new lead is no duplicate
    [entry] = world.audit("lead.erase")
    assert (entry.actor, entry.object_id, entry.reason, entry.detail) == (
        "dpo",
        lead_id,
        "request #12",
        {"erased": True, "by": "id"},
    )
    assert world.old_pages.forgotten == 1
    assert world.accept(zelda()).body()["status"] == "queued"

    assert run(world.privacy.erase_lead(lead_id, actor="dpo")) is False  # erased before
    with pytest.raises(NotFound):
        run(world.privacy.erase_lead("lead_nope", actor="dpo"))


def test_erasing_a_lead_not_routed_yet_closes_its_job() -> None:
    world = Installation(private_document())
    lead_id = world.accept(zelda()).lead_id
    run(world.privacy.erase_lead(lead_id, actor="dpo"))
    job = world.job_of(lead_id)
    assert (job.status, job.queue_state, job.error) == (
        JobStatus.UNSOLD,
        QueueState.DONE,
        "personal data erased",
    )
    lead_row = world.one("leads", id=lead_id)
    assert (lead_row.data, lead_row.status) == ({}, LeadStatus.UNSOLD)  # its status follows its closed job
    assert world.claim_and_route() == {}


def test_a_job_added_for_an_erased_lead_is_closed_unsold_and_sends_nothing() -> None:
    """The routing's backstop: whatever adds a job for an erased lead (a redistribution, a rerun), the
    blanked lead is never routed (it would fall to a default rule and post ``{}``)."""
    world = Installation(private_document())
    lead_id = world.accept(zelda()).lead_id
    run(world.privacy.erase_lead(lead_id, actor="dpo"))
    row = new_job_row(lead_id, "solar-main", world.clock.now, id="job_late", trace=[])
    world.storage.transaction(lambda tx: tx.jobs.insert_jobs([row]))
    [(job_id, step)] = world.claim_and_route().items()
    assert (job_id, step.sends) == ("job_late", [])
    job = world.one("jobs", id="job_late")
    assert (job.status, job.error) == (JobStatus.UNSOLD, ERASED_REASON)
    assert job.trace[-1] == f"not routed: {ERASED_REASON}"
    assert world.all("deliveries", job_id="job_late") == []


def test_erasing_a_person_finds_each_of_their_leads_by_email_or_phone() -> None:
    world = Installation(private_document())
    by_email = world.accept(zelda()).lead_id
    world.clock.advance(days=31)  # past the dedup window
    by_phone = world.accept(zelda(email="z.q@example.org")).lead_id
    other = world.accept(lead(phone="(512) 555-0000", email="bob@example.com")).lead_id

    found = run(world.privacy.erase_person(email="ZELDA@example.com", phone="512 555 1212", actor="dpo"))
    assert found == sorted([by_email, by_phone])
    assert all(world.one("leads", id=i).erased_at == world.clock.now for i in found)
    assert world.one("leads", id=other).data["email"] == "bob@example.com"
    [entry] = world.audit("lead.erase")
    assert entry.detail == {"erased": 2, "by": "email+phone", "leads": found}


def test_retention_erases_the_leads_older_than_the_period() -> None:
    world = Installation(private_document())
    old = world.accept(zelda()).lead_id
    world.clock.advance(days=40)
    recent = world.accept(lead(email="bob@example.com")).lead_id

    assert world.privacy.purge_sync(timedelta(days=30)) == 1
    assert world.one("leads", id=old).erased_at == world.clock.now
    assert world.one("leads", id=recent).erased_at is None
    assert world.old_pages.forgotten == 1
    assert world.privacy.purge_sync(timedelta(days=30)) == 0


# ---------------------------------------------------------------- deliveries not sent yet


def only_sunco(**sunco: Any) -> dict[str, Any]:
    """Every lead to sunco alone (5 a day), its webhook giving up after one attempt."""
    doc = private_document()
    hook = {"url": buyer_url("sunco"), "timeout": "5s", "max_attempts": 1}
    doc["partners"] = {
        "sunco": {
            "timezone": "America/Los_Angeles",
            "caps": {"day": 5},
            "channel": {"webhook": hook},
            **sunco,
        }
    }
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partner": "sunco"}
    return doc


def slots_used(world: Installation) -> list[int]:
    return [c.used for c in world.storage.rows("cap_counters")]


def test_an_erased_lead_waiting_for_a_retry_is_not_posted_again() -> None:
    world = Installation(private_document())
    lead_id = world.accept(zelda()).lead_id
    world.work(http(503))  # a retry is due in 10 s
    waiting = world.one("deliveries", lead_id=lead_id)
    assert waiting.status == DeliveryStatus.RETRY
    assert world.job_of(lead_id).queue_state == QueueState.READY
    run(world.privacy.erase_lead(lead_id, actor="dpo"))
    world.clock.advance(seconds=10)
    sends = [item for step in world.claim_and_route().values() for item in step.sends]
    assert sends == []

    gone = world.one("deliveries", id=waiting.id)
    assert (gone.status, gone.reason, gone.next_attempt_at) == (
        DeliveryStatus.FAILED,
        "personal data erased before it was sent again",
        None,
    )
    job = world.job_of(lead_id)
    assert (job.status, job.queue_state, job.error) == (JobStatus.UNSOLD, QueueState.DONE, ERASED_REASON)
    assert job.finished_at is not None
    assert world.one("leads", id=lead_id).status == LeadStatus.UNSOLD
    assert [a.request for a in world.all("attempts")] == [{"erased": True}]  # the 503 kept, blanked


def test_an_erased_lead_held_for_pick_up_can_no_longer_be_picked_up_or_released() -> None:
    world = Installation(only_sunco(failover=[{"hold": {}}]))
    other = world.accept(lead(email="bob@example.com", phone="(512) 555-0000")).lead_id
    lead_id = world.accept(zelda()).lead_id
    world.work(http(503))  # gives up at once, fails over to hold
    world.work(http(200))  # the hold channel keeps both
    held = world.one("deliveries", lead_id=lead_id)
    assert held.status == DeliveryStatus.HELD and world.job_of(lead_id).status == JobStatus.HELD
    assert slots_used(world) == [2]  # a held lead keeps its slot

    run(world.privacy.erase_lead(lead_id, actor="dpo"))

    gone = world.one("deliveries", id=held.id)
    assert (gone.status, gone.reason) == (
        DeliveryStatus.FAILED,
        "personal data erased before it was picked up",
    )
    job = world.job_of(lead_id)
    assert (job.status, job.queue_state, job.error) == (JobStatus.UNSOLD, QueueState.DONE, ERASED_REASON)
    assert world.one("leads", id=lead_id).status == LeadStatus.UNSOLD
    assert slots_used(world) == [1]  # given back: the other lead keeps its own
    assert [h["lead_id"] for h in run(world.holds.list())[0]] == [other]
    assert lead_id not in run(world.holds.export_csv(None, actor="ops"))[0]
    with pytest.raises(InvalidTransition, match="is failed, not held"):
        run(world.holds.release(held.id, actor="ops"))
    assert world.claim_and_route() == {}


def test_a_lead_erased_after_one_partner_took_it_stays_delivered_and_is_not_sent_to_the_other() -> None:
    doc = private_document()
    doc["profiles"]["solar-main"]["rules"][0]["send_to"] = {
        "partners": ["sunco", "brightpath"],
        "strategy": "broadcast",
    }
    world = Installation(doc)
    lead_id = world.accept(zelda(state="CA")).lead_id
    world.work(by_partner(sunco=http(200), brightpath=http(503)))
    dl = {d.partner: d for d in world.all("deliveries", lead_id=lead_id)}
    assert (dl["sunco"].status, dl["brightpath"].status) == (DeliveryStatus.DELIVERED, DeliveryStatus.RETRY)

    run(world.privacy.erase_lead(lead_id, actor="dpo"))
    world.clock.advance(minutes=5)
    assert world.claim_and_route() == {}

    dl = {d.partner: d for d in world.all("deliveries", lead_id=lead_id)}
    assert (dl["sunco"].status, dl["brightpath"].status) == (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)
    job = world.job_of(lead_id)
    assert (job.status, job.queue_state, job.error) == (JobStatus.DELIVERED, QueueState.DONE, None)
    assert world.one("leads", id=lead_id).status == LeadStatus.DELIVERED


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [(http(200, '{"status": "accepted"}'), "success"), (http(400, "zelda@example.com is ours"), "failure")],
    ids=["accepted", "refused"],
)
def test_a_post_in_flight_when_its_lead_is_erased_is_settled_once_by_the_erasure(
    answer: Any, outcome: str
) -> None:
    """The erasure takes the job from the worker posting it (as a claim takes a job whose lease ran out);
    the worker, back with the buyer's answer, no longer holds the job: it records the answer as an attempt
    without the person and settles nothing (no delivery over the erasure's, no cap slot given back twice)."""
    world = Installation(only_sunco())
    world.accept(lead(email="bob@example.com", phone="(512) 555-0000"))
    world.work(http(200))  # another lead holds a slot of sunco's cap
    lead_id = world.accept(zelda()).lead_id
    [(job_id, step)] = world.claim_and_route().items()
    [item] = step.sends
    assert world.job_of(lead_id).queue_state == QueueState.CLAIMED and slots_used(world) == [2]

    run(world.privacy.erase_lead(lead_id, actor="dpo"))  # while the post is in flight
    job = world.job_of(lead_id)
    assert (job.status, job.queue_state, job.lease_owner, job.lease_until) == (
        JobStatus.UNSOLD,
        QueueState.DONE,
        None,
        None,
    )

    after = world.finish(job_id, [(item, answer(item))])
    assert after.done and after.sends == [] and not after.reroute
    delivery = world.one("deliveries", lead_id=lead_id)
    assert (delivery.status, delivery.reason, delivery.price) == (
        DeliveryStatus.FAILED,
        # the buyer had it, and said yes: it was in flight, not "before it was sent" (black-box pass)
        "personal data erased while it was being sent (not billed, whatever the buyer answers)",
        None,
    )
    job = world.job_of(lead_id)
    assert (job.status, job.queue_state, job.error) == (JobStatus.UNSOLD, QueueState.DONE, ERASED_REASON)
    assert slots_used(world) == [1]  # given back once, by the erasure
    [attempt] = world.all("attempts", delivery_id=delivery.id)
    assert (attempt.outcome, attempt.request, attempt.response_body) == (outcome, {"erased": True}, None)
    assert not [value for value in PERSONAL if value in stored_text(world, lead_id)]
    world.clock.advance(hours=1)
    assert world.claim_and_route() == {}
