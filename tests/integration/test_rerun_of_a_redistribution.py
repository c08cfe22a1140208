"""A rerun of a redistribution (after a cancel) keeps the partner that cancelled out of it (PRODUCT.md
§4: "to the next eligible partner (not the one cancelled)"): the rerun retries the partners the job
itself failed with, never one that had the lead. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from leadrelay.adapters.db.tables import jobs
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, rows, source_headers, wait_for


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def test_rerun_of_a_redistribution_does_not_go_back_to_the_cancelled_partner(
    db_url: str, buyers: BuyersThread
) -> None:
    doc = base_config(buyers.url)
    doc["profiles"]["solar-main"]["auto_redistribute"] = True
    prepare(db_url, doc)
    with ServerThread(db_url) as server, server.client() as http:
        # a Californian with a $50 bill: brightpath's filter (bill >= 100) leaves sunco alone
        answer = http.post("/v1/leads?wait=10", json=lead(monthly_bill=50), headers=source_headers()).json()
        assert answer["status"] == "delivered" and answer["partner"] == "sunco", answer
        (first,) = rows(db_url, select(jobs.c.id))
        r = http.post(f"/v1/distributions/{first.id}/cancel", json={"reason": "bad lead"}, headers=ADMIN)
        assert r.status_code == 200, r.text
        again = r.json()["redistributed_as"]

        def closed(job_id: str) -> dict[str, object] | None:
            d = http.get(f"/v1/distributions/{job_id}", headers=ADMIN).json()
            return d if d["status"] in ("delivered", "unsold", "failed") else None

        first_run = wait_for(lambda: closed(again), timeout=20)
        assert first_run["status"] == "unsold"  # not sunco (cancelled), brightpath's filter fails
        assert buyers.stats()["buyers"]["sunco"]["received"] == 1

        rerun = http.post(f"/v1/distributions/{again}/rerun", json={}, headers=ADMIN)
        assert rerun.status_code == 200, rerun.text
        wait_for(lambda: rows(db_url, select(jobs.c.queue_state).where(jobs.c.id == again))[0][0] == "done")
        second = http.get(f"/v1/distributions/{again}", headers=ADMIN).json()

        assert buyers.stats()["buyers"]["sunco"]["received"] == 1
        assert second["status"] == "unsold"
