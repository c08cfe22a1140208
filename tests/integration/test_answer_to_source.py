"""The answer to the source (issue 10, point 7), through the real HTTP API on SQLite and PostgreSQL: sold or
unsold without the buyer's name or price unless the source may see them (``show_buyer``), a redirect URL
when the buyer's answer carries one (``redirect_url_path``), and never later than the source's deadline
plus 10 ms whatever the buyer does — the sale that completes later is read with ``GET /v1/leads/{id}``."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_routing_flow import ScriptedBuyer, serve
from tests.support import base_config, lead, source_headers


def _hidden(doc: dict[str, Any]) -> dict[str, Any]:
    doc["sources"]["web"]["show_buyer"] = False
    return doc


def test_a_source_is_told_sold_or_unsold_but_not_who_bought_unless_it_may_see_it(db_url: str) -> None:
    with BuyersThread() as buyers:
        doc = _hidden(base_config(buyers.url, voltedge={"paused": True}))  # a $50 bill in TX: nobody
        with serve(db_url, doc) as server, server.client() as http:
            sold = http.post("/v1/leads?wait=10", json=lead(state="CA"), headers=source_headers()).json()
            later = http.get(f"/v1/leads/{sold['lead_id']}", headers=source_headers()).json()
            unsold = http.post(
                "/v1/leads?wait=10", json=lead(state="TX", monthly_bill=50), headers=source_headers()
            )
        shown = base_config(buyers.url)
        with serve(db_url, shown) as server, server.client() as http:
            named = http.post("/v1/leads?wait=10", json=lead(state="CA"), headers=source_headers()).json()
    assert sold["status"] == "delivered"
    assert "partner" not in sold and "price" not in sold
    assert later["status"] == "delivered" and "partner" not in later and "price" not in later
    assert unsold.json()["status"] == "unsold" and "partner" not in unsold.json()
    assert (named["partner"], named["price"]) == ("sunco", 10.0)  # show_buyer: true (the price it answered)


class _Redirecting(ScriptedBuyer):
    """A buyer whose acceptance names where to send the consumer next."""

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.calls += 1
        body = {"result": "ok", "next": {"url": f"https://buyer.example/welcome/{self.calls}"}, "id": "r-1"}
        return web.json_response(body)


def test_a_redirect_url_in_the_buyers_answer_reaches_the_source(db_url: str) -> None:
    with _Redirecting([(200, {})]) as buyer:
        doc = _hidden(base_config(buyer.url))
        doc["partners"]["sunco"]["channel"]["webhook"]["response"] = {
            "outcome_search_term": "ok",
            "outcome_search_path": "result",
            "redirect_url_path": "next.url",
        }
        with serve(db_url, doc) as server, server.client() as http:
            answer = http.post("/v1/leads?wait=10", json=lead(state="CA"), headers=source_headers()).json()
            again = http.get(f"/v1/leads/{answer['lead_id']}", headers=source_headers()).json()
    assert answer["status"] == "delivered"
    assert answer["redirect_url"] == "https://buyer.example/welcome/1"
    assert again["redirect_url"] == answer["redirect_url"]
    assert "partner" not in answer


def test_the_answer_comes_by_the_deadline_whatever_the_buyer_does(db_url: str) -> None:
    """The buyer takes 0.8 s; the source waits 0.3 s: it is answered ``queued`` at 0.3 s (plus the HTTP
    round trip here), and reads the sale once it completes."""
    with BuyersThread(latency_ms=800) as buyers:
        doc = base_config(buyers.url)
        with serve(db_url, doc) as server, server.client() as http:
            http.post(
                "/v1/leads?wait=5", json=lead(state="CA", email="warm@example.com"), headers=source_headers()
            )
            started = time.monotonic()
            r = http.post("/v1/leads?wait=0.3", json=lead(state="CA"), headers=source_headers())
            took = time.monotonic() - started
            lead_id = r.json()["lead_id"]
            deadline = time.monotonic() + 10
            outcome = http.get(f"/v1/leads/{lead_id}", headers=source_headers()).json()
            while outcome["status"] == "queued" and time.monotonic() < deadline:
                time.sleep(0.05)
                outcome = http.get(f"/v1/leads/{lead_id}", headers=source_headers()).json()
    assert r.status_code == 202 and r.json()["status"] == "queued"
    assert 0.3 <= took < 0.6, took  # the buyer's 0.8 s never held the answer up
    assert outcome["status"] == "delivered" and outcome["partner"] == "sunco"
