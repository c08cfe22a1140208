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
