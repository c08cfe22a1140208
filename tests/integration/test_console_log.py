"""The console's distribution log (issue 12, point 3) over a real server on SQLite with a real simulated
buyer: the table's filters, cursor and live rows; the detail (drawer) with the lead masked for a viewer;
the three-dots menu's actions done as the user (audited), disabled with their reason, refused to a viewer
(403) and without the CSRF token (403); the audit page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

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
from tests.support import (
    ADMIN,
    ServerThread,
    base_config,
    lead,
    prepare,
    source_headers,
    wait_for,
    wait_settled,
)

PASSWORD = "console log password"
SECRET = "a-test-secret-of-enough-length-0001"
SSN = "078-05-1120"
DEAD = {"webhook": {"url": "http://127.0.0.1:9/nobody", "timeout": "2s", "max_attempts": 1}}
POLICY = {"window": "7d", "reasons": ["duplicate"], "max_rate": "100%"}
FAILING = {"state": "TX", "monthly_bill": 50}  # the default rule: brightpath filters it out, voltedge is dead


@dataclass
class Site:
    server: ServerThread
    url: str
    api: httpx.Client  # the admin token

    def login(self, email: str) -> httpx.Client:
        http = self.server.client()
        page = http.get("/console/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        data = {"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
        assert http.post("/console/login", data=data).status_code == 303
        return http

    def sell(self, **fields: Any) -> dict[str, Any]:
        """Post a lead, wait for its outcome: {lead_id, status, job}."""
        r = self.api.post("/v1/leads?wait=10", json=lead(**fields), headers=source_headers())
        assert r.status_code in (200, 202), r.text
        body: dict[str, Any] = r.json()
        found = self.api.get("/v1/distributions", params={"lead": body["lead_id"]}, headers=ADMIN)
        [job] = found.json()["items"]
        body["job"] = job["id"]
        wait_for(lambda: self.detail(job["id"])["status"] in ("delivered", "failed", "unsold"))
        return body

    def detail(self, job_id: str) -> dict[str, Any]:
        got: dict[str, Any] = self.api.get(f"/v1/distributions/{job_id}", headers=ADMIN).json()
        return got

    def audit(self, action: str, object_id: str) -> list[dict[str, Any]]:
        items = self.api.get("/v1/audit", headers=ADMIN).json()["items"]
        return [e for e in items if e["action"] == action and e["object_id"] == object_id]


@pytest.fixture
def site(sqlite_url: str) -> Iterator[Site]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as buyers:
        doc = base_config(buyers.url, sunco={"returns": POLICY}, voltedge={"channel": DEAD})
        doc["entities"]["solar"]["fields"]["ssn"] = {"type": "string", "sensitive": True}
        prepare(sqlite_url, doc)
        db = Database(sqlite_url)
        accounts = Accounts(SqlStorage(db), Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024)))
        for email, role in (
            ("ada@example.com", Role.ADMIN),
            ("vic@example.com", Role.VIEWER),
            ("otto@example.com", Role.OPERATOR),
        ):
            accounts.create_user(email, role, password=PASSWORD, actor="test")
        with ServerThread(sqlite_url, secret_key=SECRET) as server, server.client() as api:
            yield Site(server, sqlite_url, api)
        db.dispose()


def tree(answer: httpx.Response) -> Any:
    return html.fromstring(answer.text)


def row_ids(answer: httpx.Response) -> list[str]:
    return [str(r.get("data-id")) for r in tree(answer).xpath('//tbody[@id="log-rows"]/tr')]


def csrf(http: httpx.Client, path: str = "/console/log") -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', http.get(path).text)
    assert found is not None
    return found.group(1)


def in_db(url: str, fn: Any) -> None:
    db = Database(url)
    try:
        db.transaction(fn)
    finally:
        db.dispose()


# ---------------------------------------------------------------- the table


def test_the_table_lists_filters_pages_by_cursor_and_gives_new_rows(site: Site) -> None:
    west = [site.sell(), site.sell(state="OR")]
    failing = site.sell(**FAILING)
    http = site.login("vic@example.com")

    page = http.get("/console/log")
    assert page.status_code == 200
    assert row_ids(page) == [failing["job"], west[1]["job"], west[0]["job"]]
    assert "(route)" not in page.text  # a distribution's kind is named only when it is not a routing
    doc = tree(page)
    assert doc.xpath('//label[@for="f-rule"]') and doc.xpath('//label[@for="f-since"]')
    assert doc.xpath('//div[@class="live"]/@data-rows-url') == ["/console/log/rows?"]

    assert row_ids(http.get("/console/log", params={"rule": "west-coast"})) == [w["job"] for w in west[::-1]]
    assert row_ids(http.get("/console/log", params={"partner": "sunco"})) == [w["job"] for w in west[::-1]]
    assert row_ids(http.get("/console/log", params={"status": "delivered", "source": "web"})) == [
        w["job"] for w in west[::-1]
    ]
    assert row_ids(http.get("/console/log", params={"profile": "nope"})) == []
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    earlier = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert row_ids(http.get("/console/log", params={"since": later})) == []
    assert len(row_ids(http.get("/console/log", params={"since": earlier, "until": later}))) == 3

    # the cursor: one row a page, the next page's link carries the filter
    first = http.get("/console/log", params={"rule": "west-coast", "limit": "1"})
    assert row_ids(first) == [west[1]["job"]]
    [older] = tree(first).xpath('//a[@rel="next"]/@href')
    assert "rule=west-coast" in older and f"cursor={west[1]['job']}" in older
    second = http.get(older)
    assert row_ids(second) == [west[0]["job"]]
    assert tree(second).xpath('//a[@rel="next"]') == []
    assert not tree(second).xpath('//div[@class="live"]')  # an older page does not update live

    # the live poll: rows newer than the newest shown, under the same filter
    rows = http.get("/console/log/rows", params={"after": west[0]["job"]})
    assert [r.get("data-id") for r in html.fragment_fromstring(rows.text, create_parent="tbody")] == [
        failing["job"],
        west[1]["job"],
    ]
    rows = http.get("/console/log/rows", params={"after": west[0]["job"], "rule": "west-coast"})
    assert west[1]["job"] in rows.text and failing["job"] not in rows.text
    assert http.get("/console/log/rows", params={"after": failing["job"]}).text.strip() == ""
    # and the current state of rows the table watches (those still open when shown)
    rows = http.get("/console/log/rows", params={"after": failing["job"], "watch": f"{west[0]['job']},x"})
    [row] = html.fragment_fromstring(rows.text, create_parent="tbody")
    assert row.get("data-id") == west[0]["job"] and "delivered" in row.text_content()
    assert row.get("data-open") is None  # finished: no longer watched


def test_bad_filters_answer_422_with_the_message_next_to_the_field(site: Site) -> None:
    http = site.login("vic@example.com")
    for params, name, words in (
        ({"status": "sold"}, "status", "one of the listed statuses"),
        ({"since": "yesterday"}, "since", "date and time"),
        ({"since": "2026-12-03T10:00", "until": "2026-12-03T09:00"}, "until", "after the start"),
        ({"limit": "0"}, "limit", "from 1 to 200"),
    ):
        page = http.get("/console/log", params=params)
        assert page.status_code == 422, params
        field = tree(page).xpath(f'//*[@name="{name}"]')[0]
        assert field.get("aria-invalid") == "true"
        [message] = tree(page).xpath(f'//*[@id="{field.get("aria-describedby")}"]')
        assert words in message.text_content()
    assert http.get("/console/log/rows", params={"since": "x"}).status_code == 422


# ---------------------------------------------------------------- the detail


def test_the_drawer_shows_lead_trace_attempts_and_ledger_masked_for_a_viewer(site: Site) -> None:
    sold = site.sell(ssn=SSN)
    job = sold["job"]
    viewer = site.login("vic@example.com")
    page = viewer.get(f"/console/log/{job}")
    assert page.status_code == 200
    text = tree(page).text_content()
    assert SSN not in page.text and "***" in text and "masked for your role" in text
    assert "ada@example.com" in text  # not a sensitive field here
    assert "west-coast" in text  # the rule, and the trace
    assert tree(page).xpath('//ol[@class="trace"]/li')
    [delivery] = tree(page).xpath('//article[@class="delivery"]')
    assert "sunco" in delivery.xpath("h4")[0].text_content()
    assert delivery.xpath('.//details[@class="attempt"]//pre')  # request and answer
    ledger = tree(page).xpath('//section[h3[starts-with(@id, "s-ledger")]]//tbody/tr')
    assert [r.xpath("td")[1].text for r in ledger][:1] == ["sale"]
    # a viewer: no menu, no action form, and asking to reveal changes nothing
    assert not tree(page).xpath('//*[@role="menu"]') and not tree(page).xpath(
        "//form[contains(@action, 'cancel')]"
    )
    assert SSN not in viewer.get(f"/console/log/{job}?reveal=true").text
    assert site.audit("lead.reveal", sold["lead_id"]) == []

    # the drawer's fragment: the same content, no page around it
    part = viewer.get(f"/console/log/{job}?part=true")
    assert part.status_code == 200 and "<html" not in part.text and "Routing trace" in part.text

    admin = site.login("ada@example.com")
    page = admin.get(f"/console/log/{job}")
    assert SSN not in page.text  # masked until asked
    [reveal] = tree(page).xpath('//a[text()="Show the sensitive values"]/@href')
    shown = admin.get(reveal)
    assert SSN in shown.text
    [entry] = site.audit("lead.reveal", sold["lead_id"])
    assert entry["actor"] == "user:ada@example.com"
    assert admin.get("/console/log/nope").status_code == 404


# ---------------------------------------------------------------- the actions


def menu(answer: httpx.Response) -> dict[str, tuple[bool, str]]:
    """The menu's items: label → (enabled, the reason shown when disabled)."""
    doc = tree(answer)
    out = {}
    for item in doc.xpath('//ul[@role="menu"]//*[@role="menuitem"]'):
        why = ""
        if item.get("aria-describedby"):
            why = doc.xpath(f'//*[@id="{item.get("aria-describedby")}"]')[0].text_content()
        out[item.text_content().strip()] = (item.get("aria-disabled") != "true", why)
    return out


