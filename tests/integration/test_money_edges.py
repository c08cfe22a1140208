"""The money stays exact at its edges, through the real server with simulated buyers on loopback: two
resends then the original sale cancelled bill the lead once; a share payout rounds from the exact share;
on PostgreSQL, concurrent pays of one invoice post one payment, a pay and a void take turns, a fixed
per-lead payout is paid once when two workers record two sales of the lead at once, and goes with the last
sale when both are cancelled at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from leadrelay.adapters.db.money_tables import ledger_entries
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_invoices import buyers as buyers
from tests.integration.test_invoices import start as start
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, rows, source_headers

D = Decimal


def sold_and_drafted(http: httpx.Client, year: int, month: int) -> dict[str, Any]:
    """A lead sold to sunco, and sunco's invoice drafted for a month of a later year (the sale is on it)."""
    sell(http)
    period = {"period": f"{year}-{month:02d}", "partner": "sunco"}
    return ok(http.post("/v1/invoices", json=period, headers=ADMIN))


def ok(r: httpx.Response) -> Any:
    assert r.status_code in (200, 201), r.text
    return r.json()


def sell(http: httpx.Client) -> dict[str, Any]:
    r = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
    body: dict[str, Any] = ok(r)
    assert body["status"] == "delivered" and body["partner"] == "sunco", body
    items = ok(http.get("/v1/distributions", params={"lead": body["lead_id"]}, headers=ADMIN))["items"]
    body["job"] = items[0]["id"]
    return body


def wait_delivered(http: httpx.Client, job_id: str) -> None:
    for _ in range(200):  # bounded: about 10 s
        job = ok(http.get(f"/v1/distributions/{job_id}", headers=ADMIN))
        if job["status"] == "delivered":
            return
        time.sleep(0.05)
    raise AssertionError(f"{job_id} not delivered: {job['status']}")


def balances(http: httpx.Client, kind: str = "partner") -> dict[str, str]:
    return ok(http.get("/v1/balances", params={"party_kind": kind}, headers=ADMIN))["balances"]


def test_two_resends_then_the_original_cancelled_bill_the_lead_once(
    start: Callable[..., ServerThread], db_url: str
) -> None:
    """A delivered sale resent twice to the same buyer (each resend not billed: the sale stands), then the
    original cancelled: one resend takes over as the sale that stands; the buyer is billed once, 25.00,
    and the source paid its share once."""
    server = start(db_url, sources={"web": {"payout": {"share": "40%"}}})
    with server.client() as http:
        sold = sell(http)
        resends = []
        for _ in range(2):
            new = ok(http.post(f"/v1/distributions/{sold['job']}/resend", headers=ADMIN))["job_ids"]
            resends.extend(new)
            wait_delivered(http, new[0])
        assert balances(http) == {"sunco": "25.00"}  # the resends are not billed while the sale stands
        ok(http.post(f"/v1/distributions/{sold['job']}/cancel", json={"reason": "dup"}, headers=ADMIN))
        entries = ok(http.get("/v1/ledger", params={"lead": sold["lead_id"]}, headers=ADMIN))["items"]
        assert balances(http) == {"sunco": "25.00"}, [
            (e["kind"], e["amount"], e["delivery_id"]) for e in entries
        ]
        assert balances(http, "source") == {"web": "-10.00"}


def test_an_invoice_paid_twice_at_the_same_time_posts_one_payment(
    start: Callable[..., ServerThread], pg_url: str
) -> None:
    """Two operators press Pay on the same issued invoice at once: one wins, the other is 409 (cannot pay
    a paid invoice), and the ledger holds one payment entry for the total."""
    server = start(pg_url)
    year = datetime.now(UTC).year
    doubled = []
    with server.client() as http:
        for month in range(1, 13):  # one invoice per month of a later year, each with one sale
            d = sold_and_drafted(http, year + 1, month)
            assert D(d["total"]) > 0
            ok(http.post(f"/v1/invoices/{d['id']}/issue", headers=ADMIN))

            def pay(_: int, invoice_id: str = d["id"]) -> httpx.Response:
                with server.client() as own:
                    return own.post(f"/v1/invoices/{invoice_id}/pay", headers=ADMIN)

            with ThreadPoolExecutor(max_workers=4) as pool:
                answers = list(pool.map(pay, range(4)))
            number = ok(http.get(f"/v1/invoices/{d['id']}", headers=ADMIN))["number"]
            payments = rows(
                pg_url,
                select(ledger_entries).where(
                    ledger_entries.c.kind == "payment", ledger_entries.c.memo == f"invoice {number}"
                ),
            )
            codes = sorted(r.status_code for r in answers)
            if len(payments) != 1 or codes != [200, 409, 409, 409]:
                doubled.append((d["id"], codes, [(p.id, p.amount) for p in payments]))
    assert doubled == []


def test_a_share_payout_is_rounded_half_up_from_the_exact_share(
    start: Callable[..., ServerThread], db_url: str
) -> None:
    """A share of 10.1% of a 25.00 sale is 2.525, 2.53 rounded half up (the ledger's rule); the share
    must not go through a float (0.10099999999999999) on its way to the Decimal."""
    server = start(db_url, sources={"web": {"payout": {"share": "10.1%"}}})
    with server.client() as http:
        sold = sell(http)
        assert sold["payout"] == "2.53", sold
        entries = ok(http.get("/v1/ledger", params={"lead": sold["lead_id"]}, headers=ADMIN))["items"]
        assert [(e["kind"], e["amount"], e["margin"]) for e in entries] == [
            ("sale", "25.00", "22.47"),
            ("payout", "-2.53", None),
        ]


