"""The partner and source portals (issue 12 point 7) on a real server and SQLite, with a real sale through a
simulated buyer on loopback: each portal page shows its own tenant's data only, another tenant's lead,
return, invoice or statement answers 404, a return is filed through the form and refused past the window,
the availability switch works and is audited, staff get the 403 page, a form without its token 403, and
the posting specification lists every field and its example posts (with a real key). The portals' own
queries (``adapters.db.portal_queries``) run on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from argon2 import PasswordHasher
from lxml import html
from sqlalchemy import update

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import deliveries
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Role
from leadrelay.services.users import Accounts
from leadrelay.simulate.buyers import BuyersThread
from tests.documents import base_config, lead
from tests.integration.test_returns import POLICY, sell
from tests.integration.test_route_access import PASSWORD, console_login
from tests.support import ADMIN, ServerThread, prepare, source_headers

Portal = tuple[ServerThread, httpx.Client]


@pytest.fixture
def portal(db_url: str) -> Iterator[Portal]:
    """sunco (a returns policy) and brightpath buy; sources web (sees its buyers, paid 60 %) and other;
    a console user for each partner and source, and staff."""
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as buyers:
        config = base_config(buyers.url, sunco={"returns": POLICY})
        config["sources"]["web"]["payout"] = {"share": "60%"}
        config["sources"]["other"] = {"entities": ["solar"]}
        prepare(db_url, config)
        make_users(
            db_url,
            [
                ("sunco", Role.PARTNER, "sunco"),
                ("brightpath", Role.PARTNER, "brightpath"),
                ("web", Role.SOURCE, "web"),
                ("other", Role.SOURCE, "other"),
                ("operator", Role.OPERATOR, None),
                ("admin", Role.ADMIN, None),
                ("viewer", Role.VIEWER, None),
            ],
        )
        with ServerThread(db_url) as server, server.client() as http:
            yield server, http


def make_users(url: str, users: list[tuple[str, Role, str | None]]) -> None:
    db = Database(url)
    try:
        fast = Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        accounts = Accounts(SqlStorage(db), fast)
        for name, role, tenant in users:
            accounts.create_user(f"{name}@example.com", role, password=PASSWORD, actor="t", tenant=tenant)
    finally:
        db.dispose()


class Browser:
    """A signed-in user's requests: the session cookie, and the CSRF token for forms."""

    def __init__(self, http: httpx.Client, name: str) -> None:
        self.http = http
        self.cookie, self.csrf = console_login(http, f"{name}@example.com")

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params or None, headers={"Cookie": f"lr_session={self.cookie}"})

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.csrf
        return self.http.post(path, data=form, headers={"Cookie": f"lr_session={self.cookie}"})

    def page(self, path: str, status: int = 200, **params: Any) -> Any:
        r = self.get(path, **params)
        assert r.status_code == status, (path, r.status_code, r.text[:500])
        return html.fromstring(r.text)


def text(doc: Any) -> str:
    return " ".join(doc.text_content().split())


def backdate(url: str, delivery_id: str, days: int) -> None:
    db = Database(url)
    try:
        when = datetime.now(UTC) - timedelta(days=days)
        stmt = update(deliveries).where(deliveries.c.id == delivery_id).values(delivered_at=when)
        db.transaction(lambda c: c.execute(stmt))
    finally:
        db.dispose()


def issue(http: httpx.Client, party: str, name: str, tz: str) -> str:
    today = datetime.now(ZoneInfo(tz)).date().isoformat()
    drafted = http.post("/v1/invoices", json={party: name, "period": today}, headers=ADMIN)
    assert drafted.status_code == 200, drafted.text
    invoice_id: str = drafted.json()["id"]
    assert http.post(f"/v1/invoices/{invoice_id}/issue", headers=ADMIN).status_code == 200
    return invoice_id


