"""A sale of the period cancelled (or returned) after the period ended but before its invoice is issued is
not billed on that invoice, and the next invoice carries no credit for it (README, *Invoices*: a sale and
its cancellation or return both not yet invoiced are left out together). SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import deliveries
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.domain.ledger import Party
from leadrelay.services.act import Actions
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.invoicing import Billing
from leadrelay.services.notify import Notifier
from leadrelay.services.returns import ReturnRequest, Returns
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, rows, run_async, source_headers

LA = ZoneInfo("America/Los_Angeles")
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@pytest.fixture
def sold(db_url: str) -> Iterator[tuple[str, datetime]]:
    """A lead sold to sunco (list price 25) now, through a real server and buyer; sunco is invoiced weekly,
    its weeks starting tomorrow (its clock), so today's week ends at the coming midnight in Los Angeles.
    Yields the job and the end of that week (UTC)."""
    today = datetime.now(LA).date()
    starts = WEEKDAYS[(today.weekday() + 1) % 7]
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as buyers:
        config = base_config(buyers.url)
        config["partners"]["sunco"].update(
            {
                "price_from_answer": False,
                "invoicing": {"period": "weekly", "week_starts": starts},
                "returns": {"window": "7d", "reasons": ["bad_phone"], "auto_approve": ["bad_phone"]},
            }
        )
        prepare(db_url, config)
        with ServerThread(db_url) as server, server.client() as http:
            r = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
            assert r.status_code == 200 and r.json()["partner"] == "sunco", r.text
            job = http.get("/v1/distributions", params={"lead": r.json()["lead_id"]}, headers=ADMIN).json()
    week_end = datetime.combine(today + timedelta(days=1), datetime.min.time(), LA).astimezone(UTC)
    yield job["items"][0]["id"], week_end


def test_a_sale_cancelled_after_its_period_ended_is_not_billed_on_that_periods_invoice(
    sold: tuple[str, datetime], db_url: str
) -> None:
    job, week_end = sold
    now = [week_end + timedelta(minutes=30)]
    db = Database(db_url)
    try:
        storage, configs = SqlStorage(db), ConfigCache()
        billing = Billing(storage, configs, clock=lambda: now[0])
        actions = Actions(storage, configs, Notifier(), clock=lambda: now[0])
        period = (week_end - timedelta(hours=1)).astimezone(LA).date().isoformat()  # the week just ended

        draft = run_async(billing.draft(Party.PARTNER, "sunco", period, actor="admin:test"))
        assert draft.total == Decimal("25.00")  # drafted as the week ended: its sale

        now[0] = week_end + timedelta(hours=1)  # the buyer asks to cancel; allowed (not invoiced yet)
        run_async(actions.cancel(job, actor="admin:test", reason="bad phone"))

        now[0] = week_end + timedelta(hours=2)
        issued = run_async(billing.issue(draft.id, actor="admin:test"))
        billed = [(x.kind.value, str(x.amount)) for x in issued.lines]
        invoiced = rows(db_url, select(deliveries.c.status, deliveries.c.invoiced))
        # the invoice of the week leaves the cancelled sale out; the cancelled delivery is not invoiced
        assert (billed, issued.total) == ([], Decimal("0.00"))
        assert [(r.status, r.invoiced) for r in invoiced] == [("cancelled", False)]

        nxt = run_async(billing.draft(Party.PARTNER, "sunco", week_end.astimezone(LA).date().isoformat(),
                                      actor="admin:test"))  # fmt: skip
        assert [(x.kind.value, str(x.amount)) for x in nxt.lines] == []  # nothing left to credit
    finally:
        db.dispose()


def test_a_sale_returned_after_its_period_ended_is_not_billed_on_that_periods_invoice(
    sold: tuple[str, datetime], db_url: str
) -> None:
    _, week_end = sold
    now = [week_end + timedelta(minutes=30)]
    db = Database(db_url)
    try:
        storage, configs = SqlStorage(db), ConfigCache()
        billing = Billing(storage, configs, clock=lambda: now[0])
        returns = Returns(storage, configs, Notifier(), clock=lambda: now[0])
        period = (week_end - timedelta(hours=1)).astimezone(LA).date().isoformat()
        draft = run_async(billing.draft(Party.PARTNER, "sunco", period, actor="admin:test"))
        assert draft.total == Decimal("25.00")

        now[0] = week_end + timedelta(hours=1)  # the buyer returns the lead (auto-approved)
        [delivery] = rows(db_url, select(deliveries.c.id))
        req = ReturnRequest(partner="sunco", reason="bad_phone", delivery_id=delivery.id)
        assert run_async(returns.request(req, actor="partner:sunco")).status == "approved"

        now[0] = week_end + timedelta(hours=2)
        issued = run_async(billing.issue(draft.id, actor="admin:test"))
        # the sale, returned before its invoice was issued, is not billed on it
        assert ([(x.kind.value, str(x.amount)) for x in issued.lines], issued.total) == ([], Decimal("0.00"))
    finally:
        db.dispose()