def two_profiles(buyers: BuyersThread) -> dict[str, Any]:
    """Every lead sold twice, one sale per profile (sunco, voltedge); the source paid 4.00 per lead."""
    config = base_config(buyers.url)
    config["sources"]["web"]["payout"] = {"fixed": 4}
    config["profiles"]["solar-two"] = {
        "entity": "solar",
        "rules": [],
        "default": {"partners": ["voltedge"], "strategy": "priority"},
    }
    config["partners"]["voltedge"]["price"] = 10
    return config


def test_a_fixed_payout_is_paid_once_per_lead_sold_by_two_profiles_at_once(pg_url: str) -> None:
    """A lead of an entity with two enabled profiles is sold twice (one sale per profile, to two buyers);
    the source's fixed payout is per lead: paid once, even when the two sales are recorded at the same
    time by two workers (PostgreSQL)."""
    with BuyersThread(count=0, latency_ms=30, accept_rate=1.0) as buyers:
        prepare(pg_url, two_profiles(buyers))
        with ServerThread(pg_url, workers=4) as server, server.client() as http:
            leads = []
            N = 60
            for i in range(N):
                body = lead(phone=f"(512) 555-{1000 + i:04d}", email=f"p{i}@example.com")
                r = http.post("/v1/leads?wait=5", json=body, headers=source_headers())
                assert r.status_code in (200, 202), r.text
                leads.append(r.json()["lead_id"])
            for _ in range(600):  # bounded: about 60 s
                payouts = rows(pg_url, select(ledger_entries).where(ledger_entries.c.kind == "sale"))
                if len(payouts) >= 2 * N:
                    break
                time.sleep(0.1)
            sales = rows(pg_url, select(ledger_entries).where(ledger_entries.c.kind == "sale"))
            assert len(sales) == 2 * N, len(sales)
            payouts = rows(pg_url, select(ledger_entries).where(ledger_entries.c.kind == "payout"))
            per_lead: dict[str, int] = {}
            for p in payouts:
                per_lead[p.lead_id] = per_lead.get(p.lead_id, 0) + 1
            twice = {k: n for k, n in per_lead.items() if n != 1}
            assert twice == {} and len(per_lead) == N, (
                len(twice),
                [(p.lead_id, p.delivery_id, p.amount, p.at) for p in payouts if p.lead_id in twice],
            )
            assert balances(http, "source") == {"web": f"-{4 * N}.00"}


@pytest.mark.parametrize("WORKERS", [1, 2])
def test_a_fixed_payout_goes_with_the_last_sale_when_both_are_cancelled_at_once(
    pg_url: str, WORKERS: int
) -> None:
    """A lead sold by two profiles carries one fixed payout; both sales cancelled at the same time (two
    operators, PostgreSQL): the payout goes with the last sale undone, so the source is owed nothing."""
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as buyers:
        prepare(pg_url, two_profiles(buyers))
        with ServerThread(pg_url, workers=1) as server, server.client() as http:
            N = 20
            jobs: list[list[str]] = []
            for i in range(N):
                body = lead(phone=f"(512) 555-{1000 + i:04d}", email=f"p{i}@example.com")
                lead_id = ok(http.post("/v1/leads?wait=5", json=body, headers=source_headers()))["lead_id"]
                for _ in range(100):  # bounded: about 5 s
                    items = ok(http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN))[
                        "items"
                    ]
                    if len(items) == 2 and all(j["status"] == "delivered" for j in items):
                        break
                    time.sleep(0.05)
                jobs.append([j["id"] for j in items])
            assert balances(http, "source") == {"web": f"-{4 * N}.00"}

            def cancel(job_id: str) -> int:
                with server.client() as own:
                    return own.post(f"/v1/distributions/{job_id}/cancel", headers=ADMIN).status_code

            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                for pair in jobs:
                    assert list(pool.map(cancel, pair)) == [200, 200]
            assert balances(http) == {"sunco": "0.00", "voltedge": "0.00"}
            assert balances(http, "source") == {"web": "0.00"}


def test_pay_and_void_of_one_invoice_at_the_same_time_leave_it_consistent(
    start: Callable[..., ServerThread], pg_url: str
) -> None:
    """Pay and void pressed at once on an issued invoice: one wins, the other is 409. Never a voided
    invoice with a payment posted for it, nor a paid one whose entries were released."""
    server = start(pg_url)
    year = datetime.now(UTC).year
    bad = []
    with server.client() as http:
        for month in range(1, 7):
            d = sold_and_drafted(http, year + 1, month)
            issued = ok(http.post(f"/v1/invoices/{d['id']}/issue", headers=ADMIN))

            def act(action: str, invoice_id: str = d["id"]) -> int:
                with server.client() as own:
                    return own.post(f"/v1/invoices/{invoice_id}/{action}", headers=ADMIN).status_code

            with ThreadPoolExecutor(max_workers=2) as pool:
                codes = list(pool.map(act, ["pay", "void"]))
            final = ok(http.get(f"/v1/invoices/{d['id']}", headers=ADMIN))
            payments = rows(
                pg_url,
                select(ledger_entries).where(
                    ledger_entries.c.kind == "payment", ledger_entries.c.memo == f"invoice {issued['number']}"
                ),
            )
            if sorted(codes) != [200, 409] or (final["status"] == "void") != (len(payments) == 0):
                bad.append((codes, final["status"], len(payments)))
    assert bad == []
