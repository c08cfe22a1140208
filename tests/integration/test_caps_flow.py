"""Caps of a partner within a profile, and several periods at once, through the real API on both
databases: the trace names the cap that was reached and where."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, source_headers

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
