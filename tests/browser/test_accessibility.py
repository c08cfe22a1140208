"""The console's pages in a real browser (issue 12, point 9): axe-core (the copy bundled in the PyPI
package ``axe-playwright-python``, injected by Playwright: nothing from a CDN) finds no serious or
critical violation on any page, each page fits a phone's width (375 px: no horizontal scroll), and no
page asks for anything but the server on 127.0.0.1 (a route handler refuses, and records, any other
request). Then the dashboard's and the simulator's flows, with screenshots.

EVERY NEW CONSOLE PAGE MUST BE ADDED HERE: a line in ``PAGES`` with who sees it (``admin``, ``partner``
sunco, ``source`` web, or None: no session), its path and the status it answers; a page with states worth
checking (a form's errors, results) gets a line per state, or a flow test like the simulator's below.
Only pages that exist on the branch are listed: a page answering another status (a 404: not there)
fails, nothing is skipped. The server is seeded with a day of traffic (``tests/dashboard_seed.py``, the
dashboard's clock fixed at its ``NOW``) so that charts and tables have rows to check.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from argon2 import PasswordHasher

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Role
from leadrelay.entrypoints.web import dashboard as dashboard_page
from leadrelay.services import configure, credentials, suppression
from leadrelay.services.ports import Tx
from leadrelay.services.users import Accounts
from tests import dashboard_seed as seeded
from tests.fakes import FakeClock
from tests.support import ADMIN, ADMIN_TOKEN, ServerThread, lead

PASSWORD = "accessibility test password"
PHONE = 375  # CSS pixels
PAGES = [  # (who is signed in, the path, the status it answers): add each new console page here
    ("admin", "/console", 200),
    ("admin", "/console?hours=2&zone=America/New_York", 200),
    ("admin", "/console?hours=9999", 422),  # the window selector with its error next to the field
    ("admin", "/console/simulator", 200),
    ("admin", "/console/log", 200),
    ("admin", "/console/log?status=delivered&partner=sunco", 200),
    ("admin", "/console/log/job_4", 200),  # the drawer's own page: a sale and a failed copy
    ("admin", "/console/log/job_4/resend", 200),  # the confirmation without script
    ("admin", "/console/log/job_4/cancel", 200),
    ("admin", "/console/audit", 200),
    ("admin", "/console/leads", 200),
    ("admin", "/console/leads?q=lead_4", 200),
    ("admin", "/console/leads?q=(512) 555-0000", 200),  # nothing found
    ("admin", "/console/leads/lead_4", 200),  # a lead's history
    ("admin", "/console/leads/lead_4/erase", 200),  # the erasure's confirmation
    ("admin", "/console/leads/import", 200),
    ("admin", "/console/config", 200),
    ("admin", "/console/config/partners/sunco", 200),
    ("admin", "/console/config/partners/new", 200),
    ("admin", "/console/config/profiles/solar-main", 200),  # rules in the condition builder
    ("admin", "/console/config/sources/web", 200),
    ("admin", "/console/config/entities/solar", 200),
    ("admin", "/console/suppression", 200),
    ("admin", "/console/users", 200),
    ("admin", "/console/keys", 200),
    ("admin", "/console/settings", 200),
    ("partner", "/console", 200),  # the portal's welcome (partner sunco)
    ("partner", "/console/simulator", 403),  # the message page: not for this role
    ("partner", "/console/partner/leads", 200),
    ("partner", "/console/partner/leads/d2", 200),
    ("partner", "/console/partner/returns", 200),
    ("partner", "/console/partner/invoices", 200),
    ("partner", "/console/partner/availability", 200),
    ("partner", "/console/partner/postbacks", 200),
    ("source", "/console", 200),  # the portal's welcome (source web)
    ("source", "/console/source/submissions", 200),
    ("source", "/console/source/submissions/lead_4", 200),
    ("source", "/console/source/payouts", 200),
    ("source", "/console/source/keys", 200),
    ("source", "/console/source/spec", 200),
    (None, "/console/login", 200),
    (None, "/console/invite/no-such-invitation", 404),  # a message page
    (None, "/f/web/solar", 200),  # the hosted form
]
USERS = {  # who: (email, role, tenant)
    "admin": ("ada@example.com", Role.ADMIN, None),
    "partner": ("buyer@example.com", Role.PARTNER, "sunco"),
    "source": ("affiliate@example.com", Role.SOURCE, "web"),
}
SERIOUS = {"serious", "critical"}


@dataclass
class Console:
    server: ServerThread
    contexts: dict[str | None, Any]  # a browser context per user signed in (None: nobody)
    external: list[str] = field(default_factory=list)  # requests to anywhere but the server
    tabs: dict[str | None, Any] = field(default_factory=dict)  # the tab each user's pages are opened in

    def tab(self, who: str | None) -> Any:
        """The user's one tab, opened at its first page: each page of ``PAGES`` is visited in it, as a
        user goes from page to page. A new tab per page started a renderer process each time: the module
        took 108 CPU-seconds that way, 50 in one tab (the machine's busy time, Chromium's included)."""
        if who not in self.tabs:
            self.tabs[who] = self.contexts[who].new_page()
        return self.tabs[who]

    @property
    def session(self) -> Any:
        """The admin's context."""
        return self.contexts["admin"]


