"""Nothing more is sent of an erased lead: a resend or a rerun of its distribution is refused (409 naming
the erasure), and a cancel with automatic redistribution adds no job; the buyer's server receives nothing
after the erasure. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from leadrelay.adapters.db.tables import jobs
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, rows, source_headers, wait_for


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def only_sunco(buyers: BuyersThread) -> dict[str, Any]:
    doc: dict[str, Any] = base_config(buyers.url)
    doc["partners"] = {"sunco": {"channel": {"webhook": {"url": buyers.url("sunco")}}}}
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partner": "sunco"}
    return doc


def received(buyers: BuyersThread) -> int:
    return int(buyers.stats()["buyers"].get("sunco", {}).get("received", 0))


def all_done(url: str) -> bool:
    return all(j.queue_state == "done" for j in rows(url, select(jobs)))


def test_resend_of_an_erased_lead_posts_nothing(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, only_sunco(buyers))
    with ServerThread(db_url) as server, server.client() as http:
        answer = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers()).json()
        assert answer["status"] == "delivered", answer
        job_id = rows(db_url, select(jobs.c.id))[0].id
        assert http.delete(f"/v1/leads/{answer['lead_id']}", headers=ADMIN).status_code == 200
        assert received(buyers) == 1
        offered = http.get(f"/v1/distributions/{job_id}", headers=ADMIN).json()["actions"]["resend"]
        r = http.post(f"/v1/distributions/{job_id}/resend", json={"reason": "lost"}, headers=ADMIN)
        wait_for(lambda: all_done(db_url), timeout=20)
        found = [(j.kind, j.status) for j in rows(db_url, select(jobs))]
        bodies = [x["body"] for x in buyers.leads("sunco")]

        assert received(buyers) == 1, bodies[1:]  # nothing posted with the person's data gone
        assert ("resend", "delivered") not in found
        assert r.status_code == 409, r.text
        assert "erased" in r.json()["detail"]
        # and the detail did not offer it (it said allowed, and the console showed the button)
        assert (offered["allowed"], offered["reason"]) == (False, r.json()["detail"]), offered


def test_rerun_of_an_erased_lead_posts_nothing(db_url: str) -> None:
    """The buyer refuses the first post (the job ends unsold), the lead is erased, then it is rerun."""
    with BuyersThread(count=1, latency_ms=0, accept_rate=0.0) as refusing:
        prepare(db_url, only_sunco(refusing))
        with ServerThread(db_url) as server, server.client() as http:
            answer = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers()).json()
            assert answer["status"] == "unsold", answer
            job_id = rows(db_url, select(jobs.c.id))[0].id
            assert http.delete(f"/v1/leads/{answer['lead_id']}", headers=ADMIN).status_code == 200
            assert received(refusing) == 1
            offered = http.get(f"/v1/distributions/{job_id}", headers=ADMIN).json()["actions"]["rerun"]
            r = http.post(f"/v1/distributions/{job_id}/rerun", json={}, headers=ADMIN)
            wait_for(lambda: all_done(db_url), timeout=20)
            bodies = [x.get("body") for x in refusing.requests("sunco")]

            assert received(refusing) == 1, bodies[1:]
            assert r.status_code == 409 and "erased" in r.json()["detail"], r.text
            assert offered["allowed"] is False and "erased" in offered["reason"], offered


def test_cancel_with_redistribution_of_an_erased_lead_posts_nothing(
    db_url: str, buyers: BuyersThread
) -> None:
    """With ``auto_redistribute``, the cancel of an erased lead's sale adds no job: the blanked lead would
    fall to the default rule and post ``{}`` to the next buyer."""
    doc: dict[str, Any] = base_config(buyers.url)
    doc["profiles"]["solar-main"]["auto_redistribute"] = True
    prepare(db_url, doc)
    with ServerThread(db_url) as server, server.client() as http:
        answer = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers()).json()
        assert answer["status"] == "delivered" and answer["partner"] == "sunco", answer
        (job,) = rows(db_url, select(jobs.c.id))
        assert http.delete(f"/v1/leads/{answer['lead_id']}", headers=ADMIN).status_code == 200
        r = http.post(f"/v1/distributions/{job.id}/cancel", json={"reason": "erased"}, headers=ADMIN)
        assert r.status_code == 200, r.text
        wait_for(lambda: all_done(db_url), timeout=20)
        others = {n: s.get("received", 0) for n, s in buyers.stats()["buyers"].items() if n != "sunco"}
        got = {n: [x["body"] for x in buyers.leads(n)] for n, count in others.items() if count}
        assert sum(others.values()) == 0, got
