"""Actions on one sale sent at the same moment (a black-box pass of 2026-12-06 on PostgreSQL): a cancel and
a return of the same sale, an invoice's issue and the cancels of the sales it bills, returns naming a
resent lead's copies in either order. One of each conflicting pair wins, the other is refused, nothing is
billed or sold twice, and no request fails on a deadlock. SQLite (one writer: always in order) and
PostgreSQL (where the requests' transactions overlap)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest

from leadrelay.domain.ledger import EntryKind, Party
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_actions import wait_final
from tests.integration.test_invoices import TODAY_LA, draft
from tests.integration.test_invoices import sell as sell_to_sunco
from tests.integration.test_returns import Start, buyers, entries, key_of, other_buyer, ret, sell, start
from tests.support import ADMIN, ServerThread, base_config, prepare

__all__ = ["buyers", "other_buyer", "start"]  # the returns' fixtures, used here as they are


@pytest.fixture
def invoicing(db_url: str, buyers: BuyersThread) -> Iterator[ServerThread]:
    """sunco sold at its list price (25.00), the source paid 4.00 a lead: as the invoices' tests."""
    config = base_config(buyers.url)
    config["sources"]["web"]["payout"] = {"fixed": 4}
    config["partners"]["sunco"]["price_from_answer"] = False
    prepare(db_url, config)
    with ServerThread(db_url) as server:
        yield server


def at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """The calls sent together, each on a thread (and so a connection) of its own."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_a_cancel_and_a_return_of_one_sale_at_once_one_wins_and_the_lead_is_sold_once_more(
    start: Start, db_url: str
) -> None:
    server, http = start(auto_redistribute=True)
    sales = [sell(http) for _ in range(4)]  # to sunco; brightpath is next for each
    sunco = key_of(http, "sunco")
    statuses: list[tuple[int, ...]] = []
    for sold in sales:

        def cancel(job: str = sold["job"]) -> httpx.Response:
            with server.client() as own:
                return own.post(f"/v1/distributions/{job}/cancel", json={"reason": "race"}, headers=ADMIN)

        def give_back(delivery: str = sold["delivery"]) -> httpx.Response:
            with server.client() as own:
                return ret(own, sunco, delivery_id=delivery, reason="bad_phone")  # auto-approved

        answers = at_once([cancel, give_back, cancel, give_back])
        assert all(a.status_code in (200, 201, 409) for a in answers), [a.text for a in answers]
        statuses.append(tuple(sorted(a.status_code for a in answers)))
    for sold in sales:  # the redistribution (after the cancel or the return) sells it to brightpath, once
        jobs = http.get("/v1/distributions", params={"lead": sold["lead_id"]}, headers=ADMIN).json()["items"]
        again = [j for j in jobs if j["id"] != sold["job"]]
        assert len(again) == 1, again
        wait_final(http, again[0]["id"])
        sales_of = Counter(e.party for e in entries(db_url, sold["lead_id"]) if e.kind is EntryKind.SALE)
        assert sales_of == {"sunco": 1, "brightpath": 1}, sales_of
        undone = [e.kind for e in entries(db_url, sold["lead_id"]) if e.party == "sunco" and e.amount < 0]
        assert len(undone) == 1, undone  # one cancellation or one return, not both
    # one winner per sale: a cancel's 200 or a return's 201, and 409s for the other three
    assert all(s.count(409) == 3 for s in statuses), statuses


def test_an_invoice_issued_while_its_sales_are_cancelled_bills_only_what_stays_sold(
    invoicing: ServerThread, db_url: str
) -> None:
    server = invoicing
    with server.client() as http:
        sales = [sell_to_sunco(http) for _ in range(8)]  # 25.00 each
        invoice = draft(http)
        assert Decimal(invoice["total"]) == 200, invoice

        def issue() -> httpx.Response:
            with server.client() as own:
                return own.post(f"/v1/invoices/{invoice['id']}/issue", headers=ADMIN)

        def cancel(job: str) -> Callable[[], httpx.Response]:
            def call() -> httpx.Response:
                with server.client() as own:
                    return own.post(f"/v1/distributions/{job}/cancel", json={"reason": "race"}, headers=ADMIN)

            return call

        answers = at_once(
            [*(cancel(s["job"]) for s in sales[:4]), issue, *(cancel(s["job"]) for s in sales[4:])]
        )
        issued = next(a for a in answers if "/issue" in str(a.request.url))
        assert issued.status_code == 200, issued.text
        cancelled = [a for a in answers if "/cancel" in str(a.request.url) and a.status_code == 200]
        refused = [a for a in answers if "/cancel" in str(a.request.url) and a.status_code == 409]
        assert len(cancelled) + len(refused) == 8, [a.text for a in answers]
        assert all("invoiced" in a.json()["detail"] for a in refused), [a.text for a in refused]
        # the issued invoice bills every sale less those cancelled before it: a cancelled sale's
        # cancellation is on it too, never left for the next period
        total = Decimal(issued.json()["total"])
        assert total == 25 * (8 - len(cancelled)), (total, len(cancelled))
        later = http.post("/v1/invoices", json={"period": TODAY_LA, "partner": "sunco"}, headers=ADMIN)
        assert later.status_code in (200, 409), later.text
        if later.status_code == 200:
            assert Decimal(later.json()["total"]) == 0, later.json()


def test_returns_naming_a_resent_lead_by_either_copy_at_once_one_wins_without_deadlock(
    start: Start, db_url: str
) -> None:
    server, http = start()
    sunco = key_of(http, "sunco")
    for _ in range(3):
        sold = sell(http)
        again = http.post(f"/v1/distributions/{sold['job']}/resend", headers=ADMIN)
        assert again.status_code == 200, again.text
        done = wait_final(http, again.json()["job_ids"][0])
        [copy] = [d for d in done["deliveries"] if d["status"] == "delivered"]

        def by(**named: str) -> Callable[[], httpx.Response]:
            def call() -> httpx.Response:
                with server.client() as own:
                    return ret(own, sunco, reason="bad_phone", **named)

            return call

        ways: list[dict[str, Any]] = [
            {"lead_id": sold["lead_id"]},
            {"delivery_id": sold["delivery"]},
            {"delivery_id": copy["id"]},
        ]
        answers = at_once([by(**w) for w in ways * 2])
        codes = sorted(a.status_code for a in answers)
        assert codes == [201, 409, 409, 409, 409, 409], [a.text for a in answers]
        returned = [e for e in entries(db_url, sold["lead_id"]) if e.kind is EntryKind.RETURN]
        assert [e.party_kind for e in returned] == [Party.PARTNER, Party.SOURCE], returned  # the sale, once