def _guard(context: Any, seen: list[str]) -> None:
    """Every request of the context: to 127.0.0.1 it goes on, anything else is recorded and aborted."""

    def route(r: Any) -> None:
        url = r.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "about:")):
            r.continue_()
        else:
            seen.append(url)
            r.abort()

    context.route("**/*", route)


@pytest.fixture(scope="module")
def console(
    browser: Any, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    """One server for the module (SQLite, seeded) and a browser context per user of ``USERS`` (signed
    in through the login form) and one without a session."""
    path = tmp_path_factory.mktemp("a11y") / "leadrelay.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    db = Database(url)
    try:
        seeded.seed(SqlStorage(db))
        more(SqlStorage(db))
        accounts = Accounts(
            SqlStorage(db), Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        )
        for email, role, tenant in USERS.values():
            accounts.create_user(email, role, password=PASSWORD, actor="test", tenant=tenant)
    finally:
        db.dispose()
    with pytest.MonkeyPatch.context() as patch, ServerThread(url, workers=0) as server:
        patch.setattr(dashboard_page, "clock", lambda: seeded.NOW)
        returned_and_invoiced(server)
        external: list[str] = []
        contexts: dict[str | None, Any] = {}
        try:
            for who in (*USERS, None):
                context = contexts[who] = browser.new_context(viewport={"width": 1280, "height": 800})
                context.set_default_timeout(10_000)
                _guard(context, external)
                if who is None:
                    continue
                login = context.new_page()
                login.goto(f"{server.url}/console/login")
                login.get_by_label("Email").fill(USERS[who][0])
                login.get_by_label("Password").fill(PASSWORD)
                login.get_by_role("button", name="Log in").click()
                login.wait_for_url(f"{server.url}/console")
                login.close()
            yield Console(server, contexts, external)
        finally:
            for context in contexts.values():
                context.close()


def more(storage: SqlStorage) -> None:
    """Beyond the dashboard's day: the hosted form on source web, a returns policy for sunco, a
    suppression list, a key each for source web and partner sunco (so the pages listing them have rows),
    the test admin token (for ``returned_and_invoiced``)."""
    doc = seeded.document()
    doc["sources"]["web"]["form"] = {"consent_text": "I agree to be contacted about solar offers."}
    doc["partners"]["sunco"]["returns"] = {"window": "3650d", "reasons": ["bad_phone", "duplicate"]}
    configure.apply_document_sync(storage, doc, actor="test", clock=FakeClock(seeded.NOW - timedelta(days=3)))

    def write(tx: Tx) -> None:
        suppression.create_list_tx(tx, "dnc", "phone", "do not call", "test")
        credentials.create_key(tx, "web", credentials.new_source_key(), actor="test", now=seeded.NOW)
        key = credentials.new_partner_key()
        credentials.create_partner_key(tx, "sunco", key, actor="test", now=seeded.NOW)
        credentials.create_token(tx, "tester", ADMIN_TOKEN, actor="test", now=seeded.NOW, expires_in=None)

    storage.transaction(write)


def returned_and_invoiced(server: ServerThread) -> None:
    """sunco returns lead_4 (requested, not yet decided) and its day's invoice is issued: the partner's
    returns and invoices pages have a row."""
    with server.client() as http:
        returned = {"partner": "sunco", "delivery_id": "d2", "reason": "duplicate"}
        r = http.post("/v1/returns", json=returned, headers=ADMIN)
        assert r.status_code == 201, r.text
        r = http.post("/v1/invoices", json={"partner": "sunco", "period": "2026-11-22"}, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert http.post(f"/v1/invoices/{r.json()['id']}/issue", headers=ADMIN).status_code == 200


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.x A and AA rules and
    best practices), one line each with the elements concerned."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — " + ", ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in results.response["violations"]
        if v.get("impact") in SERIOUS
    ]


WIDEST = """() => [...document.body.querySelectorAll('*')]
    .filter((e) => e.getBoundingClientRect().right > innerWidth + 1)
    .filter((e) => !e.parentElement || e.parentElement.getBoundingClientRect().right <= innerWidth + 1)
    .slice(0, 5)
    .map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}.${[...e.classList].join('.')}`
        + ` (${Math.round(e.getBoundingClientRect().right)} px)`)"""


def phone_overflow(page: Any) -> int:
    """How far the page scrolls sideways at the phone's width (0: it fits)."""
    return sticking_out(page)[0]