def test_resend_and_cancel_as_the_user_audited_with_the_partner_named(site: Site) -> None:
    sold = site.sell()
    job = sold["job"]
    http = site.login("otto@example.com")
    page = http.get(f"/console/log/{job}")
    items = menu(page)
    assert items["Resend to partner"] == (True, "") and items["Cancel distribution"] == (True, "")
    assert items["Rerun distribution"][0] is False and "use resend" in items["Rerun distribution"][1]
    dialog = tree(page).xpath(f'//dialog[@id="dlg-resend-{job}"]')[0]
    assert "Resend to sunco?" in dialog.text_content()
    confirm = http.get(f"/console/log/{job}/resend")  # the same, without script
    assert confirm.status_code == 200 and "Resend to sunco?" in confirm.text

    token = csrf(http)
    too_long = http.post(f"/console/log/{job}/resend", data={"csrf_token": token, "reason": "x" * 2001})
    assert too_long.status_code == 422
    [area] = tree(too_long).xpath('//textarea[@name="reason"]')
    assert area.get("aria-invalid") == "true"
    assert "at most 2000" in tree(too_long).xpath(f'//*[@id="{area.get("aria-describedby")}"]')[0].text
    done = http.post(f"/console/log/{job}/resend", data={"csrf_token": token, "reason": "lost it"})
    assert done.status_code == 303 and done.headers["location"] == f"/console/log/{job}?done=resend"
    assert "Resent" in http.get(done.headers["location"]).text
    [entry] = site.audit("distribution.resend", job)
    assert entry["actor"] == "user:otto@example.com" and entry["reason"] == "lost it"

    wait_settled(site.server.url)  # the cancel waits for the resend to finish
    done = http.post(f"/console/log/{job}/cancel", data={"csrf_token": token, "reason": "consumer asked"})
    assert done.status_code == 303
    [entry] = site.audit("distribution.cancel", job)
    assert entry["actor"] == "user:otto@example.com" and entry["reason"] == "consumer asked"
    assert site.detail(job)["status"] == "cancelled"
    again = http.post(f"/console/log/{job}/cancel", data={"csrf_token": token})
    assert again.status_code == 409 and "cancel is only for delivered" in tree(again).text_content()

    audit = http.get("/console/audit")
    assert audit.status_code == 200
    cells = [r.xpath("td")[1].text for r in tree(audit).xpath("//tbody/tr")]
    assert cells.count("user:otto@example.com") == 2


