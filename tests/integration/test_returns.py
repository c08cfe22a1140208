"""Returns (issue 11, point 4) end to end on SQLite and PostgreSQL: a real server, real buyers on loopback,
partners' own keys. A partner returns a lead it bought (auto-approved: the RETURN entries credit it and
claw back the source's payout; the lead goes on to another buyer's own server, never back to it); manual
review approves or denies; the rate limit refuses with the figures; outside the window is 409, another
partner's lead 404, a partner without a policy 403; a CSV import keeps the good rows and reports the bad
ones by line; the CLI; every step audited and shown in the distribution detail."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import deliveries
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.domain.ledger import Entry, EntryKind, Party
from leadrelay.entrypoints.cli import app
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_actions import audit_entries, counts, detail, wait_final
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, source_headers

POLICY = {
    "window": "7d",
    "reasons": ["bad_phone", "duplicate", "not_interested"],
    "max_rate": "100%",
    "auto_approve": ["bad_phone"],
    "redistribute": True,
}
WEST = {"state": "CA", "monthly_bill": 180}  # the west-coast rule: sunco first, then brightpath
Start = Callable[..., tuple[ServerThread, httpx.Client]]


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as b:
        yield b


@pytest.fixture
def other_buyer() -> Iterator[BuyersThread]:
    """brightpath's own server: a redistributed lead must reach it."""
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as b:
        yield b


@pytest.fixture
def start(db_url: str, buyers: BuyersThread, other_buyer: BuyersThread) -> Iterator[Start]:
    """``start(sunco_returns={...})``: sunco with a returns policy, brightpath (its own buyer server) with
    one too, voltedge with none; the source paid 60 % of each sale."""
    opened: list[tuple[ServerThread, httpx.Client]] = []

    def run(
        sunco_returns: dict[str, Any] | None = None, *, auto_redistribute: bool = False
    ) -> tuple[ServerThread, httpx.Client]:
        hook = {"webhook": {"url": other_buyer.url("brightpath"), "timeout": "5s", "max_attempts": 3}}
        config = base_config(
            buyers.url,
            sunco={"returns": sunco_returns or POLICY},
            brightpath={"channel": hook, "price": 10, "returns": {"reasons": ["duplicate"]}},
        )
        config["sources"]["web"]["payout"] = {"share": "60%"}
        config["profiles"]["solar-main"]["auto_redistribute"] = auto_redistribute  # after a cancel too
        prepare(db_url, config)
        server = ServerThread(db_url)
        server.__enter__()
        http = server.client()
        opened.append((server, http))
        return server, http

    yield run
    for server, http in opened:
        http.close()
        server.__exit__(None, None, None)


def key_of(http: httpx.Client, partner: str) -> dict[str, str]:
    r = http.post(f"/v1/partners/{partner}/keys", headers=ADMIN)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['key']}"}


def sell(http: httpx.Client, partner: str = "sunco", **fields: Any) -> dict[str, Any]:
    """Post a lead and wait for it: {lead_id, job, delivery} of its sale to ``partner``."""
    r = http.post("/v1/leads?wait=10", json=lead(**(fields or WEST)), headers=source_headers())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "delivered" and body["partner"] == partner, body
    items = http.get("/v1/distributions", params={"lead": body["lead_id"]}, headers=ADMIN).json()["items"]
    [job] = items
    [delivery] = [d for d in detail(http, job["id"])["deliveries"] if d["status"] == "delivered"]
    return {"lead_id": body["lead_id"], "job": job["id"], "delivery": delivery["id"]}


def ret(http: httpx.Client, headers: dict[str, str], **body: Any) -> httpx.Response:
    return http.post("/v1/partner/returns", json=body, headers=headers)


def entries(url: str, lead_id: str) -> list[Entry]:
    db = Database(url)
    try:
        return SqlStorage(db).read(lambda tx: tx.ledger.entries(lead_ids=[lead_id]))
    finally:
        db.dispose()


def balances(url: str, kind: Party) -> dict[str, Decimal]:
    db = Database(url)
    try:
        return SqlStorage(db).read(lambda tx: tx.ledger.balances(kind))
    finally:
        db.dispose()


def returns_audit(http: httpx.Client, return_id: str) -> list[tuple[str, str]]:
    items = http.get("/v1/audit", headers=ADMIN).json()["items"]
    return sorted((e["action"], e["actor"]) for e in items if e["object_id"] == return_id)