def sticking_out(page: Any) -> tuple[int, list[str]]:
    """How far the page scrolls sideways at the phone's width (0: it fits) and the outermost elements
    that stick out (to name in a failure)."""
    page.set_viewport_size({"width": PHONE, "height": 800})
    try:
        width = int(page.evaluate("document.scrollingElement.scrollWidth"))
        widest = page.evaluate(WIDEST) if width > PHONE else []
    finally:
        page.set_viewport_size({"width": 1280, "height": 800})
    return max(0, width - PHONE), widest


def check_page(console: Console, who: str | None, path: str, status: int) -> None:
    page = console.tab(who)
    answer = page.goto(console.server.url + path)
    assert answer is not None and answer.status == status, f"{path}: {answer and answer.status}"
    assert "/console/login?next=" not in page.url, f"{path}: redirected to the login"
    page.wait_for_load_state("networkidle")
    assert serious_violations(page) == [], path
    overflow, widest = sticking_out(page)
    assert overflow == 0, f"{path}: wider than {PHONE} px on a phone: {widest}"
    assert console.external == [], f"requests outside 127.0.0.1: {console.external}"


@pytest.mark.parametrize(("who", "path", "status"), PAGES)
def test_every_page_is_accessible_and_fits_a_phone(
    console: Console, who: str | None, path: str, status: int
) -> None:
    check_page(console, who, path, status)


def test_the_dashboard_refreshes_itself(console: Console, artifacts: Path) -> None:
    from playwright.sync_api import expect

    page = console.session.new_page()
    try:
        page.goto(f"{console.server.url}/console?hours=24")
        expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
        expect(page.locator("#total-received")).to_have_text("6")
        expect(page.locator("svg#leads-per-hour")).to_be_visible()
        expect(page.locator("#partners tr[data-partner=sunco] td").nth(2)).to_have_text("100.0 %")
        page.evaluate("document.getElementById('total-received').textContent = 'stale'")
        with page.expect_response(re.compile(r"/console/dashboard/board\?hours=24&zone=UTC$")):
            page.evaluate("document.getElementById('dash-board').dashboardRefresh()")
        expect(page.locator("#total-received")).to_have_text("6")  # the fragment put in place
        page.screenshot(path=str(artifacts / "dashboard-day.png"), full_page=True)
        page.screenshot(path=str(artifacts / "dashboard-day-viewport.png"))  # the README's (1280x800)
        page.set_viewport_size({"width": PHONE, "height": 800})
        page.screenshot(path=str(artifacts / "dashboard-day-phone.png"), full_page=True)
    finally:
        page.close()
    assert console.external == []


def test_the_simulator_on_a_draft_rule(console: Console, artifacts: Path) -> None:
    from playwright.sync_api import expect

    draft = {
        "profiles": {
            "solar-main": {
                "entity": "solar",
                "rules": [
                    {
                        "name": "pacific",
                        "when": {"field": "state", "op": "in", "value": ["CA"]},
                        "send_to": {"partners": ["voltedge", "sunco"], "strategy": "priority"},
                    }
                ],
                "default": {"partners": ["brightpath"], "strategy": "priority"},
            }
        }
    }
    page = console.session.new_page()
    try:
        page.goto(f"{console.server.url}/console/simulator")
        page.get_by_label("Entity").select_option("solar")
        page.get_by_label("Source").select_option("web")
        page.get_by_label("The lead").fill(json.dumps(lead()))
        page.locator("#sim-draft").fill(yaml.safe_dump(draft))
        page.get_by_role("button", name="Simulate").click()
        expect(page.locator("#sim-config")).to_have_text("draft")
        expect(page.locator("dd.sim-rule")).to_have_text("pacific")
        expect(page.locator("tr[data-partner=brightpath] td.verdict")).to_have_text("not in the rule")
        assert serious_violations(page) == []
        assert phone_overflow(page) == 0
        page.screenshot(path=str(artifacts / "simulator.png"), full_page=True)

        good = yaml.safe_dump(draft)
        draft["profiles"]["solar-main"]["rules"][0]["send_to"]["strategy"] = "lottery"
        page.locator("#sim-draft").fill(yaml.safe_dump(draft))
        page.get_by_role("button", name="Simulate").click()
        problem = page.locator("#sim-draft-error")
        expect(problem).to_contain_text("profiles.solar-main.rules[0].send_to")
        expect(page.locator("#sim-draft")).to_have_attribute("aria-invalid", "true")
        assert serious_violations(page) == []
        page.screenshot(path=str(artifacts / "simulator-draft-error.png"), full_page=True)

        page.locator("#back-draft").fill(good)
        page.locator("#back-since").fill("30d")
        page.get_by_role("button", name="Run the backtest").click()
        expect(page.locator("#back-sides")).to_be_visible()
        assert serious_violations(page) == []
        assert phone_overflow(page) == 0
        page.screenshot(path=str(artifacts / "simulator-backtest.png"), full_page=True)
    finally:
        page.close()
    assert console.external == []
