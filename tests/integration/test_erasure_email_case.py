"""Erasure finds every lead dedup calls the same person: emails compare in any letter case, non-ASCII
letters included (SQLite's own lower() folds ASCII letters only), on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from leadrelay.adapters.db.tables import leads
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_privacy_flow import buyers, post  # noqa: F401
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, rows


def test_erasure_finds_every_lead_dedup_calls_the_same_person(
    db_url: str,
    buyers: BuyersThread,  # noqa: F811
) -> None:
    doc = base_config(buyers.url)
    doc["entities"]["solar"]["dedup"] = {"keys": ["email"], "window": "30d"}
    prepare(db_url, doc)
    with ServerThread(db_url, workers=0) as server:
        first = post(server, lead(email="JÜRGEN@example.de", phone="(512) 555-1000"), wait=0)
        again = post(server, lead(email="jürgen@example.de", phone="(512) 555-2000"), wait=0)
        with server.client() as http:
            r = http.post("/v1/erasures", json={"email": "jürgen@example.de"}, headers=ADMIN)
    assert again["status"] == "duplicate"  # dedup: one person
    assert r.status_code == 200, r.text
    assert sorted(r.json()["leads"]) == sorted([first["lead_id"], again["lead_id"]])
    left = [row.data for row in rows(db_url, select(leads)) if row.erased_at is None]
    assert left == [], left
