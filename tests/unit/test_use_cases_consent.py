"""Consent scope (issue 10, point 9) through intake, routing and delivery against the fakes: a lead whose
one-to-one consent names one buyer is posted to that buyer only, the uncovered buyer gets the trace line
``not in the consent scope``; a lead without consent routes as before, unless the profile requires it."""

from __future__ import annotations

from typing import Any

from leadrelay.domain.states import JobStatus, LeadStatus
from tests.documents import lead
from tests.unit.in_memory import Installation, document, http, run

FIELD = "consented_sellers"


def consent_document(*, require: bool = False) -> dict[str, Any]:
    doc = document(
        sunco={"legal_name": "Sun Company, Inc.", "aliases": ["SunCo Solar"]},
        brightpath={"legal_name": "BrightPath Energy LLC"},
    )
    solar = doc["entities"]["solar"]
    solar["fields"][FIELD] = {"type": "string"}
    solar["consent"] = {"field": FIELD}
    if require:
        doc["profiles"]["solar-main"]["require_consent"] = True
    return doc


def test_an_uncovered_buyer_is_left_out_and_the_covered_one_gets_the_post() -> None:
    world = Installation(consent_document())
    body = lead(state="CA", **{FIELD: ["Brightpath Energy, L.L.C.", "Another Seller"]})
    lead_id = world.accept(body).lead_id
    [(job_id, step)] = world.claim_and_route().items()

    [send] = step.sends
    assert send.partner == "brightpath"  # sunco comes first by priority, but the consent does not name it
    assert send.lead.values[FIELD] == '["Brightpath Energy, L.L.C.","Another Seller"]'
    job = world.job_of(lead_id)
    assert job.trace[:3] == [
        "rule west-coast matched",
        "sunco: not in the consent scope",
        "brightpath: chosen (priority)",
    ]
    world.deliver(step, job_id, http(200))
    assert world.one("deliveries", job_id=job_id).partner == "brightpath"
    assert world.job_of(lead_id).status == JobStatus.DELIVERED
    assert world.one("leads", id=lead_id).status == LeadStatus.DELIVERED


def test_a_form_post_names_sellers_in_delimited_text_matched_by_alias() -> None:
    world = Installation(consent_document())
    lead_id = world.accept(lead(state="CA", **{FIELD: "sunco solar | Other Seller"})).lead_id
    [step] = world.claim_and_route().values()
    assert [s.partner for s in step.sends] == ["sunco"]
    assert "sunco: chosen (priority)" in world.job_of(lead_id).trace


def test_a_consent_that_covers_no_buyer_leaves_the_lead_unsold() -> None:
    world = Installation(consent_document())
    lead_id = world.accept(lead(state="CA", **{FIELD: []})).lead_id
    [step] = world.claim_and_route().values()
    assert step.done and not step.sends
    job = world.job_of(lead_id)
    assert (job.status, job.error) == (JobStatus.UNSOLD, "no eligible partner")
    assert "sunco: not in the consent scope" in job.trace
    assert "brightpath: not in the consent scope" in job.trace
    assert world.all("deliveries") == []


def test_a_lead_without_consent_routes_as_before() -> None:
    world = Installation(consent_document())
    world.accept(lead(state="CA"))
    [step] = world.claim_and_route().values()
    assert [s.partner for s in step.sends] == ["sunco"]


def test_a_profile_that_requires_consent_leaves_a_lead_without_it_unsold_with_no_consent() -> None:
    world = Installation(consent_document(require=True))
    lead_id = world.accept(lead(state="CA")).lead_id
    [step] = world.claim_and_route().values()
    assert step.done and not step.sends
    job = world.job_of(lead_id)
    assert (job.status, job.error) == (JobStatus.UNSOLD, "no consent")
    assert job.trace[-1] == "no consent (the profile requires consent and the lead has none)"
    assert world.all("deliveries") == []
    outcome = run(world.intake.outcome(lead_id))
    assert (outcome.status, outcome.reason) == (LeadStatus.UNSOLD, "no consent")

    covered = world.accept(lead(state="CA", **{FIELD: "Sun Company"})).lead_id
    [step] = world.claim_and_route().values()
    assert [s.partner for s in step.sends] == ["sunco"]
    assert world.job_of(covered).status == JobStatus.DELIVERING
