"""A cap added in the middle of its window counts what the window held before it (black-box pass,
2026-12-06: a cap of 3 an hour added after 3 sales let 3 more through), through the API on SQLite and
PostgreSQL: the seeded counter's SQL (``cap_store.seed_window``) counts the partner's deliveries that keep
a slot, of a profile's jobs for a profile's cap, and a source's valid leads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from leadrelay.adapters.db.tables import cap_counters
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, rows, source_headers

WAIT = "/v1/leads?wait=10"


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as b:
        yield b


def test_caps_added_mid_window_count_the_deliveries_and_leads_before_them(
    db_url: str, buyers: BuyersThread
) -> None:
    config = base_config(buyers.url)
    prepare(db_url, config)
    with ServerThread(db_url) as server, server.client() as http:
        for i in range(3):
            body = lead(phone=f"(512) 555-{4000 + i}", email=f"c{i}@example.com")
            answer = http.post(WAIT, json=body, headers=source_headers()).json()
            assert (answer["status"], answer.get("partner")) == ("delivered", "sunco"), answer
        sunco = http.get("/v1/partners/sunco", headers=ADMIN).json()
        put = http.put("/v1/partners/sunco", json={**sunco, "caps": {"hour": 3}}, headers=ADMIN)
        assert put.status_code == 200, put.text
        web = http.get("/v1/sources/web", headers=ADMIN).json()
        put = http.put("/v1/sources/web", json={**web, "caps": {"day": 100}}, headers=ADMIN)
        assert put.status_code == 200, put.text
        answer = http.post(WAIT, json=lead(phone="(512) 555-4010"), headers=source_headers()).json()
    assert (answer["status"], answer.get("partner")) == ("delivered", "brightpath"), answer
    counters = {(r.partner, r.window[:1]): r.used for r in rows(db_url, select(cap_counters))}
    assert counters[("sunco", "h")] == 3  # seeded at apply; the fourth lead found it full
    assert counters[("source:web", "d")] == 4  # 3 before the cap (seeded), then the fourth lead's slot


def test_a_sale_counted_at_apply_gives_its_slot_back_when_cancelled(
    db_url: str, buyers: BuyersThread
) -> None:
    """The deliveries the seed counts carry the window from then on (their ``cap_windows``): a cancel gives
    the slot back as it does for a sale made under the cap; a resend is not counted (it takes no slot)."""
    prepare(db_url, base_config(buyers.url))
    with ServerThread(db_url) as server, server.client() as http:
        jobs = []
        for i in range(2):
            body = lead(phone=f"(512) 555-{4100 + i}", email=f"k{i}@example.com")
            lead_id = http.post(WAIT, json=body, headers=source_headers()).json()["lead_id"]
            listed = http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN).json()
            jobs.append(listed["items"][0]["id"])
        resent = http.post(f"/v1/distributions/{jobs[0]}/resend", headers=ADMIN)
        assert resent.status_code == 200, resent.text
        sunco = http.get("/v1/partners/sunco", headers=ADMIN).json()
        capped = http.put("/v1/partners/sunco", json={**sunco, "caps": {"hour": 2}}, headers=ADMIN)
        assert capped.status_code == 200, capped.text
        cancel = http.post(f"/v1/distributions/{jobs[1]}/cancel", json={"reason": "test"}, headers=ADMIN)
        assert cancel.status_code == 200, cancel.text
        answer = http.post(WAIT, json=lead(phone="(512) 555-4199"), headers=source_headers()).json()
    assert (answer["status"], answer.get("partner")) == ("delivered", "sunco"), answer  # 1 of 2 held
    counters = {(r.partner, r.window[:1]): r.used for r in rows(db_url, select(cap_counters))}
    assert counters[("sunco", "h")] == 2  # the first sale (not its resend) and this one
