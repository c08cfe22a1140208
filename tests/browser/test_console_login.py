"""The console in a real browser: log in with the keyboard, see the dashboard, log out; accept an
invitation; five wrong passwords and the login answers "too many" (429). A screenshot of each page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Role
from leadrelay.services.users import Accounts
from tests.support import ServerThread, base_config, prepare

PASSWORD = "browser test password"


@pytest.fixture
def console(sqlite_url: str) -> Iterator[tuple[ServerThread, Accounts]]:
    """A server with an admin (ada@example.com) and the accounts to make more users with."""
    prepare(sqlite_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    db = Database(sqlite_url)
    fast = Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    accounts = Accounts(SqlStorage(db), fast)
    accounts.create_user("ada@example.com", Role.ADMIN, password=PASSWORD, actor="test", display_name="Ada")
    with ServerThread(sqlite_url, workers=0) as server:
        yield server, accounts
    db.dispose()


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def test_log_in_with_the_keyboard_see_the_dashboard_and_log_out(
    console: tuple[ServerThread, Accounts], page: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    server, _ = console
    page.goto(f"{server.url}/console")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    shot(page, artifacts, "login")

    # keyboard only: the email field has the focus, Tab reaches the password, Enter submits
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type("ada@example.com")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{server.url}/console")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Dashboard")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_text("Users")).to_be_visible()  # an admin's navigation
    expect(page.get_by_role("heading", name="Leads per hour")).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "lr_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # http here
    shot(page, artifacts, "dashboard")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{server.url}/console/login")
    page.goto(f"{server.url}/console")  # the session is over
    expect(page).to_have_url(re.compile(r"/console/login"))


def test_an_invited_partner_sets_a_password_then_sees_its_portal(
    console: tuple[ServerThread, Accounts], page: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    server, accounts = console
    _, token = accounts.invite(
        "pat@example.com", Role.PARTNER, actor="test", display_name="Pat", tenant="sunco"
    )
    page.goto(f"{server.url}/console/invite/{token}")
    expect(page.get_by_role("heading", name="Welcome, Pat")).to_be_visible()
    shot(page, artifacts, "invite")
    page.get_by_label("New password").fill("a new password")
    page.get_by_label("The same password again").fill("a different one")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("alert")).to_have_text("The two passwords differ.")
    page.get_by_label("New password").fill("a new password")
    page.get_by_label("The same password again").fill("a new password")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status")).to_have_text("Your password is set: log in with it.")

    page.get_by_label("Email").fill("pat@example.com")
    page.get_by_label("Password").fill("a new password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="sunco")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_text("Returns")).to_be_visible()
    expect(nav.get_by_text("Users")).to_have_count(0)  # a partner's navigation
    shot(page, artifacts, "partner-portal")
    page.goto(f"{server.url}/console/invite/{token}")  # used: refused
    expect(page.get_by_role("heading", name="This invitation cannot be used")).to_be_visible()


def test_five_wrong_passwords_then_the_login_is_rate_limited(
    console: tuple[ServerThread, Accounts], page: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    server, _ = console
    page.goto(f"{server.url}/console/login")
    statuses = []
    for _ in range(6):
        page.get_by_label("Email").fill("ada@example.com")
        page.get_by_label("Password").fill("not the password")
        with page.expect_response(f"{server.url}/console/login") as answer:
            page.get_by_role("button", name="Log in").click()
        statuses.append(answer.value.status)
    assert statuses == [401, 401, 401, 401, 401, 429]
    expect(page.get_by_role("alert")).to_have_text(
        "Too many failed logins. Wait a few minutes before trying again."
    )
    shot(page, artifacts, "login-rate-limited")
    page.get_by_label("Email").fill("ada@example.com")  # even the right password waits now
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Too many failed logins")
