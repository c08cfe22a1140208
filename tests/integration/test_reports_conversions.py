"""Conversions in the reports, on SQLite and PostgreSQL: the buyers post postbacks through their deliveries'
signed URLs on a real server (GET, JSON and form), and ``GET /v1/reports`` (JSON and CSV) counts them per
partner and per source in the hour received, checked against the stored postbacks; the same report from
rolled hours plus live ones, and from rolled hours alone, says the same."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import insert, select, update

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.money_tables import postbacks
from leadrelay.adapters.db.tables import deliveries, leads
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.domain.reports import floor_hour, ratio
from leadrelay.services import reports
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_reports import report, traffic
from tests.support import ADMIN, ServerThread, base_config, prepare, rows, run_async

D = Decimal
NAMES = ("contacted", "converted", "rejected_by_buyer", "conversion_revenue")


@pytest.fixture
def server(db_url: str) -> Iterator[ServerThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as buyers:
        doc = base_config(
            buyers.url, sunco={"price_from_answer": False}, brightpath={"price": 15}, voltedge={"price": 10}
        )
        doc["entities"]["solar"]["dedup"] = {"keys": [["phone"]], "window": "1d"}
        doc["sources"]["ads"] = {"entities": ["solar"], "payout": {"fixed": 4}}
        prepare(db_url, doc)
        with ServerThread(db_url) as s:
            yield s


def _q(url: str, params: dict[str, str]) -> str:
    return url + "&" + urlencode(params)  # the URL carries its ?sig=


def _sold(url: str) -> dict[tuple[str, str], list[str]]:
    """The delivered deliveries' ids by (source, partner), oldest first."""
    q = (
        select(deliveries.c.id, deliveries.c.partner, leads.c.source)
        .join(leads, leads.c.id == deliveries.c.lead_id)
        .where(deliveries.c.status == "delivered")
        .order_by(deliveries.c.created_at, deliveries.c.id)
    )
    out: dict[tuple[str, str], list[str]] = {}
    for r in rows(url, q):
        out.setdefault((r.source, "sunco" if r.partner == "sunco" else "tx"), []).append(r.id)
    return out


def _from_postbacks(url: str, dim: str) -> dict[str, dict[str, Any]]:
    """Per partner or source, what the report should say, from the stored postbacks."""
    q = select(
        postbacks.c.outcome, postbacks.c.revenue_cents, deliveries.c.partner, leads.c.source
    ).select_from(
        postbacks.join(deliveries, deliveries.c.id == postbacks.c.delivery_id).join(
            leads, leads.c.id == deliveries.c.lead_id
        )
    )
    counts: Counter[tuple[str, str]] = Counter()
    revenue: dict[str, Decimal] = {}
    for r in rows(url, q):
        key = r.partner if dim == "partner" else r.source
        counts[key, r.outcome] += 1
        revenue[key] = revenue.get(key, D("0.00")) + D(r.revenue_cents or 0) / 100
    return {
        key: {
            "contacted": counts[key, "contacted"],
            "converted": counts[key, "converted"],
            "rejected_by_buyer": counts[key, "rejected"],
            "conversion_revenue": str(total.quantize(D("0.01"))),
        }
        for key, total in revenue.items()
    }


def _conv(contacted: int, converted: int, rejected: int, revenue: str) -> dict[str, Any]:
    return dict(zip(NAMES, (contacted, converted, rejected, revenue), strict=True))


