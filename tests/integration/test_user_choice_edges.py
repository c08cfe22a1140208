"""User choice and consent at their edges, on SQLite and PostgreSQL with real buyers on loopback: a
selected offer's delivery records where its price came from; a refused selection in a rule of one offer
ends with the documented reason; least_loaded counts the leads an uncapped partner got by a selection;
a consent to another seller named "Sun" does not cover "Sun Company, Inc."."""

from __future__ import annotations

from typing import Any

import httpx

from leadrelay.simulate.buyers import BuyersThread
from tests.documents import lead
from tests.integration.test_routing_flow import buyers as buyers
from tests.integration.test_routing_flow import job_of, serve
from tests.integration.test_routing_flow import refusing as refusing
from tests.integration.test_user_choice import by_partner, choice_config, offered, select
from tests.support import ADMIN, source_headers, wait_for


def test_a_user_choice_sale_records_the_price_basis_it_was_priced_from(
    db_url: str, buyers: BuyersThread
) -> None:
    """The delivery records where its price came from: brightpath's offer was at its list price, and no
    bid was made."""
    with serve(db_url, choice_config(buyers)) as server, server.client() as http:
        answer = offered(http, state="CA", monthly_bill=180)
        chosen = select(http, by_partner(answer)["BrightPath Energy"]["id"])
        assert chosen.status_code == 200, chosen.text
        job = job_of(http, answer["lead_id"])
    [delivery] = job["deliveries"]
    assert (delivery["partner"], delivery["status"], delivery["price"]) == ("brightpath", "delivered", 30.0)
    assert delivery["price_basis"] == "list", delivery


def test_a_refused_selection_in_a_one_offer_rule_tells_the_documented_reason(
    db_url: str, refusing: BuyersThread
) -> None:
    """A selected partner that refuses the post does not bring the offers back: the lead is unsold with
    the documented reason, also when the rule had that one offer only (its reroute has no candidate left)."""
    doc = choice_config(refusing)
    doc["profiles"]["solar-main"]["rules"][0]["send_to"]["partners"] = ["voltedge"]
    with serve(db_url, doc) as server, server.client() as http:
        answer = offered(http, state="CA", monthly_bill=180)
        chosen = select(http, by_partner(answer)["voltedge"]["id"])
        assert chosen.status_code == 200, chosen.text
        final = http.get(f"/v1/leads/{answer['lead_id']}", headers=source_headers()).json()
        job = job_of(http, answer["lead_id"])
    assert job["status"] == "unsold", job
    assert job["error"] == "the selected offer's partner did not take the lead", job["error"]
    assert final["reason"] == "the selected offer's partner did not take the lead", final


FIELD = "consented_sellers"


def test_a_consent_to_another_seller_named_sun_does_not_cover_sun_company_inc(
    db_url: str, buyers: BuyersThread
) -> None:
    """'Sun Company, Inc.' is 'suncompany' ("Company" is part of the name): a consumer who consented to
    'Sun LLC', another seller, is not sold to sunco (legal name 'Sun Company, Inc.')."""
    from leadrelay.domain.consent import seller_key

    doc = choice_config(buyers)  # any config: priority rule below
    doc["partners"]["sunco"].update({"legal_name": "Sun Company, Inc."})
    doc["profiles"]["solar-main"]["rules"][0]["send_to"] = {
        "partners": ["sunco", "voltedge"],
        "strategy": "priority",
    }
    solar = doc["entities"]["solar"]
    solar["fields"][FIELD] = {"type": "string"}
    solar["consent"] = {"field": FIELD}
    with serve(db_url, doc) as server, server.client() as http:
        r = http.post(
            "/v1/leads?wait=15",
            json=lead(state="CA", **{FIELD: ["Sun LLC", "voltedge"]}),
            headers=source_headers(),
        )
        assert r.status_code == 200, r.text
        job = job_of(http, r.json()["lead_id"])
    assert [d["partner"] for d in job["deliveries"]] == ["voltedge"], job["trace"]
    assert "sunco: not in the consent scope" in job["trace"], job["trace"]
    assert seller_key("Sun Company, Inc.") == "suncompany"  # the README's own example


def test_least_loaded_counts_the_leads_an_uncapped_partner_got_through_a_user_choice(
    db_url: str, buyers: BuyersThread
) -> None:
    """Between uncapped partners least_loaded gives the lead to the one with fewer leads today; the leads
    sold by a selection (POST /v1/offers/{id}/select) count too."""
    doc = choice_config(buyers)
    doc["profiles"]["solar-main"]["rules"][0]["send_to"] = {
        "partners": ["sunco", "voltedge"],
        "strategy": "user_choice",
    }
    doc["profiles"]["solar-main"]["default"] = {"partners": ["sunco", "voltedge"], "strategy": "least_loaded"}
    with serve(db_url, doc) as server, server.client() as http:
        for _ in range(2):
            answer = offered(http, state="CA", monthly_bill=180)
            chosen = select(http, by_partner(answer)["SunCo Solar"]["id"])
            assert chosen.status_code == 200 and chosen.json()["status"] == "delivered", chosen.text
        r = http.post("/v1/leads?wait=15", json=lead(state="TX"), headers=source_headers())
        assert r.status_code == 200, r.text
        job = job_of(http, r.json()["lead_id"])
    loads = [line for line in job["trace"] if line.startswith("loads:")]
    assert [d["partner"] for d in job["deliveries"]] == ["voltedge"], loads


def test_a_rerun_of_a_user_choice_job_offers_the_partners_afresh(db_url: str, refusing: BuyersThread) -> None:
    """A lead whose selected partner refused it is unsold; a rerun makes new offers (the old ones stay in
    the distribution's history, marked superseded), which the source reads and the consumer may select."""
    with serve(db_url, choice_config(refusing)) as server, server.client() as http:
        answer = offered(http, state="CA", monthly_bill=180)
        first = by_partner(answer)
        assert select(http, first["voltedge"]["id"]).status_code == 200
        job = job_of(http, answer["lead_id"])
        assert job["status"] == "unsold", job
        r = http.post(f"/v1/distributions/{job['id']}/rerun", json={"reason": "try again"}, headers=ADMIN)
        assert r.status_code == 200, r.text
        lead_id = answer["lead_id"]
        again = wait_for(lambda: _offers(http, lead_id), timeout=10)
        assert {o["partner"] for o in again} == {"SunCo Solar", "BrightPath Energy", "voltedge"}, again
        assert {o["id"] for o in again}.isdisjoint(o["id"] for o in answer["offers"]), again
        stale = select(http, first["SunCo Solar"]["id"])  # an offer of the first round: expired by the rerun
        assert stale.status_code == 410, stale.text
        history = job_of(http, lead_id)["offers"]
    assert len(history) == 6, history
    old = [o for o in history if o["superseded"]]
    assert sorted((o["partner"], o["status"]) for o in old) == [
        ("brightpath", "expired"),
        ("sunco", "expired"),
        ("voltedge", "selected"),
    ], old
    assert all(o["status"] == "open" for o in history if not o["superseded"]), history


def _offers(http: httpx.Client, lead_id: str) -> list[dict[str, Any]] | None:
    got = http.get(f"/v1/leads/{lead_id}", headers=source_headers()).json()
    offers: list[dict[str, Any]] = got.get("offers") or []
    return offers or None
