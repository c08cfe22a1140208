"""Which invoice bills a sale does not depend on the order invoices are issued in: with this week's draft
made, issuing next week's first leaves this week's sale to this week's invoice (25.00), and next week's
bills nothing. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, source_headers

LA = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def server(db_url: str) -> Iterator[ServerThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as buyers:
        config = base_config(buyers.url)
        config["partners"]["sunco"].update(
            {"price_from_answer": False, "invoicing": {"period": "weekly", "week_starts": "monday"}}
        )
        prepare(db_url, config)
        with ServerThread(db_url) as s:
            yield s


def test_issuing_a_later_period_first_does_not_take_an_earlier_drafts_sale(server: ServerThread) -> None:
    today = datetime.now(LA).date()
    with server.client() as http:
        r = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
        assert r.status_code == 200 and r.json()["partner"] == "sunco", r.text

        def draft(day: str) -> dict[str, Any]:
            r = http.post("/v1/invoices", json={"partner": "sunco", "period": day}, headers=ADMIN)
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body

        def issue(invoice: dict[str, Any]) -> dict[str, Any]:
            r = http.post(f"/v1/invoices/{invoice['id']}/issue", headers=ADMIN)
            body: dict[str, Any] = r.json()
            return body

        this_week = draft(today.isoformat())
        assert this_week["total"] == "25.00", this_week
        later = draft((today + timedelta(days=7)).isoformat())
        later_issued = issue(later)  # the later period issued first
        this_issued = issue(this_week)
    assert (this_issued.get("total"), later_issued.get("total")) == ("25.00", "0.00"), (
        this_issued.get("total"),
        later_issued.get("total"),
    )
