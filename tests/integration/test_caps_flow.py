"""Caps of a partner within a profile, and several periods at once, through the real API on both
databases: the trace names the cap that was reached and where."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from leadrelay.adapters.db import config_store
from leadrelay.adapters.db.engine import Database
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, source_headers, wait_for

WAIT = "/v1/leads?wait=15"


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def trace_of(http: httpx.Client, lead_id: str) -> list[str]:
    items = http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN).json()["items"]
    detail: dict[str, Any] = http.get(f"/v1/distributions/{items[0]['id']}", headers=ADMIN).json()
    return list(detail["trace"])


def test_a_cap_within_the_profile_is_kept_apart_from_the_partners_own(
    db_url: str, buyers: BuyersThread
) -> None:
    config = base_config(buyers.url, sunco={"caps": {"day": 5}})
    config["profiles"]["solar-main"]["partner_caps"] = {"sunco": {"day": 1}}
    prepare(db_url, config)
    with ServerThread(db_url) as server, server.client() as http:
        first = http.post(WAIT, json=lead(), headers=source_headers()).json()
        second = http.post(WAIT, json=lead(first_name="Bea"), headers=source_headers()).json()
        trace = trace_of(http, second["lead_id"])
    assert first["partner"] == "sunco"
    assert second["partner"] == "brightpath"
    assert "sunco: cap day 1/1 reached in profile solar-main" in trace


def test_the_period_that_is_reached_is_named(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, base_config(buyers.url, sunco={"caps": {"hour": 50, "day": 20, "total": 2}}))
    with ServerThread(db_url) as server, server.client() as http:
        answers = [
            http.post(WAIT, json=lead(first_name=f"L{i}"), headers=source_headers()).json() for i in range(3)
        ]
        trace = trace_of(http, answers[2]["lead_id"])
    assert [a["partner"] for a in answers] == ["sunco", "sunco", "brightpath"]
    assert "sunco: cap total 2/2 reached" in trace  # no clock in this test: totals never roll over


def _poison_caps(url: str, partner: str, cap: int) -> None:
    """Write a partner's cap straight into the stored configuration, past `apply`'s range check (as an
    older version, or a hand-edited database, could have left it)."""
    db = Database(url)
    try:

        def write(conn: Any) -> None:
            doc = config_store.load_objects(conn)["partners"][partner]
            config_store.put_object(
                conn, "partners", partner, {**doc, "caps": {"day": cap}}, datetime.now(UTC)
            )
            config_store.bump_version(conn)

        db.transaction(write)
    finally:
        db.dispose()


def test_a_poisoned_job_does_not_hold_back_the_others_of_its_claim_batch(
    db_url: str, buyers: BuyersThread
) -> None:
    """sunco's cap does not fit the database's integer (PostgreSQL: "integer out of range"; SQLite: 2**63
    does not fit its 64-bit integer): routing a lead to sunco fails in storage. The leads of the same claim
    batch that go elsewhere are delivered, and the poisoned one ends failed with its reason."""
    prepare(db_url, base_config(buyers.url))
    _poison_caps(db_url, "sunco", 9_999_999_999 if db_url.startswith("postgresql") else 2**63)
    with ServerThread(db_url, workers=0) as intake, intake.client() as http:  # queue them: one batch
        poisoned = http.post("/v1/leads", json=lead(), headers=source_headers()).json()["lead_id"]
        others = [
            http.post("/v1/leads", json=lead(first_name=f"T{i}", state="TX"), headers=source_headers()).json()
            for i in range(6)
        ]
    assert all(o["status"] == "queued" for o in others)
    with ServerThread(db_url) as server, server.client() as http:

        def status(lead_id: str) -> str:
            return str(http.get(f"/v1/leads/{lead_id}", headers=source_headers()).json()["status"])

        wait_for(lambda: all(status(o["lead_id"]) == "delivered" for o in others), timeout=20)

        def job_status(lead_id: str) -> str | None:
            items = http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN).json()["items"]
            return str(items[0]["status"]) if items else None

        wait_for(lambda: job_status(poisoned) == "failed", timeout=10)
        trace = trace_of(http, poisoned)
    assert any("internal error while routing" in line for line in trace), trace
    if db_url.startswith("postgresql"):
        assert any("integer out of range" in line for line in trace), trace
