"""Invoices and statements (issue 11, point 6) through a real server on loopback, with leads delivered to
real simulated buyers, on SQLite and PostgreSQL: draft, issue (numbered, frozen, deliveries invoiced so a
cancel is refused), pay (a payment entry), void (entries released), CSV and PDF, bad input, and gap-free
numbering under concurrent issues (PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.money_tables import invoices, ledger_entries
from leadrelay.adapters.db.tables import deliveries
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.domain.ledger import EntryKind, Party
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.ledger import post_manual
from leadrelay.services.ports import system_ids
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, rows, run_cli, source_headers

Setup = Callable[..., ServerThread]
TODAY_LA = datetime.now(ZoneInfo("America/Los_Angeles")).date().isoformat()
YEAR = datetime.now(UTC).year


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


@pytest.fixture
def start(buyers: BuyersThread) -> Iterator[Callable[[str], ServerThread]]:
    servers: list[ServerThread] = []

    def run(url: str, **extra: Any) -> ServerThread:
        config = base_config(buyers.url)
        config["sources"]["web"]["payout"] = {"fixed": 4}
        config["partners"]["sunco"]["price_from_answer"] = False  # its list price, 25
        for kind, objects in extra.items():
            for name, doc in objects.items():
                config[kind].setdefault(name, {}).update(doc)
        prepare(url, config)
        server = ServerThread(url)
        server.__enter__()
        servers.append(server)
        return server

    yield run
    for server in servers:
        server.__exit__(None, None, None)


def sell(http: httpx.Client) -> dict[str, Any]:
    """A CA lead, sold to sunco; its lead id and its (only) job."""
    r = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["status"] == "delivered" and body["partner"] == "sunco", body
    items = http.get("/v1/distributions", params={"lead": body["lead_id"]}, headers=ADMIN).json()["items"]
    body["job"] = items[0]["id"]
    return body


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def draft(http: httpx.Client, period: str = TODAY_LA, **party: str) -> dict[str, Any]:
    return ok(
        http.post("/v1/invoices", json={"period": period, **(party or {"partner": "sunco"})}, headers=ADMIN)
    )


def act(http: httpx.Client, invoice_id: str, action: str) -> httpx.Response:
    return http.post(f"/v1/invoices/{invoice_id}/{action}", headers=ADMIN)


def conflict(r: httpx.Response, *words: str) -> None:
    assert r.status_code == 409, r.text
    for word in words:
        assert word in r.json()["detail"], r.json()


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_draft_issue_refuses_cancel_then_pay(start: Callable[[str], ServerThread], db_url: str) -> None:
    server = start(db_url)
    with server.client() as http:
        sold = [sell(http) for _ in range(3)]
        # a sale cancelled before any invoice leaves it with its cancellation
        assert (
            ok(http.post(f"/v1/distributions/{sold[0]['job']}/cancel", headers=ADMIN))["status"]
            == "cancelled"
        )
        d = draft(http)
        assert d["status"] == "draft" and d["number"] is None and d["kind"] == "invoice"
        assert d["period"]["kind"] == "monthly" and d["period"]["timezone"] == "America/Los_Angeles"
        assert sorted(x["lead_id"] for x in d["lines"]) == sorted(s["lead_id"] for s in sold[1:])
        assert {x["kind"] for x in d["lines"]} == {"sale"}
        total = sum(Decimal(x["amount"]) for x in d["lines"])
        assert Decimal(d["total"]) == total == Decimal("50.00")  # sunco's list price, 25, twice
        # drafting again regenerates the same draft
        again = draft(http)
        assert again["id"] == d["id"] and again["lines"] == d["lines"]

        issued = ok(act(http, d["id"], "issue"))
        assert issued["status"] == "issued" and issued["number"] == f"INV-{YEAR}-000001"
        invoiced = rows(db_url, select(deliveries.c.job_id, deliveries.c.invoiced))
        assert {r.job_id: r.invoiced for r in invoiced} == {
            sold[0]["job"]: False, sold[1]["job"]: True, sold[2]["job"]: True
        }  # fmt: skip
        r = http.post(f"/v1/distributions/{sold[1]['job']}/cancel", headers=ADMIN)
        conflict(r, "invoiced")
        conflict(act(http, d["id"], "issue"), "cannot issue", "issued")
        conflict(
            http.post("/v1/invoices", json={"period": TODAY_LA, "partner": "sunco"}, headers=ADMIN), "void"
        )

        # a sale after the issue goes to the next invoice: the issued one does not change
        late = sell(http)
        assert ok(http.get(f"/v1/invoices/{d['id']}", headers=ADMIN))["lines"] == issued["lines"]

        text = pdf_text(http.get(f"/v1/invoices/{d['id']}.pdf", headers=ADMIN).content)
        assert f"INV-{YEAR}-000001" in text and "sunco" in text and "50.00 USD" in text
        for s in sold[1:]:
            assert s["lead_id"] in text
        assert late["lead_id"] not in text
        got = http.get(f"/v1/invoices/{d['id']}", params={"format": "csv"}, headers=ADMIN)
        assert got.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(got.text)))
        assert [r["kind"] for r in table] == ["sale", "sale", "charges", "credits", "total"]
        assert table[-1]["amount"] == "50.00" and table[0]["number"] == f"INV-{YEAR}-000001"
        assert http.get(f"/v1/invoices/{d['id']}.csv", headers=ADMIN).text == got.text

        paid = ok(act(http, d["id"], "pay"))
        assert paid["status"] == "paid" and paid["payment_entry"]
        payments = rows(db_url, select(ledger_entries).where(ledger_entries.c.kind == "payment"))
        assert [(p.party, p.amount, p.id) for p in payments] == [
            ("sunco", Decimal("-50.00"), paid["payment_entry"])
        ]
        conflict(act(http, d["id"], "void"), "cannot void", "paid")
        conflict(act(http, d["id"], "pay"), "cannot pay")
        listed = ok(http.get("/v1/invoices", params={"partner": "sunco"}, headers=ADMIN))["items"]
        assert [i["id"] for i in listed] == [d["id"]]


def test_void_releases_the_entries_to_the_next_invoice(
    start: Callable[[str], ServerThread], db_url: str
) -> None:
    server = start(db_url)
    with server.client() as http:
        a, b = sell(http), sell(http)
        first = ok(act(http, draft(http)["id"], "issue"))
        conflict(http.post(f"/v1/distributions/{a['job']}/cancel", headers=ADMIN), "invoiced")
        voided = ok(act(http, first["id"], "void"))
        assert voided["status"] == "void" and voided["number"] == first["number"]
        assert voided["lines"] == first["lines"]  # the record of what was issued stays
        assert ok(http.post(f"/v1/distributions/{a['job']}/cancel", headers=ADMIN))["status"] == "cancelled"
        # a manual credit is a line too
        storage = SqlStorage(Database(db_url))
        try:
            storage.transaction(
                lambda tx: post_manual(
                    tx, ConfigCache().current(tx), kind=EntryKind.CREDIT, party_kind=Party.PARTNER,
                    party="sunco", amount=Decimal("3.50"), actor="test", now=datetime.now(UTC),
                    ids=system_ids, memo="goodwill",
                )
            )  # fmt: skip
        finally:
            storage.db.dispose()
        second = draft(http)
        assert second["id"] != first["id"]
        assert [(x["kind"], x["lead_id"]) for x in second["lines"]] == [
            ("sale", b["lead_id"]),
            ("credit", None),
        ]
        assert (second["charges"], second["credits"], second["total"]) == ("25.00", "3.50", "21.50")
        issued = ok(act(http, second["id"], "issue"))
        assert issued["number"] == f"INV-{YEAR}-000002"  # the voided number stays used


def test_a_sources_statement(start: Callable[[str], ServerThread], db_url: str) -> None:
    server = start(db_url, sources={"web": {"invoicing": {"period": "weekly", "week_starts": "sunday"}}})
    with server.client() as http:
        sold = [sell(http), sell(http)]
        today = datetime.now(UTC).date().isoformat()
        st = draft(http, today, source="web")
        assert st["kind"] == "statement" and st["period"]["kind"] == "weekly"
        assert datetime.fromisoformat(st["period"]["first_day"]).weekday() == 6  # a Sunday
        assert sorted(x["lead_id"] for x in st["lines"]) == sorted(s["lead_id"] for s in sold)
        assert {x["kind"] for x in st["lines"]} == {"payout"} and st["total"] == "8.00"
        issued = ok(act(http, st["id"], "issue"))
        assert issued["number"] == f"ST-{YEAR}-000001"
        text = pdf_text(http.get(f"/v1/invoices/{st['id']}?format=pdf", headers=ADMIN).content)
        assert f"Statement ST-{YEAR}-000001" in text and "web" in text and "8.00 USD" in text
        # a statement does not make the deliveries invoiced: the partner may still cancel
        assert (
            ok(http.post(f"/v1/distributions/{sold[0]['job']}/cancel", headers=ADMIN))["status"]
            == "cancelled"
        )
        paid = ok(act(http, st["id"], "pay"))
        payment = rows(db_url, select(ledger_entries).where(ledger_entries.c.id == paid["payment_entry"]))
        assert [(p.kind, p.party_kind, p.amount) for p in payment] == [("payment", "source", Decimal("8.00"))]
        # the clawback of the cancelled sale's payout is a credit line of the next statement (its period
        # has a statement already: a later entry goes to the next period's)
        conflict(http.post("/v1/invoices", json={"period": today, "source": "web"}, headers=ADMIN), "void it")
        nxt = draft(http, (datetime.now(UTC).date() + timedelta(days=7)).isoformat(), source="web")
        assert [(x["kind"], x["amount"]) for x in nxt["lines"]] == [("cancellation", "-4.00")]


@pytest.mark.sqlite_only
def test_bad_input_names_the_field(start: Callable[[str], ServerThread], db_url: str) -> None:
    server = start(db_url)
    with server.client() as http:
        r = http.post(
            "/v1/invoices", json={"period": "2026-11", "partner": "sunco", "source": "web"}, headers=ADMIN
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "source", r.text
        r = http.post("/v1/invoices", json={"period": "2026-11"}, headers=ADMIN)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "partner", r.text
        r = http.post("/v1/invoices", json={"period": "November", "partner": "sunco"}, headers=ADMIN)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "period", r.text
        r = http.post("/v1/invoices", json={"period": "2026-11", "partner": "nobody"}, headers=ADMIN)
        assert r.status_code == 404 and "nobody" in r.json()["detail"]
        assert http.get("/v1/invoices/inv_nope", headers=ADMIN).status_code == 404
        assert http.get("/v1/invoices/inv_nope", params={"format": "xml"}, headers=ADMIN).status_code == 422
        assert http.post("/v1/invoices/inv_nope/issue", headers=ADMIN).status_code == 404
        assert http.get("/v1/invoices").status_code == 401
        d = draft(http, "2026-11")
        conflict(act(http, d["id"], "pay"), "cannot pay", "draft")
        conflict(act(http, d["id"], "void"), "cannot void", "draft")


def test_concurrent_issues_number_without_gaps_or_repeats(
    start: Callable[[str], ServerThread], pg_url: str
) -> None:
    server = start(pg_url)
    with server.client() as http:
        sell(http)
        months = [f"{YEAR}-{m:02d}" for m in range(1, 13)]
        drafts = [draft(http, month)["id"] for month in months]

        def issue(invoice_id: str) -> httpx.Response:
            with server.client() as own:
                return own.post(f"/v1/invoices/{invoice_id}/issue", headers=ADMIN)

        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(issue, drafts * 2))  # each draft issued twice, at the same time
        won = [r.json() for r in answers if r.status_code == 200]
        lost = [r for r in answers if r.status_code != 200]
        assert len(won) == 12 and len(lost) == 12, [r.text for r in lost]
        assert all(r.status_code == 409 for r in lost)
        assert sorted(i["id"] for i in won) == sorted(drafts)
        assert sorted(i["number"] for i in won) == [f"INV-{YEAR}-{n:06d}" for n in range(1, 13)]
        # the entries are on one invoice only, whatever the order the issues ran in
        lines = [x["entry_id"] for i in won for x in i["lines"]]
        assert len(lines) == len(set(lines)) == 1


@pytest.mark.sqlite_only
def test_the_command_line(start: Callable[[str], ServerThread], db_url: str, tmp_path: Path) -> None:
    server = start(db_url)
    with server.client() as http:
        sold = sell(http)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(
            ["invoices", *args], {"LEADRELAY_DATABASE_URL": db_url, "COLUMNS": None, "LINES": None}
        )

    r = cli("draft", "--partner", "sunco", "--period", TODAY_LA)
    assert r.returncode == 0, r.stderr
    assert "1 lines, total 25.00 USD, draft" in r.stdout
    match = re.search(r"inv_\w+", r.stdout)
    assert match is not None
    invoice_id = match[0]
    r = cli("issue", invoice_id)
    assert r.returncode == 0 and f"INV-{YEAR}-000001" in r.stdout, r.stdout + r.stderr
    r = cli("list", "--partner", "sunco")
    assert r.returncode == 0 and f"INV-{YEAR}-000001" in r.stdout and "issued" in r.stdout, r.stdout
    shown = json.loads(cli("show", invoice_id).stdout)
    assert shown["lines"][0]["lead_id"] == sold["lead_id"] and shown["total"] == "25.00"
    pdf, table = tmp_path / "inv.pdf", tmp_path / "inv.csv"
    assert cli("export", invoice_id, "-o", str(pdf)).returncode == 0
    assert cli("export", invoice_id, "-o", str(table)).returncode == 0
    text = pdf_text(pdf.read_bytes())
    assert (
        f"INV-{YEAR}-000001" in text and "sunco" in text and sold["lead_id"] in text and "25.00 USD" in text
    )
    assert list(csv.DictReader(table.open()))[-1]["amount"] == "25.00"
    r = cli("pay", invoice_id)
    assert r.returncode == 0 and "paid" in r.stdout, r.stderr
    r = cli("void", invoice_id)
    assert r.returncode == 1 and "cannot void" in r.stderr, r.stdout + r.stderr
    r = cli("draft", "--partner", "sunco", "--period", "soon")
    assert r.returncode == 2 and "--period" in r.stderr, r.stderr
    r = cli("draft", "--partner", "sunco", "--source", "web", "--period", "2026-11")
    assert r.returncode == 2 and "exactly one of --partner or --source" in r.stderr, r.stderr
    r = cli("export", invoice_id, "-o", str(tmp_path / "inv.txt"))
    assert r.returncode == 2 and "--output" in r.stderr, r.stderr


def test_the_database_refuses_to_change_an_issued_invoice(
    start: Callable[[str], ServerThread], db_url: str
) -> None:
    server = start(db_url)
    with server.client() as http:
        sell(http)
        d = draft(http)
        issued = ok(act(http, d["id"], "issue"))
        audit = ok(http.get("/v1/audit", headers=ADMIN))["items"]
        assert [(e["action"], e["object_id"]) for e in audit if e["action"].startswith("invoice.")] == [
            ("invoice.issue", d["id"])
        ]
    db = Database(db_url)
    try:
        for change in ({"total": Decimal("1.00")}, {"lines": []}):
            with pytest.raises(DBAPIError, match="frozen"):
                db.transaction(
                    lambda c, change=change: c.execute(
                        update(invoices).where(invoices.c.id == d["id"]).values(**change)
                    )
                )
        # its state may still move (the service pays or voids it)
        db.transaction(
            lambda c: c.execute(update(invoices).where(invoices.c.id == d["id"]).values(status="void"))
        )
        assert rows(db_url, select(invoices.c.total))[0].total == Decimal(issued["total"])
    finally:
        db.dispose()
