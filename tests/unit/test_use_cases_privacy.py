"""Erasure and retention (``services/privacy.py``) against the fakes: a person's values leave the lead, its
traces, attempts and deliveries, and its dedup marks; the business record stays."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from leadrelay.domain.states import DeliveryStatus, JobStatus, LeadStatus, QueueState
from leadrelay.errors import NotFound
from tests.documents import lead
from tests.fakes.schema import TABLES
from tests.unit.in_memory import Installation, by_partner, document, http, run

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
    assert world.one("leads", id=lead_id).data == {}
    assert world.claim_and_route() == {}


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


@pytest.mark.xfail(
    strict=True,
    reason="services/privacy.py erase_leads takes only batched deliveries out of the way: a delivery "
    "waiting for its retry (or held) stays, and the worker posts the blanked lead to the buyer",
)
def test_an_erased_lead_waiting_for_a_retry_is_not_posted_again() -> None:
    world = Installation(private_document())
    lead_id = world.accept(zelda()).lead_id
    world.work(http(503))  # a retry is due in 10 s
    assert world.one("deliveries", lead_id=lead_id).status == DeliveryStatus.RETRY
    run(world.privacy.erase_lead(lead_id, actor="dpo"))
    world.clock.advance(seconds=10)
    sends = [item for step in world.claim_and_route().values() for item in step.sends]
    assert sends == []
