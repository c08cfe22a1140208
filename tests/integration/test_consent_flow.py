"""Consent scope (issue 10, point 9) end to end through the real HTTP API, on SQLite and PostgreSQL: a
lead's one-to-one consent (a JSON list, or ``|``-separated text in a form post) names the buyers that may
get it; an uncovered buyer is left out with ``not in the consent scope`` and never receives the post, a
covered one is posted; a profile that requires consent leaves a lead without it unsold (``no consent``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, source_headers

WAIT = "/v1/leads?wait=15"
FIELD = "consented_sellers"


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as b:
        yield b


def consent_config(buyers: BuyersThread, *, require: bool = False) -> dict[str, Any]:
    doc = base_config(
        buyers.url,
        sunco={"legal_name": "Sun Company, Inc.", "aliases": ["SunCo Solar"]},
        brightpath={"legal_name": "BrightPath Energy LLC"},
    )
    solar = doc["entities"]["solar"]
    solar["fields"][FIELD] = {"type": "string"}
    solar["consent"] = {"field": FIELD}
    doc["profiles"]["solar-main"]["require_consent"] = require
    return doc


def job_of(http: httpx.Client, lead_id: str) -> dict[str, Any]:
    r = http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN)
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    r = http.get(f"/v1/distributions/{item['id']}", headers=ADMIN)
    assert r.status_code == 200, r.text
    detail: dict[str, Any] = r.json()
    return detail


def test_an_uncovered_buyer_is_excluded_and_the_covered_one_is_posted(
    db_url: str, buyers: BuyersThread
) -> None:
    prepare(db_url, consent_config(buyers))
    with ServerThread(db_url) as server, server.client() as http:
        body = lead(state="CA", **{FIELD: ["BrightPath Energy, L.L.C.", "Another Seller"]})
        r = http.post(WAIT, json=body, headers=source_headers())
        assert r.status_code == 200, r.text
        answer = r.json()
        job = job_of(http, answer["lead_id"])

        form = {k: str(v) for k, v in lead(state="CA").items()} | {FIELD: "sunco solar | Another Seller"}
        r = http.post(WAIT, data=form, headers=source_headers())
        assert r.status_code == 200, r.text
        by_form = r.json()
    assert answer["status"] == "delivered" and answer["partner"] == "brightpath"
    assert "sunco: not in the consent scope" in job["trace"]
    assert "brightpath: chosen (priority)" in job["trace"]
    assert [d["partner"] for d in job["deliveries"]] == ["brightpath"]
    assert by_form["status"] == "delivered" and by_form["partner"] == "sunco"
    stats = buyers.stats()["buyers"]
    assert stats["sunco"]["accepted"] == 1 and stats["brightpath"]["accepted"] == 1  # sunco: the form's


def test_a_profile_that_requires_consent_leaves_a_lead_without_it_unsold(
    db_url: str, buyers: BuyersThread
) -> None:
    prepare(db_url, consent_config(buyers, require=True))
    with ServerThread(db_url) as server, server.client() as http:
        r = http.post(WAIT, json=lead(state="CA"), headers=source_headers())
        assert r.status_code == 200, r.text
        answer = r.json()
        job = job_of(http, answer["lead_id"])
    assert (answer["status"], answer.get("reason")) == ("unsold", "no consent")
    assert job["status"] == "unsold" and job["error"] == "no consent"
    assert "no consent (the profile requires consent and the lead has none)" in job["trace"]
    assert buyers.stats()["buyers"] == {}
