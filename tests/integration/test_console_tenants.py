"""A partner's console session reaches its own portal routes of the API, and another partner's objects
answer 404: a real sale to a real buyer on loopback, returned through the session; the sale's invoice,
issued, read by its partner and not by another (nor while it is a draft)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Role
from leadrelay.services.users import Accounts
from tests.integration.test_returns import Start, buyers, other_buyer, sell, start
from tests.integration.test_route_access import PASSWORD, console_login, session_headers
from tests.support import ADMIN

__all__ = ["buyers", "other_buyer", "start"]  # the fixtures of test_returns

pytestmark = pytest.mark.sqlite_only


def make_partner_users(url: str, *partners: str) -> None:
    db = Database(url)
    try:
        fast = Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        accounts = Accounts(SqlStorage(db), fast)
        for name in partners:
            accounts.create_user(
                f"{name}@example.com", Role.PARTNER, password=PASSWORD, actor="t", tenant=name
            )
    finally:
        db.dispose()


def test_a_partner_session_returns_its_lead_and_another_partner_gets_404(db_url: str, start: Start) -> None:
    _, http = start()
    sold = sell(http)
    make_partner_users(db_url, "sunco", "brightpath")
    sunco = session_headers(*console_login(http, "sunco@example.com"))
    brightpath = session_headers(*console_login(http, "brightpath@example.com"))

    filed = http.post(
        "/v1/partner/returns", json={"lead_id": sold["lead_id"], "reason": "duplicate"}, headers=sunco
    )
    assert filed.status_code == 201, filed.text
    got: dict[str, Any] = filed.json()
    assert got["partner"] == "sunco" and got["requested_by"] == "partner:sunco"
    assert http.get(f"/v1/partner/returns/{got['id']}", headers=sunco).status_code == 200

    theirs = http.get(f"/v1/partner/returns/{got['id']}", headers=brightpath)
    assert theirs.status_code == 404, theirs.text
    assert http.get("/v1/partner/returns", headers=brightpath).json()["items"] == []
    again = http.post(
        "/v1/partner/returns", json={"lead_id": sold["lead_id"], "reason": "duplicate"}, headers=brightpath
    )
    assert again.status_code == 404, again.text  # not its lead
    assert http.get("/v1/partner", headers=brightpath).json()["name"] == "brightpath"


def test_a_partner_reads_its_issued_invoices_and_another_partner_gets_404(db_url: str, start: Start) -> None:
    _, http = start()
    sell(http)
    make_partner_users(db_url, "sunco", "brightpath")
    sunco = session_headers(*console_login(http, "sunco@example.com"))
    brightpath = session_headers(*console_login(http, "brightpath@example.com"))
    today = datetime.now(ZoneInfo("America/Los_Angeles")).date().isoformat()  # sunco's clock
    drafted = http.post("/v1/invoices", json={"partner": "sunco", "period": today}, headers=ADMIN)
    assert drafted.status_code == 200, drafted.text
    invoice_id = drafted.json()["id"]
    assert http.get(f"/v1/partner/invoices/{invoice_id}", headers=sunco).status_code == 404  # a draft
    assert http.get("/v1/partner/invoices", headers=sunco).json()["items"] == []
    assert http.post(f"/v1/invoices/{invoice_id}/issue", headers=ADMIN).status_code == 200

    mine = http.get(f"/v1/partner/invoices/{invoice_id}", headers=sunco)
    assert mine.status_code == 200 and mine.json()["id"] == invoice_id
    pdf = http.get(f"/v1/partner/invoices/{invoice_id}", params={"format": "pdf"}, headers=sunco)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert [i["id"] for i in http.get("/v1/partner/invoices", headers=sunco).json()["items"]] == [invoice_id]
    theirs = http.get(f"/v1/partner/invoices/{invoice_id}", headers=brightpath)
    assert theirs.status_code == 404 and theirs.json()["detail"] == f"no invoice {invoice_id}"
    assert http.get("/v1/partner/invoices", headers=brightpath).json()["items"] == []
    assert (
        http.get(f"/v1/partner/invoices/{invoice_id}", headers=ADMIN).status_code == 401
    )  # a token is no key
