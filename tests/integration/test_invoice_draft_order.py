"""A draft of a later period (an operator previewing the week under way) takes nothing from an earlier
period's invoice: a draft holds no entries, only an issued invoice does. SQLite and PostgreSQL."""

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


def test_a_later_periods_draft_does_not_take_this_periods_sale(server: ServerThread) -> None:
    today = datetime.now(LA).date()
    with server.client() as http:
        r = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
        assert r.status_code == 200 and r.json()["partner"] == "sunco", r.text

        def draft(day: str) -> dict[str, Any]:
            r = http.post("/v1/invoices", json={"partner": "sunco", "period": day}, headers=ADMIN)
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body

        later = draft((today + timedelta(days=7)).isoformat())  # next week's, drafted first (a preview)
        this_week = draft(today.isoformat())
        issued = http.post(f"/v1/invoices/{this_week['id']}/issue", headers=ADMIN).json()
        # this week's sale is billed on this week's invoice, not on next week's
        assert (issued["status"], issued["total"], len(issued["lines"])) == ("issued", "25.00", 1)
        later = draft((today + timedelta(days=7)).isoformat())  # regenerated
        assert (later["total"], later["lines"]) == ("0.00", [])