def test_rerun_a_failed_distribution_and_decide_returns(site: Site) -> None:
    failed = site.sell(**FAILING)
    assert site.detail(failed["job"])["status"] in ("failed", "unsold")
    http = site.login("ada@example.com")
    token = csrf(http)
    assert menu(http.get(f"/console/log/{failed['job']}"))["Rerun distribution"] == (True, "")
    done = http.post(f"/console/log/{failed['job']}/rerun", data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=rerun")
    [entry] = site.audit("distribution.rerun", failed["job"])
    assert entry["actor"] == "user:ada@example.com"

    for decision in ("approve", "deny"):
        sold = site.sell()
        asked = site.api.post(
            "/v1/returns",
            json={"partner": "sunco", "reason": "duplicate", "lead_id": sold["lead_id"]},
            headers=ADMIN,
        )
        assert asked.status_code == 201, asked.text
        return_id = asked.json()["id"]
        items = menu(http.get(f"/console/log/{sold['job']}"))
        label = f"{decision.capitalize()} the return by sunco (duplicate)"
        assert items[label] == (True, "")
        data = {"csrf_token": token, "return_id": return_id}
        done = http.post(f"/console/log/{sold['job']}/{decision}", data=data)
        assert done.status_code == 303, done.text
        [entry] = site.audit(f"return.{decision}d" if decision == "approve" else "return.denied", return_id)
        assert entry["actor"] == "user:ada@example.com"
        assert "Approve or deny a return" in menu(http.get(f"/console/log/{sold['job']}"))
    other = http.post(f"/console/log/{failed['job']}/approve", data={"csrf_token": token, "return_id": "r1"})
    assert other.status_code == 404 and "has no return r1" in other.text


def test_disabled_actions_show_why_invoiced_or_past_the_period(site: Site) -> None:
    invoiced, aged = site.sell(), site.sell()
    in_db(
        site.url,
        lambda c: c.execute(
            update(deliveries).where(deliveries.c.job_id == invoiced["job"]).values(invoiced=True)
        ),
    )
    when = datetime.now(UTC) - timedelta(days=8)
    in_db(
        site.url,
        lambda c: c.execute(
            update(deliveries).where(deliveries.c.job_id == aged["job"]).values(delivered_at=when)
        ),
    )
    http = site.login("ada@example.com")
    page = http.get(f"/console/log/{invoiced['job']}")
    assert menu(page)["Cancel distribution"] == (
        False,
        "cannot cancel: the delivery to sunco is already invoiced",
    )
    assert not tree(page).xpath(f'//dialog[@id="dlg-cancel-{invoiced["job"]}"]')
    assert menu(http.get(f"/console/log/{aged['job']}"))["Cancel distribution"] == (
        False,
        "cannot cancel: the cancellation period of sunco (7 days) has passed",
    )
    refused = http.post(f"/console/log/{aged['job']}/cancel", data={"csrf_token": csrf(http)})
    assert refused.status_code == 409 and "has passed" in tree(refused).xpath('//*[@role="alert"]')[0].text
    assert "has passed" in http.get(f"/console/log/{aged['job']}/cancel").text  # the confirmation says no


def test_a_viewer_sees_no_action_and_its_post_is_403_and_a_form_without_token_is_403(site: Site) -> None:
    sold = site.sell()
    job = sold["job"]
    viewer = site.login("vic@example.com")
    page = viewer.get(f"/console/log/{job}")
    assert not tree(page).xpath('//*[@role="menuitem"]') and "Resend" not in page.text
    token = csrf(viewer)
    for action in ("resend", "rerun", "cancel", "approve", "deny"):
        refused = viewer.post(f"/console/log/{job}/{action}", data={"csrf_token": token})
        assert refused.status_code == 403 and "may not act" in refused.text
    assert viewer.get(f"/console/log/{job}/resend").status_code == 403
    api = viewer.post(f"/v1/distributions/{job}/cancel", headers={"X-CSRF-Token": token})
    assert api.status_code == 403  # the API refuses the viewer's session too
    assert site.audit("distribution.resend", job) == []

    admin = site.login("ada@example.com")
    assert admin.post(f"/console/log/{job}/cancel", data={}).status_code == 403
    assert admin.post(f"/console/log/{job}/cancel", data={"csrf_token": "forged"}).status_code == 403
    assert site.detail(job)["status"] == "delivered"
    assert admin.post("/console/log/nope/cancel", data={"csrf_token": csrf(admin)}).status_code == 404
    assert site.server.client().get("/console/log").status_code == 303  # no session: the login


def test_the_audit_page_pages_by_cursor_for_a_viewer(site: Site) -> None:
    viewer = site.login("vic@example.com")
    every = [e["id"] for e in site.api.get("/v1/audit", headers=ADMIN).json()["items"]]
    assert len(every) >= 4
    seen: list[str] = []
    path: str | None = "/console/audit?limit=3"
    while path:
        page = viewer.get(path)
        assert page.status_code == 200
        rows = tree(page).xpath('//table[@class="audit"]/tbody/tr')
        assert 1 <= len(rows) <= 3
        seen.extend(r.xpath("td")[2].text for r in rows)
        nexts = tree(page).xpath('//a[@rel="next"]/@href')
        path = nexts[0] if nexts else None
    assert len(seen) == len(every)
    assert (
        site.login("ada@example.com").get("/console/audit").status_code == 200
    )  # other roles: the route walk