def test_a_partner_returns_a_lead_auto_approved_and_it_goes_to_another_buyer(
    db_url: str, start: Start, buyers: BuyersThread, other_buyer: BuyersThread
) -> None:
    _, http = start()
    sunco = key_of(http, "sunco")
    sold = sell(http)
    sale = entries(db_url, sold["lead_id"])
    assert sorted(e.kind for e in sale) == [EntryKind.PAYOUT, EntryKind.SALE]

    r = ret(http, sunco, lead_id=sold["lead_id"], reason="bad_phone", note="number not in service")
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["status"] == "approved" and got["auto"] is True and got["decided_by"] == "system"
    assert (got["partner"], got["delivery_id"], got["requested_by"]) == (
        "sunco",
        sold["delivery"],
        "partner:sunco",
    )
    assert got["id"].startswith("ret_") and got["redistributed_as"]

    # the money: the sale and the payout undone with RETURN entries, each reversing its original
    money = entries(db_url, sold["lead_id"])
    undone = [e for e in money if e.kind is EntryKind.RETURN]
    assert sorted((e.party, e.amount) for e in undone) == sorted((e.party, -e.amount) for e in sale)
    assert {e.reverses for e in undone} == {e.id for e in sale}
    assert all(e.memo == "bad_phone" and e.actor == "system" for e in undone)
    assert balances(db_url, Party.PARTNER).get("sunco", Decimal(0)) == 0

    # the lead goes on to brightpath's own server, never back to sunco
    new = wait_final(http, got["redistributed_as"])
    assert new["status"] == "delivered" and new["parent_id"] == sold["job"]
    assert [d["partner"] for d in new["deliveries"]] == ["brightpath"]
    assert "sunco" in new["excluded"]
    assert counts(other_buyer, "brightpath")["accepted"] == 1
    assert counts(buyers, "sunco")["received"] == 1
    assert balances(db_url, Party.PARTNER)["brightpath"] == Decimal("10.00")

    # the record: the delivery stays delivered, its return beside it; the steps audited
    original = detail(http, sold["job"])
    [delivery] = original["deliveries"]
    assert delivery["status"] == "delivered" and original["status"] == "delivered"
    assert delivery["return"]["id"] == got["id"] and delivery["return"]["status"] == "approved"
    assert [x["id"] for x in original["returns"]] == [got["id"]]
    assert returns_audit(http, got["id"]) == [
        ("return.approved", "system"),
        ("return.requested", "partner:sunco"),
    ]

    # the partner sees its own returns; a second return of the same lead is refused
    mine = http.get("/v1/partner/returns", headers=sunco).json()["items"]
    assert [x["id"] for x in mine] == [got["id"]]
    assert http.get(f"/v1/partner/returns/{got['id']}", headers=sunco).status_code == 200
    again = ret(http, sunco, delivery_id=sold["delivery"], reason="bad_phone")
    assert again.status_code == 409 and "already returned" in again.json()["detail"]


