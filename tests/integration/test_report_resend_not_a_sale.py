"""A resend of a standing sale is the same sale sent again (the ledger bills it once), so the reports and
the dashboard count it neither offered nor sold: one lead sold to sunco at 25.00 and resent is one sale of
25.00. A resend billed because the sale it repeats was cancelled is a sale, in the hour it is billed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.migrate import downgrade, upgrade
from leadrelay.adapters.db.money_tables import ledger_entries, report_days, report_hours
from leadrelay.adapters.db.tables import deliveries, jobs
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.services import reports
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, rows, source_headers, wait_for


@pytest.fixture
def server(db_url: str) -> Iterator[ServerThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as buyers:
        doc = base_config(buyers.url, sunco={"price_from_answer": False})  # its list price, 25
        doc["sources"]["web"]["payout"] = {"fixed": 4}
        prepare(db_url, doc)
        with ServerThread(db_url) as s:
            yield s


def _resend(http: Any, job: str, lead_id: str) -> None:
    r = http.post(f"/v1/distributions/{job}/resend", json={"reason": "buyer lost it"}, headers=ADMIN)
    assert r.status_code == 200, r.text

    def resent() -> Any:
        items = http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN).json()["items"]
        return len(items) == 2 and all(i["status"] == "delivered" for i in items)

    wait_for(resent)


@pytest.mark.sqlite_only  # what the API answers (the counting is the same SQL on both)
def test_a_resend_is_not_counted_as_a_second_sale(server: ServerThread, db_url: str) -> None:
    with server.client() as http:
        r = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
        assert r.status_code == 200 and r.json()["partner"] == "sunco", r.text
        lead_id = r.json()["lead_id"]
        job = http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN).json()["items"][0]["id"]
        _resend(http, job, lead_id)
        sales = [r for r in rows(db_url, select(ledger_entries)) if r.kind == "sale"]
        assert [str(s.amount) for s in sales] == ["25.00"]  # the ledger: one sale

        report = http.get("/v1/reports", params={"by": "partner"}, headers=ADMIN).json()["items"]
        sunco = next(i for i in report if i["partner"] == "sunco")
        assert (sunco["offered"], sunco["sold"], sunco["revenue"], sunco["average_price"]) == (
            1, 1, "25.00", "25.00"
        )  # fmt: skip

        board = http.get("/v1/dashboard", headers=ADMIN).json()
        web = next(s for s in board["sources"] if s["source"] == "web")
        assert (web["sold"], web["revenue"], web["payout"]) == (1, "25.00", "4.00")
        partner = next(p for p in board["partners"] if p["partner"] == "sunco")
        assert (partner["offered"], partner["sold"], partner["acceptance_rate"]) == (1, 1, "1.0000")


def test_a_resend_billed_after_its_sale_was_cancelled_is_a_sale(server: ServerThread, db_url: str) -> None:
    """Resent, then the first sale cancelled: the resend is billed (the sale that stands), so it is sold;
    the rollup says the same as the live report."""
    with server.client() as http:
        r = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
        assert r.status_code == 200 and r.json()["partner"] == "sunco", r.text
        lead_id = r.json()["lead_id"]
        job = http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN).json()["items"][0]["id"]
        _resend(http, job, lead_id)
        r = http.post(f"/v1/distributions/{job}/cancel", json={"reason": "wrong buyer"}, headers=ADMIN)
        assert r.status_code == 200, r.text
        sales = [r for r in rows(db_url, select(ledger_entries)) if r.kind == "sale"]
        assert [str(s.amount) for s in sales] == ["25.00", "25.00"]  # the first, cancelled; the resend

        def sunco() -> tuple[str | None, dict[str, Any]]:
            report = http.get("/v1/reports", params={"by": "partner"}, headers=ADMIN).json()
            return report["rolled_until"], next(i for i in report["items"] if i["partner"] == "sunco")

        watermark, live = sunco()
        assert watermark is None
        got = (live["offered"], live["sold"], live["cancelled"], live["revenue"], live["average_price"])
        assert got == (2, 2, 1, "25.00", "12.50")
        db = Database(db_url)
        try:
            reports.roll_up_now(SqlStorage(db), datetime.now(UTC) + timedelta(hours=2))
        finally:
            db.dispose()
        watermark, rolled = sunco()
        assert watermark is not None and datetime.fromisoformat(watermark) > datetime.now(UTC)
        assert rolled == live


def _rollups(db_url: str) -> list[list[tuple[Any, ...]]]:
    return [sorted(tuple(r) for r in rows(db_url, select(t))) for t in (report_hours, report_days)]


def test_the_migration_takes_the_resends_out_of_the_hours_already_rolled(
    server: ServerThread, db_url: str
) -> None:
    """A rollup made when a resend of a standing sale counted as offered and sold is corrected by the
    migration to what the rollup counts now (its hours and its days)."""
    with server.client() as http:
        r = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
        assert r.status_code == 200 and r.json()["partner"] == "sunco", r.text
        lead_id = r.json()["lead_id"]
        job = http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN).json()["items"][0]["id"]
        _resend(http, job, lead_id)
    db = Database(db_url)
    try:
        reports.roll_up_now(SqlStorage(db), datetime.now(UTC) + timedelta(days=2), max_hours=100)
        expected = _rollups(db_url)
        (resent,) = rows(db_url, select(deliveries).join(jobs, jobs.c.id == deliveries.c.job_id).where(
            jobs.c.kind == "resend"))  # fmt: skip

        def as_before(c: Any) -> None:  # what the earlier rule stored: the resend offered and sold
            for name, at in (("offered", resent.created_at), ("sold", resent.delivered_at)):
                for table, column, start in (
                    (report_hours, report_hours.c.hour, at.replace(minute=0, second=0, microsecond=0)),
                    (report_days, report_days.c.day, at.replace(hour=0, minute=0, second=0, microsecond=0)),
                ):
                    where = (column == start, table.c.partner == "sunco", table.c.profile == resent.profile)
                    assert (
                        c.execute(update(table).where(*where).values({name: table.c[name] + 1})).rowcount == 1
                    )

        db.transaction(as_before)
    finally:
        db.dispose()
    assert _rollups(db_url) != expected
    downgrade(db_url, "0030")
    upgrade(db_url)
    assert _rollups(db_url) == expected
