"""Money around resends and cancels, and the invoice export's bad path: a resend billed in a cancelled
sale's place counts in the partner's budget (and gives it back when it is cancelled in turn) and never
overdraws a prepaid wallet (reviews of 2026-12-06 found each). Real server, real buyers on loopback, SQLite
and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, source_headers

D = Decimal
WAIT = "/v1/leads?wait=15"


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def nth(i: int, **more: Any) -> dict[str, Any]:
    return lead(first_name=f"Ada{i}", email=f"ada{i}@example.com", phone=f"(512) 555-{1000 + i:04d}", **more)


def ok(r: httpx.Response) -> Any:
    assert r.status_code in (200, 201, 202), r.text
    return r.json()


def job_of(http: httpx.Client, lead_id: str) -> str:
    items = ok(http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN))["items"]
    return str(items[-1]["id"])


def wait_delivered(http: httpx.Client, job_id: str) -> None:
    for _ in range(300):  # bounded: about 15 s
        job = ok(http.get(f"/v1/distributions/{job_id}", headers=ADMIN))
        if job["status"] == "delivered":
            return
        time.sleep(0.05)
    raise AssertionError(f"{job_id} not delivered: {job['status']}")


def sale_side(http: httpx.Client, partner: str) -> Decimal:
    items = ok(http.get("/v1/ledger", params={"party": partner, "party_kind": "partner"}, headers=ADMIN))
    return sum(
        (D(e["amount"]) for e in items["items"] if e["kind"] in ("sale", "cancellation", "return")), D(0)
    )


def resold(http: httpx.Client) -> tuple[str, str]:
    """Lead 1 sold to sunco, resent, the resend delivered, then the sale cancelled (the resend takes
    over): the sale's job and the resend's."""
    first = ok(http.post(WAIT, json=nth(1), headers=source_headers()))
    assert first["partner"] == "sunco", first
    job = job_of(http, first["lead_id"])
    resend = ok(http.post(f"/v1/distributions/{job}/resend", headers=ADMIN))["job_ids"][0]
    wait_delivered(http, resend)
    ok(http.post(f"/v1/distributions/{job}/cancel", json={"reason": "dup"}, headers=ADMIN))
    return job, resend


def test_a_resend_billed_after_its_sale_is_cancelled_counts_in_the_budget(
    db_url: str, buyers: BuyersThread
) -> None:
    """sunco has a day budget of 50 at 25 a lead. Lead 1 is sold (25), resent (not billed: the sale
    stands), then the original is cancelled: the resend takes over and is billed 25. sunco has bought 25
    today, so one more lead fits its budget and the third must go elsewhere; the cancel gave the budget
    back although the resend is billed in its place, so sunco buys 75 on a 50 budget."""
    sunco = {"budget": {"day": 50}, "price_from_answer": False}
    prepare(db_url, base_config(buyers.url, sunco=sunco))
    with ServerThread(db_url) as server, server.client() as http:
        resold(http)
        assert sale_side(http, "sunco") == D("25.00")  # the resend is billed as the sale that stands
        later = [ok(http.post(WAIT, json=nth(i), headers=source_headers())) for i in (2, 3)]
        billed = sale_side(http, "sunco")
    assert billed <= D("50.00"), (
        f"sunco billed {billed} today on a day budget of 50.00; later leads went to "
        f"{[a['partner'] for a in later]}"
    )
    assert [a["partner"] for a in later] == ["sunco", "brightpath"]


def wallet(http: httpx.Client, partner: str) -> dict[str, Any]:
    return dict(ok(http.get(f"/v1/partners/{partner}/wallet", headers=ADMIN)))


def wait_status(http: httpx.Client, lead_id: str, *, source: bool = True) -> dict[str, Any]:
    for _ in range(300):  # bounded: about 15 s
        answer = ok(http.get(f"/v1/leads/{lead_id}", headers=source_headers()))
        if answer["status"] not in ("queued", "received", "routing", "delivering"):
            return dict(answer)
        time.sleep(0.05)
    raise AssertionError(f"{lead_id} still {answer['status']}")


def test_a_sale_is_not_cancelled_while_its_resend_is_out_so_a_prepaid_wallet_is_never_overdrawn(
    db_url: str,
) -> None:
    """sunco is prepaid (credit limit 0) with 25 in its wallet, at 25 a lead. Lead 1 sells (balance 0) and
    is resent. The cancel used to be taken while the resend was out: it gave the 25 back, lead 2 held them,
    and the resend, billed once delivered as the sale that stands, took the wallet to -25.00. Now the
    cancel waits for the resend (409 naming it); once the resend is delivered, the cancel bills it in the
    sale's place and the wallet stays at 0, so lead 2 goes elsewhere."""
    with BuyersThread(count=3, latency_ms=1500, accept_rate=1.0) as slow:  # every post is out 1.5 s
        sunco = {"wallet": {"credit_limit": 0}, "price_from_answer": False}
        prepare(db_url, base_config(slow.url, sunco=sunco))
        with ServerThread(db_url) as server, server.client() as http:
            ok(http.post("/v1/partners/sunco/wallet/topup", json={"amount": 25}, headers=ADMIN))
            first = ok(http.post(WAIT, json=nth(1), headers=source_headers()))
            assert first["partner"] == "sunco", first
            assert wallet(http, "sunco")["balance"] == "0.00"
            job = job_of(http, first["lead_id"])
            resend = ok(http.post(f"/v1/distributions/{job}/resend", headers=ADMIN))["job_ids"][0]
            refused = http.post(f"/v1/distributions/{job}/cancel", json={"reason": "dup"}, headers=ADMIN)
            assert refused.status_code == 409 and resend in refused.text, refused.text
            wait_delivered(http, resend)
            ok(http.post(f"/v1/distributions/{job}/cancel", json={"reason": "dup"}, headers=ADMIN))
            assert wallet(http, "sunco")["balance"] == "0.00"  # the resend billed in the sale's place
            done = ok(http.post(WAIT, json=nth(2), headers=source_headers()))
            after = wallet(http, "sunco")
            billed = sale_side(http, "sunco")
    assert (after["balance"], billed) == ("0.00", D("25.00")), (after, billed)
    assert done["partner"] != "sunco", done


