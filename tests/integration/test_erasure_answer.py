"""Erasure takes the buyer's redirect URL (which may name the person) out of the lead's stored first
answer too, the one a repeat of a keyed request replays, on SQLite and PostgreSQL."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from leadrelay.adapters.db.tables import deliveries, leads
from tests.integration.test_routing_flow import ScriptedBuyer, serve
from tests.support import ADMIN, base_config, everything_stored, lead, rows, source_headers

EMAIL = "ada.erasable@example.com"


class _Redirecting(ScriptedBuyer):
    """A buyer whose acceptance sends the consumer to a URL naming the person (common in practice)."""

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.calls += 1
        body = {"result": "ok", "next": {"url": f"https://buyer.example/welcome?email={EMAIL}"}}
        return web.json_response(body)


def test_an_erased_leads_stored_answer_keeps_no_redirect_url(db_url: str) -> None:
    with _Redirecting([(200, {})]) as buyer:
        doc = base_config(buyer.url)
        doc["partners"]["sunco"]["channel"]["webhook"]["response"] = {
            "outcome_search_term": "ok",
            "outcome_search_path": "result",
            "redirect_url_path": "next.url",
        }
        headers = {**source_headers(), "Idempotency-Key": "form-123"}
        with serve(db_url, doc) as server, server.client() as http:
            body = lead(state="CA", email=EMAIL)
            first = http.post("/v1/leads?wait=10", json=body, headers=headers).json()
            assert first["status"] == "delivered" and EMAIL in first["redirect_url"]
            erased = http.delete(f"/v1/leads/{first['lead_id']}", headers=ADMIN)
            assert erased.status_code == 200, erased.text
            repeat = http.post("/v1/leads?wait=10", json=body, headers=headers).json()
    delivery = rows(db_url, select(deliveries).where(deliveries.c.lead_id == first["lead_id"]))[0]
    assert delivery.redirect_url is None
    row = rows(db_url, select(leads).where(leads.c.id == first["lead_id"]))[0]
    assert row.data == {} and row.erased_at is not None
    assert EMAIL not in str(row.answer), row.answer
    assert EMAIL not in str(repeat), repeat
    assert EMAIL.encode() not in everything_stored(db_url)
