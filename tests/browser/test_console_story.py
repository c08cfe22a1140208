"""The console's story end to end in a real Chromium against one real server (issue 12, point 10), with
simulated buyers on loopback: an admin logs in, creates the partner acme through the configuration form
(a filter made with the condition builder) and puts it first in the west-coast rule through the profile
form; a lead posted through the API arrives in the log without a reload and went to acme; its drawer
resends after a dialog naming acme, cancels with a reason, and the audit log shows both. The simulator
matches a draft's rule. A partner user (sunco) files a return from its portal; the hosted form
(``/f/web/solar``) is submitted and its lead shows in the log; a viewer's drawer has no action button and
the API refuses the viewer's session the action (403, its CSRF token sent). A screenshot of every page
visited goes to the artifacts folder (``story-*.png``).

One server, one browser context per user (each refusing any request that leaves 127.0.0.1), argon2 at
its cheapest."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from argon2 import PasswordHasher

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Role
from leadrelay.services.users import Accounts
from leadrelay.simulate.buyers import BuyersThread
from tests.browser.test_accessibility import _guard
from tests.integration.test_returns import POLICY
from tests.support import ServerThread, base_config, lead, prepare, source_headers, wait_settled

pytestmark = pytest.mark.sqlite_only

PASSWORD = "browser story password"
CONSENT = "I agree to be contacted about solar offers at the number I gave."
USERS = {  # who: (role, tenant)
    "ada": (Role.ADMIN, None),
    "sunco": (Role.PARTNER, "sunco"),
    "vic": (Role.VIEWER, None),
}


@pytest.fixture
def story(sqlite_url: str) -> Iterator[tuple[ServerThread, BuyersThread]]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as buyers:
        config = base_config(buyers.url, sunco={"returns": POLICY})
        config["sources"]["web"]["form"] = {"consent_text": CONSENT, "wait": "10s"}
        prepare(sqlite_url, config)
        db = Database(sqlite_url)
        try:
            fast = Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
            accounts = Accounts(SqlStorage(db), fast)
            for name, (role, tenant) in USERS.items():
                accounts.create_user(f"{name}@example.com", role, password=PASSWORD, actor="t", tenant=tenant)
        finally:
            db.dispose()
        with ServerThread(sqlite_url) as server:
            yield server, buyers


class Shots:
    def __init__(self, artifacts: Path) -> None:
        self.artifacts = artifacts

    def __call__(self, page: Any, name: str, *, full: bool = True) -> None:
        page.screenshot(path=str(self.artifacts / f"story-{name}.png"), full_page=full)


def user_page(browser: Any, external: list[str]) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    _guard(context, external)
    return context.new_page()


def log_in(page: Any, url: str, who: str, then: str = "/console") -> None:
    page.goto(f"{url}/console/login?next={then}")
    page.get_by_label("Email").fill(f"{who}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{url}{then}")


def test_the_console_story(story: tuple[ServerThread, BuyersThread], browser: Any, artifacts: Path) -> None:
    from playwright.sync_api import expect

    server, buyers = story
    shot = Shots(artifacts)
    external: list[str] = []
    admin = user_page(browser, external)
    api = httpx.Client(base_url=server.url, timeout=30)
    try:
        # -- the admin logs in and sees the dashboard
        log_in(admin, server.url, "ada")
        expect(admin.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
        shot(admin, "dashboard")

        # -- a new partner through the configuration form, with a filter from the condition builder
        admin.goto(f"{server.url}/console/config")
        expect(admin.get_by_role("heading", name="Configuration", exact=True)).to_be_visible()
        shot(admin, "config-list")
        admin.get_by_role("link", name="New partner").click()
        admin.locator("#f-name").fill("acme")
        admin.locator("#f-timezone").fill("America/Chicago")
        admin.locator("#f-channel-webhook-url").fill(buyers.url("acme"))
        admin.locator("#f-price").fill("30")
        admin.get_by_role("button", name="+ Add a condition").click()
        admin.get_by_label("Field", exact=True).fill("monthly_bill")
        admin.get_by_label("Operator").select_option("gte")
        admin.get_by_label("Value", exact=True).fill("100")
        shot(admin, "config-partner-form")
        admin.get_by_role("button", name="Preview the change").click()
        expect(admin.locator("pre.diff")).to_contain_text("acme:")
        shot(admin, "config-diff")
        admin.get_by_role("button", name="Save").click()
        expect(admin.get_by_role("status")).to_have_text("Saved: partner acme created.")
        shot(admin, "config-saved")

        # -- acme first in the west-coast rule, through the profile's form
        admin.goto(f"{server.url}/console/config/profiles/solar-main")
        admin.locator("#rules-0-partners").fill("acme, sunco, brightpath")
        shot(admin, "config-profile-form")
        admin.get_by_role("button", name="Preview the change").click()
        expect(admin.locator("pre.diff ins").filter(has_text="acme")).not_to_have_count(0)
        shot(admin, "config-profile-diff")
        admin.get_by_role("button", name="Save").click()
        expect(admin.get_by_role("status")).to_contain_text("Saved")

        # -- a lead through the API arrives in the log without a reload
        admin.goto(f"{server.url}/console/log")
        expect(admin.get_by_text("No distribution matches.")).to_be_visible()
        admin.evaluate("window.__notReloaded = true")
        r = api.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
        assert r.status_code == 200 and r.json()["partner"] == "acme", r.text
        rows = admin.locator("#log-rows tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("acme")
        assert admin.evaluate("window.__notReloaded") is True
        shot(admin, "log")

        # -- its drawer: resend (the dialog names acme), then cancel with a reason
        job_path = rows.first.get_by_role("link").get_attribute("href")  # the drawer's own page
        assert job_path is not None and job_path.startswith("/console/log/"), job_path
        rows.first.get_by_role("link").click()
        drawer = admin.get_by_role("dialog")
        expect(drawer.get_by_role("heading", name="Routing trace")).to_be_visible()
        shot(admin, "log-drawer", full=False)
        drawer.get_by_role("button", name="Actions").click()
        drawer.get_by_role("menuitem", name="Resend to partner").click()
        confirm = admin.get_by_role("dialog", name="Resend to acme?")
        confirm.get_by_label("Reason").fill("the buyer lost it")
        shot(admin, "log-resend-confirm", full=False)
        confirm.get_by_role("button", name="Resend to acme").click()
        expect(admin.get_by_role("status").filter(has_text="Resent")).to_be_visible()
        wait_settled(server.url)  # a sale is cancelled once its resend has finished
        admin.goto(f"{server.url}/console/log")
        admin.locator(f'#log-rows a[href="{job_path}"]').click()
        admin.get_by_role("button", name="Actions").click()
        admin.get_by_role("menuitem", name="Cancel distribution").click()
        cancel = admin.get_by_role("dialog", name=re.compile("Cancel the distribution to acme"))
        cancel.get_by_label("Reason").fill("the consumer asked")
        shot(admin, "log-cancel-confirm", full=False)
        cancel.get_by_role("button", name="Cancel distribution").click()
        expect(admin.get_by_role("status").filter(has_text="Cancelled.")).to_be_visible()

        admin.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
        entries = admin.locator("table.audit tbody tr")
        expect(entries.filter(has_text="distribution.cancel")).to_contain_text("the consumer asked")
        expect(entries.filter(has_text="distribution.resend")).to_contain_text("user:ada@example.com")
        expect(entries.filter(has_text="config.created").filter(has_text="acme")).to_contain_text(
            "user:ada@example.com"
        )  # the form's change too
        shot(admin, "audit")

        # -- the simulator: a draft whose rule sends CA to voltedge matches that rule
        draft = {
            "profiles": {
                "solar-main": {
                    "entity": "solar",
                    "rules": [
                        {
                            "name": "draft-pacific",
                            "when": {"field": "state", "op": "in", "value": ["CA"]},
                            "send_to": {"partners": ["voltedge"], "strategy": "priority"},
                        }
                    ],
                    "default": {"partners": ["brightpath"], "strategy": "priority"},
                }
            }
        }
        admin.goto(f"{server.url}/console/simulator")
        admin.get_by_label("Entity").select_option("solar")
        admin.get_by_label("Source").select_option("web")
        admin.get_by_label("The lead").fill(json.dumps(lead()))
        admin.locator("#sim-draft").fill(yaml.safe_dump(draft))
        admin.get_by_role("button", name="Simulate").click()
        expect(admin.locator("#sim-config")).to_have_text("draft")
        expect(admin.locator("dd.sim-rule")).to_have_text("draft-pacific")
        expect(admin.locator("tr[data-partner=acme] td.verdict")).to_have_text("not in the rule")
        shot(admin, "simulator")

        # -- a lead acme's filter skips is sold to sunco, whose user returns it from the portal
        r = api.post("/v1/leads?wait=10", json=lead(monthly_bill=50), headers=source_headers())
        assert r.status_code == 200 and r.json()["partner"] == "sunco", r.text
        sold = r.json()["lead_id"]
        partner = user_page(browser, external)
        log_in(partner, server.url, "sunco")
        shot(partner, "partner-home")
        partner.get_by_role("navigation", name="Main").get_by_role("link", name="Leads").click()
        expect(partner.get_by_role("heading", name="Your leads")).to_be_visible()
        shot(partner, "partner-leads")
        partner.get_by_role("link", name=sold).click()
        expect(partner.get_by_role("heading", name=f"Lead {sold}")).to_be_visible()
        shot(partner, "partner-lead")
        partner.get_by_label("Reason").select_option("duplicate")
        partner.get_by_label("Note").fill("the same person as last week")
        partner.get_by_role("button", name="File the return").click()
        expect(partner.get_by_role("heading", name="Your returns")).to_be_visible()
        expect(partner.get_by_role("status")).to_contain_text("filed")
        expect(partner.get_by_role("cell", name="duplicate")).to_be_visible()
        shot(partner, "partner-returns")
        partner.context.close()

        # -- the hosted form, as a visitor with no session; its lead shows in the log
        visitor = user_page(browser, external)
        visitor.goto(f"{server.url}/f/web/solar")
        visitor.get_by_label("First name").fill("Grace")
        visitor.get_by_label("Phone").fill("(415) 555-0134")
        visitor.get_by_label("Zip").fill("94107")
        visitor.get_by_label("State").select_option("CA")
        visitor.get_by_label("Monthly bill").fill("210")
        visitor.get_by_label(CONSENT).check()
        shot(visitor, "hosted-form")
        visitor.get_by_role("button", name="Send").click()
        expect(visitor.get_by_role("heading", name="Thank you")).to_be_visible()
        shot(visitor, "hosted-form-thanks")
        visitor.context.close()
        admin.goto(f"{server.url}/console/log")
        expect(admin.locator("#log-rows tr")).to_have_count(4)  # the sale, its resend, sunco's, the form's
        expect(admin.locator("#log-rows tr").first).to_contain_text("acme")  # 210 passes acme's filter
        shot(admin, "log-after-form")

        # -- a viewer: the drawer without any action, and the API refuses the action to its session
        viewer = user_page(browser, external)
        log_in(viewer, server.url, "vic")
        shot(viewer, "viewer-dashboard")
        viewer.goto(f"{server.url}{job_path}")
        expect(viewer.get_by_role("heading", name="Routing trace")).to_be_visible()
        expect(viewer.get_by_role("button", name="Actions")).to_have_count(0)
        expect(viewer.get_by_role("menuitem")).to_have_count(0)
        shot(viewer, "viewer-drawer")
        job_id = job_path.rsplit("/", 1)[1]
        status = viewer.evaluate(
            """async (id) => {
                const token = document.querySelector('meta[name="csrf-token"]').content;
                const r = await fetch(`/v1/distributions/${id}/resend`, {
                    method: 'POST', headers: {'X-CSRF-Token': token, 'Content-Type': 'application/json'},
                    body: JSON.stringify({reason: 'a viewer tries'})});
                return r.status;
            }""",
            job_id,
        )
        assert status == 403
        viewer.context.close()
    finally:
        api.close()
        admin.context.close()
    assert external == [], f"requests outside 127.0.0.1: {external}"
