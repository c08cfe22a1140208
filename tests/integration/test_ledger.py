"""The money ledger on SQLite and PostgreSQL, through a real server and real simulated buyers: a sale posts
its price and its source's payout with the delivery, the source is told its payout (not the buyer's
price), a cancel reverses both with new entries, entries cannot be edited or deleted, manual entries come
through the API and the CLI with their errors named."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.money_tables import ledger_entries
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, run_cli, source_headers

D = Decimal


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def paid_config(buyers: BuyersThread) -> dict[str, Any]:
    doc = base_config(buyers.url, sunco={"price_from_answer": False})  # sunco bills its list price, 25
    doc["sources"]["web"]["payout"] = {"share": "40%"}
    doc["sources"]["web"]["show_buyer"] = False
    return doc


def sold(http: Any) -> dict[str, Any]:
    r = http.post("/v1/leads?wait=10", json=lead(state="CA"), headers=source_headers())
    assert r.status_code == 200 and r.json()["status"] == "delivered", r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_sale_posts_its_price_and_payout_and_a_cancel_reverses_them(
    db_url: str, buyers: BuyersThread
) -> None:
    prepare(db_url, paid_config(buyers))
    with ServerThread(db_url) as server, server.client() as http:
        answer = sold(http)
        assert answer["payout"] == "10.00" and "price" not in answer  # the source's own payout only
        later = http.get(f"/v1/leads/{answer['lead_id']}", headers=source_headers()).json()
        assert later["payout"] == "10.00"

        entries = http.get("/v1/ledger", params={"lead": answer["lead_id"]}, headers=ADMIN).json()["items"]
        assert [(e["kind"], e["party"], e["amount"], e["margin"]) for e in entries] == [
            ("sale", "sunco", "25.00", "15.00"),
            ("payout", "web", "-10.00", None),
        ]
        job = http.get("/v1/distributions", params={"lead": answer["lead_id"]}, headers=ADMIN).json()
        job_id = job["items"][0]["id"]
        shown = http.get(f"/v1/distributions/{job_id}", headers=ADMIN).json()
        assert [e["kind"] for e in shown["ledger"]] == ["sale", "payout"]
        assert shown["deliveries"][0]["price_basis"] == "list"

        r = http.post(f"/v1/distributions/{job_id}/cancel", json={"reason": "wrong state"}, headers=ADMIN)
        assert r.status_code == 200, r.text
        entries = http.get("/v1/ledger", params={"lead": answer["lead_id"]}, headers=ADMIN).json()["items"]
        assert [(e["kind"], e["party"], e["amount"], e["reverses"] is not None) for e in entries[2:]] == [
            ("cancellation", "sunco", "-25.00", True),
            ("cancellation", "web", "10.00", True),
        ]
        partners = http.get("/v1/balances", headers=ADMIN).json()["balances"]
        sources = http.get("/v1/balances", params={"party_kind": "source"}, headers=ADMIN).json()["balances"]
        assert partners == {"sunco": "0.00"} and sources == {"web": "0.00"}
        after = http.get(f"/v1/leads/{answer['lead_id']}", headers=source_headers()).json()
        assert after["payout"] == "0.00"


def test_entries_are_immutable_in_the_database(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, paid_config(buyers))
    with ServerThread(db_url) as server, server.client() as http:
        sold(http)
    db = Database(db_url)
    try:
        with pytest.raises(DBAPIError, match="immutable"):
            db.transaction(lambda c: c.execute(update(ledger_entries).values(amount=D("1.00"))))
        with pytest.raises(DBAPIError, match="immutable"):
            db.transaction(lambda c: c.execute(delete(ledger_entries)))
        amounts = db.read(lambda c: sorted(r.amount for r in c.execute(ledger_entries.select())))
        assert amounts == [D("-10.00"), D("25.00")]  # as written, Decimals in cents
    finally:
        db.dispose()


def test_manual_entries_through_the_api_with_their_errors_named(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, paid_config(buyers))
    with ServerThread(db_url) as server, server.client() as http:
        r = http.post(
            "/v1/ledger",
            json={"kind": "topup", "party": "sunco", "amount": "200", "memo": "wire 2026-12-03"},
            headers=ADMIN,
        )
        assert r.status_code == 201, r.text
        assert (r.json()["amount"], r.json()["actor"]) == ("-200.00", "admin:tester")
        bad = [
            ({"kind": "sale", "party": "sunco", "amount": "5"}, 422, "kind"),
            ({"kind": "credit", "party": "sunco", "amount": "-5"}, 422, "amount"),
            ({"kind": "credit", "party": "sunco", "amount": "1.005"}, 422, "amount"),
            ({"kind": "credit", "party": "nobody", "amount": "5"}, 404, "nobody"),
            ({"kind": "topup", "party_kind": "source", "party": "web", "amount": "5"}, 422, "kind"),
            # Decimal reads these too: "1_000" was 1,000.00, fullwidth and Arabic-Indic digits 5 and 3
            ({"kind": "topup", "party": "sunco", "amount": "1_000"}, 422, "digits 0-9"),
            ({"kind": "topup", "party": "sunco", "amount": "\uff15"}, 422, "digits 0-9"),
            ({"kind": "credit", "party": "sunco", "amount": "\u0663"}, 422, "digits 0-9"),
        ]
        for body, code, named in bad:
            r = http.post("/v1/ledger", json=body, headers=ADMIN)
            assert r.status_code == code and named in r.text, (body, r.status_code, r.text)
        topup = http.post("/v1/partners/sunco/wallet/topup", json={"amount": "1_000"}, headers=ADMIN)
        assert topup.status_code == 422 and "digits 0-9" in topup.text, topup.text
        assert http.post("/v1/ledger", json={"kind": "credit"}).status_code == 401
        items = http.get("/v1/ledger", params={"party": "sunco"}, headers=ADMIN).json()["items"]
        assert [e["kind"] for e in items] == ["topup"]  # nothing half-applied by the refused ones
        audit = http.get("/v1/audit", headers=ADMIN)
        assert audit.status_code == 200, audit.text
        assert [a["action"] for a in audit.json()["items"]].count("ledger.topup") == 1


def test_the_cli_posts_lists_and_sums(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, paid_config(buyers))
    env = {"LEADRELAY_DATABASE_URL": db_url, "COLUMNS": None, "LINES": None}
    r = run_cli(["ledger", "post", "credit", "sunco", "7.50", "--memo", "goodwill"], env)
    assert r.returncode == 0, r.stderr
    assert "credit partner:sunco -7.50 USD" in r.stdout
    r = run_cli(["ledger", "post", "payment", "web", "12", "--party-kind", "source"], env)
    assert r.returncode == 0, r.stderr
    r = run_cli(["ledger", "post", "credit", "sunco", "1_000"], env)
    assert r.returncode != 0 and "AMOUNT: must be an amount written with the digits 0-9" in r.stderr, r.stderr
    r = run_cli(["ledger", "balances"], env)
    assert r.returncode == 0 and "sunco\t-7.50" in r.stdout, r.stdout
    r = run_cli(["ledger", "balances", "--party-kind", "source"], env)
    assert "web\t12.00" in r.stdout
    r = run_cli(["ledger", "list", "--party", "sunco"], env)
    assert "goodwill" in r.stdout and "cli:" in r.stdout
    for args, named in (
        (["ledger", "post", "sale", "sunco", "1"], "KIND"),
        (["ledger", "post", "credit", "sunco", "abc"], "AMOUNT"),
        (["ledger", "post", "credit", "sunco", "0"], "amount"),
        (["ledger", "post", "credit", "nobody", "1"], "nobody"),
        (["ledger", "balances", "--party-kind", "buyer"], "--party-kind"),
        (["ledger", "post", "adjustment", "sunco", "NaN"], "amount"),  # no traceback: a named refusal
        (["ledger", "post", "adjustment", "sunco", "Infinity"], "amount"),
        (["ledger", "post", "adjustment", "sunco", "1e30"], "amount"),  # no BIGINT overflow
        (["ledger", "post", "credit", "sunco", "1.005"], "amount"),  # not rounded behind the back
    ):
        r = run_cli(args, env)
        assert r.returncode == 1 and named in r.stderr, (args, r.stderr)


def test_the_ledger_reads_times_without_a_zone_as_utc_and_refuses_what_is_no_time(
    db_url: str, buyers: BuyersThread
) -> None:
    prepare(db_url, paid_config(buyers))
    with ServerThread(db_url) as server, server.client() as http:
        r = http.post("/v1/ledger", json={"kind": "credit", "party": "sunco", "amount": "5"}, headers=ADMIN)
        assert r.status_code == 201, r.text
        for params, count in (
            ({"since": "2000-01-01T00:00:00"}, 1),  # no zone: UTC (was a 500: naive compared with aware)
            ({"until": "2000-01-01T00:00:00"}, 0),
            ({"since": "2000-01-01T00:00:00+02:00"}, 1),
        ):
            r = http.get("/v1/ledger", params=params, headers=ADMIN)
            assert r.status_code == 200 and len(r.json()["items"]) == count, (params, r.text)
        for params in ({"since": "2026-01-01"}, {"until": "yesterday"}, {"since": "1700000000"}):
            r = http.get("/v1/ledger", params=params, headers=ADMIN)
            assert r.status_code == 422 and next(iter(params)) in r.text, (params, r.status_code, r.text)