def test_manual_review_approves_and_denies_and_the_rate_limit_counts_what_is_not_denied(
    db_url: str, start: Start
) -> None:
    _, http = start({**POLICY, "max_rate": "50%", "redistribute": False})
    sunco = key_of(http, "sunco")
    first, second = sell(http), sell(http)

    a = ret(http, sunco, lead_id=first["lead_id"], reason="duplicate")
    assert a.status_code == 201 and a.json()["status"] == "requested" and a.json()["auto"] is False
    assert not [e for e in entries(db_url, first["lead_id"]) if e.kind is EntryKind.RETURN]

    # 2 of 2 sold this month would be 100 %: over the 50 % maximum, refused with the figures
    over = ret(http, sunco, lead_id=second["lead_id"], reason="not_interested")
    assert over.status_code == 409, over.text
    assert "2 returns of 2 leads sold (100%)" in over.json()["detail"]
    assert "max_rate of 50%" in over.json()["detail"]

    denied = http.post(f"/v1/returns/{a.json()['id']}/deny", json={"note": "it was fine"}, headers=ADMIN)
    assert denied.status_code == 200, denied.text
    assert denied.json()["status"] == "denied" and denied.json()["decision_note"] == "it was fine"
    assert denied.json()["decided_by"] == "admin:tester"
    assert not [e for e in entries(db_url, first["lead_id"]) if e.kind is EntryKind.RETURN]
    twice = http.post(f"/v1/returns/{a.json()['id']}/approve", headers=ADMIN)
    assert twice.status_code == 409 and "cannot go from denied to approved" in twice.json()["detail"]

    # a denied return no longer counts: 1 of 2 is at the maximum
    b = ret(http, sunco, lead_id=second["lead_id"], reason="not_interested")
    assert b.status_code == 201, b.text
    queue = http.get("/v1/returns", params={"status": "requested"}, headers=ADMIN).json()["items"]
    assert [x["id"] for x in queue] == [b.json()["id"]]
    ok = http.post(f"/v1/returns/{b.json()['id']}/approve", json={"note": "checked"}, headers=ADMIN)
    assert ok.status_code == 200 and ok.json()["status"] == "approved", ok.text
    assert ok.json()["redistributed_as"] is None
    undone = [e for e in entries(db_url, second["lead_id"]) if e.kind is EntryKind.RETURN]
    assert {e.party for e in undone} == {"sunco", "web"} and all(e.actor == "admin:tester" for e in undone)
    assert sum(e.amount for e in entries(db_url, second["lead_id"])) == 0
    assert http.post(f"/v1/returns/{b.json()['id']}/deny", headers=ADMIN).status_code == 409

    assert returns_audit(http, a.json()["id"]) == [
        ("return.denied", "admin:tester"),
        ("return.requested", "partner:sunco"),
    ]
    assert returns_audit(http, b.json()["id"]) == [
        ("return.approved", "admin:tester"),
        ("return.requested", "partner:sunco"),
    ]
    [shown] = detail(http, second["job"])["returns"]
    assert shown["status"] == "approved" and shown["decision_note"] == "checked"


def test_refusals_window_another_partners_lead_no_policy_bad_bodies(db_url: str, start: Start) -> None:
    _, http = start()
    sunco, bright, volt = key_of(http, "sunco"), key_of(http, "brightpath"), key_of(http, "voltedge")
    late = sell(http)
    cheap = sell(http, "voltedge", state="TX", monthly_bill=50)  # brightpath's filter fails: voltedge

    # another partner's lead (by lead or delivery id) is not found
    for body in ({"lead_id": late["lead_id"]}, {"delivery_id": late["delivery"]}):
        r = ret(http, bright, reason="duplicate", **body)
        assert r.status_code == 404, r.text
    # a partner without a returns policy may not return
    r = ret(http, volt, lead_id=cheap["lead_id"], reason="duplicate")
    assert r.status_code == 403 and "does not take returns" in r.json()["detail"], r.text

    # outside the window: delivered eight days ago
    db = Database(db_url)
    try:
        eight_days = datetime.now(UTC) - timedelta(days=8)
        db.transaction(
            lambda c: c.execute(
                update(deliveries).where(deliveries.c.id == late["delivery"]).values(delivered_at=eight_days)
            )
        )
    finally:
        db.dispose()
    r = ret(http, sunco, lead_id=late["lead_id"], reason="bad_phone")
    assert r.status_code == 409, r.text
    assert "return window of sunco (7 days after delivery) ended" in r.json()["detail"]

    # bad bodies name the field; an unknown reason names the reasons
    assert ret(http, sunco, reason="duplicate").status_code == 422
    both = ret(http, sunco, reason="duplicate", lead_id=late["lead_id"], delivery_id=late["delivery"])
    assert both.status_code == 422 and both.json()["errors"][0]["field"] == "delivery_id"
    empty = ret(http, sunco, reason="duplicate", delivery_id="")  # said "no lead None was delivered"
    assert empty.status_code == 422 and "give exactly one of delivery_id or lead_id" in empty.text, empty.text
    unknown = ret(http, sunco, lead_id=late["lead_id"], reason="changed_mind")
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "reason"
    assert "bad_phone, duplicate, not_interested" in unknown.json()["detail"]
    assert ret(http, sunco, lead_id=late["lead_id"], reason="duplicate", extra=1).status_code == 422
    # keys: an admin token is not a partner's; a partner's key does not review
    assert http.post("/v1/partner/returns", json={"reason": "x"}, headers=ADMIN).status_code in (401, 403)
    assert http.get("/v1/returns", headers=sunco).status_code in (401, 403)
    assert http.get("/v1/returns", headers=ADMIN).json()["items"] == []  # nothing was taken