def _totals(items: list[dict[str, Any]], dim: str) -> dict[str, dict[str, Any]]:
    """The lines' conversions summed per partner or source (a test may straddle an hour)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        into = out.setdefault(item[dim], dict.fromkeys(NAMES, 0) | {"conversion_revenue": D("0.00")})
        for name in NAMES:
            into[name] += D(item[name]) if name == "conversion_revenue" else item[name]
    return {
        k: v | {"conversion_revenue": str(v["conversion_revenue"])}
        for k, v in out.items()
        if any(v[n] for n in NAMES)
    }


def test_postbacks_through_the_signed_urls_are_counted_rolled_or_live(
    server: ServerThread, db_url: str
) -> None:
    now = datetime.now(UTC)
    earlier = floor_hour(now) - timedelta(hours=3)
    with server.client() as http:
        traffic(http, db_url)
        sold = _sold(db_url)
        web, ads, tx = sold["web", "sunco"][0], sold["ads", "sunco"], sold["web", "tx"][0]
        links = server.app.state.runtime.postback_links
        url = {d: run_async(links.url_for(d)) for d in (web, *ads, tx)}

        def ok(r: httpx.Response) -> None:
            assert r.status_code == 200, r.text

        ok(http.get(_q(url[web], {"outcome": "contacted"})))
        ok(http.post(url[web], json={"outcome": "converted", "revenue": "125.5", "event_id": "ev-1"}))
        ok(http.post(url[ads[0]], data={"outcome": "rejected"}))
        ok(http.get(_q(url[ads[1]], {"outcome": "converted", "revenue": "40"})))
        ok(http.get(_q(url[tx], {"outcome": "contacted"})))
        ok(
            http.get(_q(url[tx], {"outcome": "returned", "revenue": "0.01"}))
        )  # no counter, but its revenue counts
        refused = http.get(_q(url[web], {"outcome": "converted", "revenue": "9"}))  # a replay: 409
        assert refused.status_code == 409, refused.text

        # ads[1]'s conversion came two hours ago: the rollup of the closed hours holds it, the rest is live
        db = Database(db_url)
        try:
            db.transaction(  # the installation had traffic before: a lead three hours ago (rejected)
                lambda c: c.execute(
                    insert(leads).values(
                        id="lead_old", entity="solar", source="ads", status="rejected", data={}, raw={},
                        created_at=earlier, updated_at=earlier,
                    )
                )
            )  # fmt: skip
            db.transaction(
                lambda c: c.execute(
                    update(postbacks)
                    .where(postbacks.c.delivery_id == ads[1])
                    .values(received_at=floor_hour(now) - timedelta(hours=2))
                )
            )
            by_partner = report(http, by="partner", grain="hour", since=earlier.isoformat())
            by_source = report(http, by="source", grain="hour", since=earlier.isoformat())
            as_csv = http.get(
                "/v1/reports",
                params={
                    "by": "source,partner",
                    "grain": "hour",
                    "since": earlier.isoformat(),
                    "format": "csv",
                },
                headers=ADMIN,
            )
            tx_partner = next(
                i["partner"] for i in by_partner["items"] if i["contacted"] and i["partner"] != "sunco"
            )
            assert _totals(by_partner["items"], "partner") == {
                "sunco": _conv(1, 2, 1, "165.50"),
                tx_partner: _conv(1, 0, 0, "0.01"),
            }
            assert _totals(by_source["items"], "source") == {
                "web": _conv(2, 1, 0, "125.51"),
                "ads": _conv(0, 1, 1, "40.00"),
            }
            for dim, body in (("partner", by_partner), ("source", by_source)):
                assert _totals(body["items"], dim) == _from_postbacks(db_url, dim), dim
                for item in body["items"]:
                    rate = ratio(item["converted"], item["sold"])
                    assert item["conversion_rate"] == (None if rate is None else str(rate))
            old = [
                i
                for i in by_partner["items"]
                if i["start"] == (floor_hour(now) - timedelta(hours=2)).isoformat()
            ]
            assert [(i["partner"], i["converted"], i["sold"], i["conversion_rate"]) for i in old] == [
                ("sunco", 1, 0, None)  # converted in an hour without a sale: no rate
            ]

            assert as_csv.status_code == 200, as_csv.text
            table = list(csv.DictReader(io.StringIO(as_csv.text)))
            assert set(NAMES) | {"conversion_rate"} <= set(table[0])
            assert sum(D(r["conversion_revenue"]) for r in table) == D("165.51")
            assert sum(int(r["converted"]) for r in table if r["source"] == "ads") == 1

            storage = SqlStorage(db)
            rolled = run_async(reports.roll_up(storage, now))
            assert rolled == floor_hour(now - reports.SETTLE)
            mixed = report(http, by="partner", grain="hour", since=earlier.isoformat())
            assert mixed["rolled_until"] == rolled.isoformat()
            assert mixed["items"] == by_partner["items"]  # rolled hours + live ones = every hour live

            later = now + timedelta(hours=2)  # every hour closed: the current one from the rollup too
            reports.roll_up_now(storage, later)
            query = reports.report_query(
                by="partner", grain="hour", since=earlier.isoformat(), until=None, tz=None, now=now
            )
            rolled_only = storage.read(lambda t: reports.report_tx(t, query, later))
            assert rolled_only.rolled_until is not None and rolled_only.rolled_until > now
            assert rolled_only.records() == by_partner["items"]
        finally:
            db.dispose()
