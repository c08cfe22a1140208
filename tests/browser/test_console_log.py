"""The distribution log in a real browser: an admin logs in, a lead posted through the API appears in the
log without a reload, its drawer opens, a resend is confirmed in a dialog naming the partner, a cancel
with a reason; the audit page shows both, done by the user. Screenshots of the log, the drawer and the
audit page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Role
from leadrelay.services.users import Accounts
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ServerThread, base_config, lead, prepare, source_headers, wait_settled

PASSWORD = "browser log password"


@pytest.fixture
def console(sqlite_url: str) -> Iterator[ServerThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as buyers:
        prepare(sqlite_url, base_config(buyers.url))
        db = Database(sqlite_url)
        fast = Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        Accounts(SqlStorage(db), fast).create_user(
            "ada@example.com", Role.ADMIN, password=PASSWORD, actor="test", display_name="Ada"
        )
        with ServerThread(sqlite_url) as server:
            yield server
        db.dispose()


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def test_a_posted_lead_appears_live_then_resend_and_cancel_from_the_drawer(
    console: ServerThread, page: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    server = console
    page.goto(f"{server.url}/console/log")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Distribution log")).to_be_visible()
    expect(page.get_by_text("No distribution matches.")).to_be_visible()
    expect(page.get_by_role("button", name="Pause live updates")).to_be_visible()
    page.evaluate("window.__notReloaded = true")

    with httpx.Client(base_url=server.url, timeout=30) as api:
        r = api.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
        assert r.status_code == 200 and r.json()["partner"] == "sunco", r.text
    rows = page.locator("#log-rows tr")
    expect(rows).to_have_count(1, timeout=10_000)
    assert page.evaluate("window.__notReloaded") is True  # arrived without a reload
    expect(page.get_by_role("status").filter(has_text="1 new distribution")).to_be_visible()
    shot(page, artifacts, "log")

    job_path = rows.first.get_by_role("link").get_attribute("href")
    rows.first.get_by_role("link").click()
    drawer = page.get_by_role("dialog")
    expect(drawer.get_by_role("heading", name="Routing trace")).to_be_visible()
    expect(drawer.get_by_role("heading", name="Ledger entries")).to_be_visible()
    shot(page, artifacts, "log-drawer")

    # the three-dots menu, with the keyboard: open it, down to "Resend to partner"
    menu_button = drawer.get_by_role("button", name="Actions")
    menu_button.focus()
    page.keyboard.press("Enter")
    menu = drawer.get_by_role("menu", name="Actions")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("menuitem", name="Resend to partner")).to_be_focused()
    expect(menu.get_by_role("menuitem", name="Rerun distribution")).to_have_attribute("aria-disabled", "true")
    page.keyboard.press("Enter")
    confirm = page.get_by_role("dialog", name="Resend to sunco?")
    expect(confirm).to_be_visible()
    confirm.get_by_label("Reason").fill("the buyer lost it")
    shot(page, artifacts, "log-resend-confirm")
    confirm.get_by_role("button", name="Resend to sunco").click()
    expect(page.get_by_role("status").filter(has_text="Resent")).to_be_visible()

    # the cancel waits for the resend to finish (while it is on its way, the menu says so): done, the
    # log opened again, the sale's drawer offers it
    wait_settled(server.url)
    page.goto(f"{server.url}/console/log")
    page.locator(f'#log-rows a[href="{job_path}"]').click()
    page.get_by_role("button", name="Actions").click()
    page.get_by_role("menuitem", name="Cancel distribution").click()
    cancel = page.get_by_role("dialog", name=re.compile("Cancel the distribution to sunco"))
    cancel.get_by_label("Reason").fill("the consumer asked")
    cancel.get_by_role("button", name="Cancel distribution").click()
    expect(page.get_by_role("status").filter(has_text="Cancelled.")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    entries = page.locator("table.audit tbody tr")
    expect(entries.filter(has_text="distribution.cancel")).to_contain_text("the consumer asked")
    expect(entries.filter(has_text="distribution.resend")).to_contain_text("user:ada@example.com")
    expect(entries.filter(has_text="distribution.cancel")).to_contain_text("user:ada@example.com")
    shot(page, artifacts, "audit")

    page.set_viewport_size({"width": 375, "height": 800})  # a phone: the filters stack, the table scrolls
    page.goto(f"{server.url}/console/log?partner=sunco")
    expect(page.locator("#log-rows tr")).to_have_count(2)  # the sale and its resend
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, artifacts, "log-phone")