def test_csv_import_keeps_good_rows_and_reports_bad_ones_then_the_cli_reviews(
    db_url: str, start: Start, tmp_path: Path
) -> None:
    _, http = start({**POLICY, "redistribute": False})
    one, two, three = sell(http), sell(http), sell(http)
    csv = tmp_path / "returns.csv"
    csv.write_text(
        "lead_id,partner,reason,note\n"
        f"{one['lead_id']},sunco,duplicate,seen it before\n"  # line 2: taken, for review
        f"{two['lead_id']},sunco,changed_mind,\n"  # line 3: unknown reason
        "lead_nope,sunco,duplicate,\n"  # line 4: no such lead of sunco
        f"{three['lead_id']},,duplicate,\n"  # line 5: no partner
        f"{three['lead_id']},voltedge,duplicate,\n"  # line 6: voltedge has no policy
        "\n"
        f'{two["lead_id"]},sunco,bad_phone,"a note, with a comma"\n',  # line 8: auto-approved
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["returns", "import", str(csv), "--database-url", db_url])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("line 2: ret_") and lines[0].endswith(" requested")
    assert lines[1].startswith("line 3: refused: reason: unknown return reason 'changed_mind'")
    assert lines[2] == "line 4: refused: no lead lead_nope was delivered to sunco"
    assert lines[3] == "line 5: refused: partner: required"
    assert lines[4].startswith("line 6: refused: partner voltedge does not take returns")
    assert lines[5].startswith("line 8: ret_") and lines[5].endswith(" approved")
    assert lines[6] == "2 returns taken, 4 refused"
    taken = {x["lead_id"]: x for x in http.get("/v1/returns", headers=ADMIN).json()["items"]}
    assert set(taken) == {one["lead_id"], two["lead_id"]}
    assert taken[two["lead_id"]]["note"] == "a note, with a comma"
    assert taken[one["lead_id"]]["requested_by"].startswith("cli")

    # the CLI reviews: list, approve with a note
    listed = CliRunner().invoke(app, ["returns", "list", "--status", "requested", "--database-url", db_url])
    assert listed.exit_code == 0 and taken[one["lead_id"]]["id"] in listed.output
    approve = CliRunner().invoke(
        app, ["returns", "approve", taken[one["lead_id"]]["id"], "--note", "ok", "--database-url", db_url]
    )
    assert approve.exit_code == 0 and " approved" in approve.output, approve.output
    assert sum(e.amount for e in entries(db_url, one["lead_id"])) == 0
    bad = CliRunner().invoke(app, ["returns", "deny", taken[one["lead_id"]]["id"], "--database-url", db_url])
    assert bad.exit_code == 1 and "cannot go from approved to denied" in bad.output

    # a CSV over the API: a result per line; a header without the columns is refused whole
    body = f"delivery_id,partner,reason\n{three['delivery']},sunco,duplicate\nx,sunco,duplicate\n"
    r = http.post("/v1/returns/import", content=body, headers={**ADMIN, "Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    assert (r.json()["taken"], r.json()["refused"]) == (1, 1)
    assert [row["line"] for row in r.json()["rows"]] == [2, 3] and r.json()["rows"][0]["ok"] is True
    r = http.post(
        "/v1/returns/import", content="lead,who\n1,2\n", headers={**ADMIN, "Content-Type": "text/csv"}
    )
    assert r.status_code == 422 and "header.lead" in str(r.json()["errors"])

    # the CLI requests one at a time too
    four = sell(http)
    made = CliRunner().invoke(
        app,
        [
            *("returns", "request", "--partner", "sunco", "--lead", four["lead_id"]),
            *("--reason", "bad_phone", "--database-url", db_url),
        ],
    )
    assert made.exit_code == 0 and "approved (auto-approved)" in made.output, made.output
    assert audit_entries(http, "return.requested", made.output.split()[0])


def test_returns_at_once_keep_to_the_rate(start: Start) -> None:
    """Six returns sent together for six leads sold, at most 50 %: exactly three are taken (each counts
    the others: PostgreSQL locks the partner's returns while counting, SQLite writes one at a time)."""
    server, http = start({**POLICY, "max_rate": "50%", "redistribute": False})
    sunco = key_of(http, "sunco")
    leads = [sell(http, phone=f"(512) 555-01{i:02d}", **WEST)["lead_id"] for i in range(6)]

    def send(lead_id: str) -> int:
        with server.client() as own:
            return ret(own, sunco, lead_id=lead_id, reason="duplicate").status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = sorted(pool.map(send, leads))
    assert codes == [201, 201, 201, 409, 409, 409]
    assert len(http.get("/v1/returns", headers=ADMIN).json()["items"]) == 3