def test_the_partner_portal_shows_its_own_leads_returns_invoices_and_switch(
    db_url: str, portal: Portal
) -> None:
    _, http = portal
    sold = sell(http)  # to sunco
    late = sell(http)
    backdate(db_url, late["delivery"], 8)
    sunco, bright = Browser(http, "sunco"), Browser(http, "brightpath")

    # its leads, and only its own
    doc = sunco.page("/console/partner/leads")
    assert sold["lead_id"] in text(doc) and late["lead_id"] in text(doc)
    assert doc.xpath(f'//a[@href="/console/partner/leads/{sold["delivery"]}"]')
    assert sold["lead_id"] not in text(bright.page("/console/partner/leads"))
    older = text(sunco.page("/console/partner/leads", cursor=late["delivery"]))  # the page after it
    assert sold["lead_id"] in older and late["lead_id"] not in older
    # the lead as delivered: the request the buyer received, and its postback URL
    doc = sunco.page(f"/console/partner/leads/{sold['delivery']}")
    assert "Lovelace" in text(doc) and "/v1/postbacks/" + sold["delivery"] in text(doc)
    assert "Lovelace" not in text(bright.page(f"/console/partner/leads/{sold['delivery']}", 404))

    # a return: without the token 403; without a reason 422 next to the field; then filed
    path = f"/console/partner/leads/{sold['delivery']}/return"
    assert sunco.post(path, {"reason": "duplicate"}, csrf=False).status_code == 403
    r = sunco.post(path, {"reason": ""})
    assert r.status_code == 422
    assert html.fromstring(r.text).xpath('//p[@id="reason-error"]')[0].text == "choose a reason"
    r = sunco.post(path, {"reason": "no_such_reason"})
    assert r.status_code == 422 and "reason-error" in r.text
    assert bright.post(path, {"reason": "duplicate"}).status_code == 404  # not its lead
    r = sunco.post(path, {"reason": "duplicate", "note": "same person as last week"})
    assert r.status_code == 303, r.text
    doc = sunco.page(r.headers["location"])
    assert "duplicate" in text(doc) and sold["lead_id"] in text(doc) and "filed" in text(doc)
    assert sold["lead_id"] not in text(bright.page("/console/partner/returns"))
    mine = http.get("/v1/returns", params={"partner": "sunco"}, headers=ADMIN).json()["items"]
    assert [x["requested_by"] for x in mine] == ["user:sunco@example.com"]
    # past the window: refused, and the page says why
    r = sunco.post(f"/console/partner/leads/{late['delivery']}/return", {"reason": "duplicate"})
    assert r.status_code == 409
    assert "return window of sunco (7 days after delivery) ended" in text(html.fromstring(r.text))

    # invoices: issued ones with their PDF; another partner's 404
    assert "None issued yet" in text(sunco.page("/console/partner/invoices"))
    invoice_id = issue(http, "partner", "sunco", "America/Los_Angeles")
    doc = sunco.page("/console/partner/invoices")
    [link] = doc.xpath(f'//a[@href="/console/partner/invoices/{invoice_id}.pdf"]')
    pdf = sunco.get(link.get("href"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    assert bright.get(f"/console/partner/invoices/{invoice_id}.pdf").status_code == 404
    assert invoice_id not in bright.get("/console/partner/invoices").text

    # the availability switch: off, audited with the user, and routing skips it
    assert sunco.post("/console/partner/availability", {"available": "off"}, csrf=False).status_code == 403
    assert sunco.post("/console/partner/availability", {"available": "maybe"}).status_code == 422
    r = sunco.post("/console/partner/availability", {"available": "off", "note": "lunch"})
    assert r.status_code == 303
    assert "You are off" in text(sunco.page("/console/partner/availability"))
    row = http.get("/v1/partners/sunco/availability", headers=ADMIN).json()
    assert row["available"] is False and row["changed_by"] == "user:sunco@example.com"
    audit = http.get("/v1/audit", headers=ADMIN).json()["items"]
    assert any(e["actor"] == "user:sunco@example.com" and e["object_id"] == "sunco" for e in audit), audit[:3]
    assert http.get("/v1/partners/brightpath/availability", headers=ADMIN).json()["available"] is True
    sell(http, "brightpath")  # sunco is out: the west-coast rule goes on to brightpath
    assert sunco.post("/console/partner/availability", {"available": "on"}).status_code == 303

    # the postback instructions: the signed template and the outcomes it accepts
    doc = sunco.page("/console/partner/postbacks")
    words = text(doc)
    assert "/v1/postbacks/{delivery_id}?sig={sig}" in words
    for outcome in ("contacted", "converted", "rejected", "returned"):
        assert outcome in words


def test_the_source_portal_shows_its_submissions_payouts_keys_and_posting_spec(
    db_url: str, portal: Portal
) -> None:
    _, http = portal
    sold = sell(http)  # from web, to sunco
    r = http.post("/v1/leads?wait=10", json=lead(email="grace@example.com"), headers=source_headers("other"))
    assert r.status_code == 200 and r.json()["status"] == "delivered", r.text
    others = r.json()["lead_id"]
    web, other = Browser(http, "web"), Browser(http, "other")

    # submissions: its own only; the buyer named only to a source that may see it (show_buyer)
    doc = web.page("/console/source/submissions")
    assert sold["lead_id"] in text(doc) and others not in text(doc)
    assert "sunco" not in text(doc)  # never in the list
    assert "sunco" in text(web.page(f"/console/source/submissions/{sold['lead_id']}"))
    doc = other.page(f"/console/source/submissions/{others}")
    assert "delivered" in text(doc) and "sunco" not in text(doc) and "price" not in text(doc).lower()
    other.page(f"/console/source/submissions/{sold['lead_id']}", 404)

    # payouts (the ledger entries where it is the party) and statements with their PDF
    doc = web.page("/console/source/payouts")
    assert re.search(r"payout -\d+\.\d\d USD", text(doc)) and sold["lead_id"] in text(doc)  # owed to it
    assert sold["lead_id"] not in text(other.page("/console/source/payouts"))
    statement = issue(http, "source", "web", "UTC")
    doc = web.page("/console/source/payouts")
    [link] = doc.xpath(f'//a[@href="/console/source/statements/{statement}.pdf"]')
    pdf = web.get(link.get("href"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert other.get(f"/console/source/statements/{statement}.pdf").status_code == 404
    assert web.get(f"/console/partner/invoices/{statement}.pdf").status_code == 403  # not a partner

    # its keys: created (shown once), listed with the last use, revoked; another source's 404
    assert web.post("/console/source/keys", csrf=False).status_code == 403
    r = web.post("/console/source/keys")
    assert r.status_code == 200
    key = html.fromstring(r.text).xpath('//input[@id="the-key"]')[0].get("value")
    key_id = re.search(r"Key (\S+) created", r.text)
    assert key and key_id is not None
    assert key not in web.get("/console/source/keys").text  # never shown again

    # the posting specification: every field, and its example posts with the real key
    doc = web.page("/console/source/spec")
    rows = doc.xpath('//table[contains(@class, "fields")]/tbody/tr')
    names = [row.xpath("./td[1]//text()")[0] for row in rows]
    assert names == ["first_name", "last_name", "email", "phone", "zip", "state", "monthly_bill"]
    required = {row.xpath("./td[1]//text()")[0]: row.xpath("./td[3]/text()")[0] for row in rows}
    assert required["phone"] == "required" and required["email"] == "optional"
    curl = doc.xpath('//pre[contains(@class, "curl")]')[0].text_content()
    args = shlex.split(curl.replace("\\\n", " "))
    url, body = args[args.index("-X") + 2], json.loads(args[args.index("-d") + 1])
    assert "YOUR_API_KEY" in curl and url.endswith("/v1/leads?entity=solar")
    posted = httpx.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert posted.status_code == 202, posted.text
    assert posted.json()["status"] == "queued"
    last_used = web.page("/console/source/keys")
    assert key_id.group(1) in text(last_used)

    assert other.post(f"/console/source/keys/{key_id.group(1)}/revoke").status_code == 404
    assert web.post(f"/console/source/keys/{key_id.group(1)}/revoke").status_code == 303
    again = httpx.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert again.status_code == 401
    audit = http.get("/v1/audit", headers=ADMIN).json()["items"]
    actions = {e["action"] for e in audit if e["actor"] == "user:web@example.com"}
    assert {"source.key_created", "source.key_revoked"} <= actions, actions


PORTAL_PAGES = [
    "/console/partner/leads",
    "/console/partner/returns",
    "/console/partner/invoices",
    "/console/partner/availability",
    "/console/partner/postbacks",
    "/console/source/submissions",
    "/console/source/payouts",
    "/console/source/keys",
    "/console/source/spec",
]


@pytest.mark.sqlite_only
def test_staff_and_the_other_kind_of_tenant_get_the_403_page(portal: Portal) -> None:
    _, http = portal
    for name in ("admin", "operator", "viewer"):
        staff = Browser(http, name)
        for path in PORTAL_PAGES:
            r = staff.get(path)
            assert r.status_code == 403 and "Not for your role" in r.text, (name, path)
        assert staff.post("/console/partner/availability", {"available": "off"}).status_code == 403
    sunco, web = Browser(http, "sunco"), Browser(http, "web")
    for path in PORTAL_PAGES:
        partner_side = path.startswith("/console/partner")
        assert sunco.get(path).status_code == (200 if partner_side else 403), path
        assert web.get(path).status_code == (403 if partner_side else 200), path
    assert http.get("/console/partner/leads").status_code == 303  # no session: the login
