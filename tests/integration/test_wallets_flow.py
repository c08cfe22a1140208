"""Wallets and budgets through the real API and worker, on SQLite and PostgreSQL, with real buyers on
loopback: a top-up through the API, sales until the funds run out, then the partner is skipped with the
reason in the trace and the lead goes to the next partner; a failed delivery gives its hold back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.money_tables import ledger_entries, money_holds, wallets
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.services import configure
from leadrelay.simulate.buyers import BuyersThread
from tests.support import (
    ADMIN,
    ServerThread,
    base_config,
    free_port,
    lead,
    prepare,
    reader,
    run_cli,
    source_headers,
)

WAIT = "/v1/leads?wait=15"
# sunco sells at its list price, 25, here (the simulated buyers answer with a price of their own)


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def nth(i: int) -> dict[str, Any]:
    return lead(first_name=f"Ada{i}", email=f"ada{i}@example.com", phone=f"(512) 555-{1000 + i:04d}")


def trace_of(http: httpx.Client, lead_id: str) -> list[str]:
    items = http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN).json()["items"]
    detail: dict[str, Any] = http.get(f"/v1/distributions/{items[0]['id']}", headers=ADMIN).json()
    return list(detail["trace"])


def stored(url: str, partner: str) -> tuple[Decimal, int, int, int]:
    """The partner's ledger sum, its wallet row's owed and held (cents), and the holds left."""

    def read(conn: Any) -> tuple[Decimal, int, int, int]:
        total = conn.execute(
            select(func.sum(ledger_entries.c.amount).label("s")).where(ledger_entries.c.party == partner)
        ).scalar_one()
        row = conn.execute(select(wallets).where(wallets.c.partner == partner)).one()
        holds = conn.execute(select(func.count()).select_from(money_holds)).scalar_one()
        return total, int(row.owed), int(row.held), int(holds)

    return reader(url).read(read)


def test_a_wallet_is_spent_then_the_partner_is_skipped_for_the_next(
    db_url: str, buyers: BuyersThread
) -> None:
    prepare(
        db_url, base_config(buyers.url, sunco={"wallet": {"low_balance": 30}, "price_from_answer": False})
    )
    with ServerThread(db_url) as server, server.client() as http:
        top = http.post(
            "/v1/partners/sunco/wallet/topup", json={"amount": 60, "memo": "wire 7"}, headers=ADMIN
        )
        assert top.status_code == 200, top.text
        assert top.json()["wallet"]["balance"] == "60.00"
        answers = [http.post(WAIT, json=nth(i), headers=source_headers()).json() for i in range(3)]
        trace = trace_of(http, answers[2]["lead_id"])
        wallet = http.get("/v1/partners/sunco/wallet", headers=ADMIN).json()
        listed = http.get("/v1/wallets", headers=ADMIN).json()["items"]
    assert [a["partner"] for a in answers] == ["sunco", "sunco", "brightpath"]
    assert "sunco: no funds (balance 10.00, needs 25.00)" in trace
    assert wallet == {
        "partner": "sunco",
        "balance": "10.00",
        "held": "0.00",
        "available": "10.00",
        "credit_limit": "0.00",
        "low_balance": "30.00",
        "low": True,
    }
    assert listed == [wallet]
    total, owed, held, holds = stored(db_url, "sunco")
    assert (total, owed, held, holds) == (Decimal("-10.00"), -1000, 0, 0)  # the ledger and the row agree


def test_a_failed_delivery_gives_its_hold_back(db_url: str, buyers: BuyersThread) -> None:
    dead = f"http://127.0.0.1:{free_port()}/leads"  # nobody listens: the post fails
    sunco = {"wallet": {}, "channel": {"webhook": {"url": dead, "timeout": "2s", "max_attempts": 1}}}
    prepare(db_url, base_config(buyers.url, sunco=sunco))
    with ServerThread(db_url) as server, server.client() as http:
        assert (
            http.post("/v1/partners/sunco/wallet/topup", json={"amount": 25}, headers=ADMIN).status_code
            == 200
        )
        answer = http.post(WAIT, json=nth(1), headers=source_headers()).json()
        wallet = http.get("/v1/partners/sunco/wallet", headers=ADMIN).json()
    assert answer["partner"] == "brightpath"  # sunco failed; the lead went on
    assert (wallet["balance"], wallet["held"], wallet["available"]) == ("25.00", "0.00", "25.00")
    assert stored(db_url, "sunco") == (Decimal("-25.00"), -2500, 0, 0)


def test_a_hold_taken_before_the_wallet_was_switched_off_is_settled_by_the_sale(db_url: str) -> None:
    sunco = {"wallet": {"credit_limit": 100}, "price_from_answer": False}
    with BuyersThread(count=3, latency_ms=1500, accept_rate=1.0) as slow:  # the post is out 1.5 s
        doc = base_config(slow.url, sunco=sunco)
        prepare(db_url, doc)
        with ServerThread(db_url) as server, server.client() as http:
            lead_id = http.post("/v1/leads", json=nth(1), headers=source_headers()).json()["lead_id"]
            for _ in range(100):  # bounded: until the post is out (25.00 held), at most 5 s
                if stored(db_url, "sunco")[2] == 2500:
                    break
                time.sleep(0.05)
            assert stored(db_url, "sunco")[2:] == (2500, 1)
            del doc["partners"]["sunco"]["wallet"]  # switched off while the post is out
            db = Database(db_url)
            try:
                configure.apply_document_sync(SqlStorage(db), doc, actor="test")
            finally:
                db.dispose()
            for _ in range(200):  # bounded: until the sale is recorded, at most 10 s
                answer = http.get(f"/v1/leads/{lead_id}", headers=source_headers()).json()
                if answer["status"] != "queued":
                    break
                time.sleep(0.05)
    assert answer["status"] == "delivered", answer
    # sold at 25.00: owed, and nothing held any more (the wallet, switched on again, has its full credit)
    assert stored(db_url, "sunco") == (Decimal("25.00"), 2500, 0, 0)


def test_a_budget_skips_the_partner_with_the_reason(db_url: str, buyers: BuyersThread) -> None:
    prepare(
        db_url,
        base_config(buyers.url, sunco={"budget": {"day": 60, "month": 1000}, "price_from_answer": False}),
    )
    with ServerThread(db_url) as server, server.client() as http:
        answers = [http.post(WAIT, json=nth(i), headers=source_headers()).json() for i in range(3)]
        trace = trace_of(http, answers[2]["lead_id"])
    assert [a["partner"] for a in answers] == ["sunco", "sunco", "brightpath"]
    assert "sunco: budget reached (day 60.00)" in trace


def test_the_wallet_api_refuses_bad_requests(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, base_config(buyers.url, sunco={"wallet": {"credit_limit": 100}}))
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        topup = "/v1/partners/sunco/wallet/topup"
        no_token = http.post(topup, json={"amount": 5})
        negative = http.post(topup, json={"amount": -5}, headers=ADMIN)
        fraction = http.post(topup, json={"amount": "1.001"}, headers=ADMIN)
        unknown = http.post("/v1/partners/nobody/wallet/topup", json={"amount": 5}, headers=ADMIN)
        no_wallet = http.get("/v1/partners/brightpath/wallet", headers=ADMIN)
        fresh = http.get("/v1/partners/sunco/wallet", headers=ADMIN).json()
    assert no_token.status_code == 401
    assert negative.status_code == 422 and "amount" in negative.text
    assert fraction.status_code == 422
    assert unknown.status_code == 404
    assert no_wallet.status_code == 404 and "has no wallet" in no_wallet.json()["detail"]
    assert (fresh["balance"], fresh["available"]) == ("0.00", "100.00")


def test_an_auction_winner_holds_its_bid_and_is_skipped_without_the_funds(db_url: str) -> None:
    """sunco bids 20 and brightpath 5; sunco's wallet of 30 pays for one win: the next lead's award
    skips it for its funds and sells to brightpath at its bid."""
    from leadrelay.simulate.bidding import BiddingOptions, Latency

    bids = {
        "sunco": BiddingOptions(Latency("fixed", 5), bid_min=20, bid_max=20),
        "brightpath": BiddingOptions(Latency("fixed", 5), bid_min=5, bid_max=5),
    }
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0, bidders=bids) as buyers:
        doc = base_config(buyers.url, sunco={"wallet": {}})
        for name in ("sunco", "brightpath"):
            doc["partners"][name]["ping"] = {"url": buyers.ping_url(name), "timeout": "2s"}
        rule = doc["profiles"]["solar-main"]["rules"][0]["send_to"]
        rule.update(strategy="auction", deadline="3s")
        prepare(db_url, doc)
        with ServerThread(db_url) as server, server.client() as http:
            http.post("/v1/partners/sunco/wallet/topup", json={"amount": 30}, headers=ADMIN)
            answers = [http.post(WAIT, json=nth(i), headers=source_headers()).json() for i in range(2)]
            trace = trace_of(http, answers[1]["lead_id"])
    assert [a["partner"] for a in answers] == ["sunco", "brightpath"]
    assert "sunco: no funds (balance 10.00, needs 20.00)" in trace
    assert stored(db_url, "sunco") == (Decimal("-10.00"), -1000, 0, 0)


def test_the_wallets_command_line(db_url: str) -> None:
    env: dict[str, str | None] = {"LEADRELAY_DATABASE_URL": db_url, "COLUMNS": None, "LINES": None}
    prepare(
        db_url, base_config(lambda n: f"https://{n}.example/leads", sunco={"wallet": {"low_balance": 50}})
    )
    topped = run_cli(("wallets", "topup", "sunco", "40", "--memo", "wire 7"), env)
    assert topped.returncode == 0, topped.stderr
    assert "sunco: topped up 40.00" in topped.stdout and "balance 40.00" in topped.stdout
    listed = run_cli(("wallets", "list"), env)
    assert listed.returncode == 0, listed.stderr
    assert "sunco\t40.00\t0.00\t40.00\t0.00\t50.00 (low)" in listed.stdout
    shown = run_cli(("wallets", "show", "sunco"), env)
    assert "sunco\t40.00" in shown.stdout
    bad = run_cli(("wallets", "topup", "sunco", "lots"), env)
    assert bad.returncode == 1 and "AMOUNT: must be an amount written with the digits 0-9" in bad.stderr
    none = run_cli(("wallets", "show", "brightpath"), env)
    assert none.returncode == 1 and "has no wallet" in none.stderr
    zero = run_cli(("wallets", "topup", "sunco", "0"), env)
    assert zero.returncode == 1 and "amount" in zero.stderr and "more than zero" in zero.stderr, zero.stderr
    assert stored(db_url, "sunco")[:2] == (Decimal("-40.00"), -4000)
