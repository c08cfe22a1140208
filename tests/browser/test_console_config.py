"""The configuration pages in a real browser: an admin creates a partner through the form (a webhook to a
simulated buyer, a cap, a filter made with the condition builder), sees the YAML diff, saves it, then
sends it a test delivery and a test ping. Screenshots: the configuration list, the partner form, the diff,
the test result."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from leadrelay.adapters.db import config_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Role
from leadrelay.services.users import Accounts
from leadrelay.simulate.bidding import BiddingOptions
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ServerThread, base_config, prepare

PASSWORD = "browser config password"
KEY = "a-test-secret-of-enough-length-0013"


@pytest.fixture
def console(sqlite_url: str) -> Iterator[tuple[ServerThread, BuyersThread, str]]:
    prepare(sqlite_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    db = Database(sqlite_url)
    fast = Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    Accounts(SqlStorage(db), fast).create_user(
        "ada@example.com", Role.ADMIN, password=PASSWORD, actor="test", display_name="Ada"
    )
    db.dispose()
    with (
        BuyersThread(count=0, bidding=BiddingOptions(bid_min=9.0, bid_max=9.0)) as buyers,
        ServerThread(sqlite_url, workers=1, secret_key=KEY) as server,
    ):
        yield server, buyers, sqlite_url


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def test_an_admin_creates_a_partner_sees_the_diff_saves_and_tests_it(
    console: tuple[ServerThread, BuyersThread, str], page: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    server, buyers, url = console
    page.goto(f"{server.url}/console/login?next=/console/config")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Configuration", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="sunco")).to_be_visible()
    shot(page, artifacts, "config-list")

    page.get_by_role("link", name="New partner").click()
    expect(page.get_by_role("heading", name="New partner")).to_be_visible()
    page.locator("#f-name").fill("acme")
    page.locator("#f-timezone").fill("America/Chicago")
    page.locator("#f-channel-webhook-url").fill(buyers.url("acme"))
    page.locator("#f-channel-webhook-method").select_option("POST")
    page.locator("#f-channel-webhook-timeout").fill("3s")
    page.locator("#f-channel-webhook-auth-bearer-token").fill("acme-bearer-secret")
    page.locator("#f-ping-url").fill(buyers.ping_url("acme"))
    page.locator("#f-caps-day").fill("50")
    page.locator("#f-price").fill("12.5")
    # the filter, with the condition builder: any of (monthly_bill ≥ 100, state in CA, OR)
    page.get_by_role("button", name="+ Add a condition").click()
    page.get_by_label("Condition").select_option("any")
    page.get_by_label("Field", exact=True).fill("monthly_bill")
    page.get_by_label("Operator").select_option("gte")
    page.get_by_label("Value", exact=True).fill("100")
    page.get_by_role("button", name="+ Add a condition").click()
    page.get_by_label("Field", exact=True).nth(1).fill("state")
    page.get_by_label("Operator").nth(1).select_option("in")
    page.get_by_label("Value", exact=True).nth(1).fill("CA, OR")
    expect(page.locator("#f-filters")).to_be_hidden()  # the builder writes into it
    shot(page, artifacts, "config-partner-form")

    page.get_by_role("button", name="Preview the change").click()
    expect(page.get_by_role("heading", name="Review the change to the partner acme")).to_be_visible()
    diff = page.locator("pre.diff")
    expect(diff.locator("ins", has_text="acme:")).to_have_count(1)
    expect(diff).to_contain_text("caps: {day: 50}")
    expect(diff).to_contain_text("token: '***'")
    expect(diff).not_to_contain_text("acme-bearer-secret")
    shot(page, artifacts, "config-diff")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved: partner acme created.")

    db = Database(url)
    try:
        acme = db.read(config_store.load_objects)["partners"]["acme"]
    finally:
        db.dispose()
    assert acme["caps"] == {"day": 50}
    assert acme["filters"] == {
        "any": [
            {"field": "monthly_bill", "op": "gte", "value": 100, "case_sensitive": False},
            {"field": "state", "op": "in", "value": ["CA", "OR"], "case_sensitive": False},
        ]
    }
    assert acme["channel"]["webhook"]["auth"]["bearer"]["token"].startswith("lr1:")  # sealed

    page.get_by_role("link", name="acme", exact=True).click()
    token_state = page.locator("#f-channel-webhook-auth-bearer-token-state")
    expect(token_state).to_have_text("set — leave blank to keep")
    page.get_by_role("button", name="Test delivery").click()
    expect(page.get_by_role("heading", name="Test delivery to acme")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Outcome: delivered")
    expect(page.locator("pre.shown").first).to_contain_text(buyers.url("acme"))
    expect(page.locator("body")).not_to_contain_text("acme-bearer-secret")
    shot(page, artifacts, "config-test-delivery")

    page.get_by_role("link", name=re.compile("Back to the partner acme")).click()
    page.get_by_role("button", name="Test ping").click()
    expect(page.get_by_role("status")).to_contain_text("bid: accepted at 9")
    shot(page, artifacts, "config-test-ping")

    page.goto(f"{server.url}/console/config/profiles/solar-main")  # a rule's condition in the builder
    expect(page.get_by_label("Operator").first).to_have_value("in")
    shot(page, artifacts, "config-profile-form")
    page.set_viewport_size({"width": 375, "height": 800})  # a phone
    page.goto(f"{server.url}/console/config")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1
    shot(page, artifacts, "config-list-phone")
