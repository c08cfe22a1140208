"""Which invoice bills a sale depends neither on the order drafts are made in nor on the order invoices are
issued in: a draft holds no entries (only an issued invoice does), and while this week has a draft, next
week's invoice leaves this week's sale to it. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
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


def _sell(http: httpx.Client) -> None:
    r = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
    assert r.status_code == 200 and r.json()["partner"] == "sunco", r.text


def _draft(http: httpx.Client, day: str) -> dict[str, Any]:
    r = http.post("/v1/invoices", json={"partner": "sunco", "period": day}, headers=ADMIN)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _issue(http: httpx.Client, invoice: dict[str, Any]) -> dict[str, Any]:
    r = http.post(f"/v1/invoices/{invoice['id']}/issue", headers=ADMIN)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_later_periods_draft_does_not_take_this_periods_sale(server: ServerThread) -> None:
    today, next_week = datetime.now(LA).date(), datetime.now(LA).date() + timedelta(days=7)
    with server.client() as http:
        _sell(http)
        _draft(http, next_week.isoformat())  # a preview, drafted first
        issued = _issue(http, _draft(http, today.isoformat()))
        assert (issued["status"], issued["total"], len(issued["lines"])) == ("issued", "25.00", 1)
        later = _draft(http, next_week.isoformat())  # regenerated
    assert (later["total"], later["lines"]) == ("0.00", [])


def test_issuing_a_later_period_first_does_not_take_an_earlier_drafts_sale(server: ServerThread) -> None:
    today, next_week = datetime.now(LA).date(), datetime.now(LA).date() + timedelta(days=7)
    with server.client() as http:
        _sell(http)
        this_week = _draft(http, today.isoformat())
        assert this_week["total"] == "25.00", this_week
        later_issued = _issue(http, _draft(http, next_week.isoformat()))  # the later period issued first
        this_issued = _issue(http, this_week)
    assert (this_issued["total"], later_issued["total"]) == ("25.00", "0.00")