@pytest.mark.sqlite_only
def test_invoices_export_to_a_folder_that_does_not_exist_is_a_named_cli_error(
    sqlite_url: str, tmp_path: Any
) -> None:
    """``leadrelay invoices export ID -o FILE`` whose folder is missing ends with a Python traceback
    (FileNotFoundError) instead of a one-line error naming --output, as every other bad input does."""
    from tests.support import run_cli

    prepare(sqlite_url, base_config(lambda n: f"https://{n}.example/leads"))
    env: dict[str, str | None] = {"LEADRELAY_DATABASE_URL": sqlite_url, "COLUMNS": None, "LINES": None}
    drafted = run_cli(("invoices", "draft", "--partner", "sunco", "--period", "2026-11"), env)
    assert drafted.returncode == 0, drafted.stderr
    invoice_id = drafted.stdout.split()[1]
    target = tmp_path / "no-such-folder" / "inv.pdf"
    r = run_cli(("invoices", "export", invoice_id, "-o", str(target)), env)
    assert r.returncode in (1, 2) and "Traceback" not in r.stderr and "--output" in r.stderr, r.stderr[-400:]


def test_cancelling_the_resend_after_the_original_gives_the_kept_budget_back(
    db_url: str, buyers: BuyersThread
) -> None:
    """sunco: day budget 50 at 25 a lead. Lead 1 sold, resent; the original cancelled (the resend takes
    over: the original's holds are kept for it); then the resend is cancelled too. Nothing of lead 1 is
    billed any more, so two more leads fit sunco's budget (the kept holds were never given back, as the
    resend has none of its own: a second reading of 2026-12-06)."""
    prepare(db_url, base_config(buyers.url, sunco={"budget": {"day": 50}, "price_from_answer": False}))
    with ServerThread(db_url) as server, server.client() as http:
        _, resend = resold(http)
        ok(http.post(f"/v1/distributions/{resend}/cancel", json={"reason": "dup"}, headers=ADMIN))
        assert sale_side(http, "sunco") == D("0.00")
        later = [ok(http.post(WAIT, json=nth(i), headers=source_headers())) for i in (2, 3)]
    assert [a["partner"] for a in later] == ["sunco", "sunco"], later
