"""The administration pages in a real browser: an admin uploads a suppression file and watches both
progress bars (upload, import) reach 100% with the result; invites a user (the link shown once); revokes
a source's key; sees the SMTP and alert settings. A screenshot of each page (and the lists at phone
width)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Role
from leadrelay.services import suppression
from leadrelay.services.suppression import create_list_tx
from leadrelay.services.users import Accounts
from tests.support import ServerThread, base_config, prepare

PASSWORD = "browser admin password"


@pytest.fixture
def console(sqlite_url: str) -> Iterator[ServerThread]:
    prepare(sqlite_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    db = Database(sqlite_url)
    fast = Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    accounts = Accounts(SqlStorage(db), fast)
    accounts.create_user("ada@example.com", Role.ADMIN, password=PASSWORD, actor="test", display_name="Ada")
    SqlStorage(db).transaction(lambda tx: create_list_tx(tx, "dnc-email", "email", "do not contact", "test"))
    db.dispose()
    with ServerThread(sqlite_url, workers=0) as server:
        server.app.state.runtime.accounts.passwords = fast
        yield server


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def test_upload_a_suppression_file_invite_a_user_and_revoke_a_key(
    console: ServerThread, page: Any, artifacts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect

    monkeypatch.setattr(suppression, "IMPORT_CHUNK", 500)  # several progress steps for 3,000 rows
    server = console
    page.goto(f"{server.url}/console/login")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    nav = page.get_by_role("navigation", name="Main")

    nav.get_by_role("link", name="Suppression lists").click()
    expect(page.get_by_role("heading", name="Suppression lists", level=1)).to_be_visible()
    bad = tmp_path / "image.csv"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    page.get_by_label("File", exact=True).set_input_files(str(bad))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-file-error")).to_contain_text("is not a text file")

    good = tmp_path / "optouts.csv"
    good.write_text(
        "email,name\n"
        + "".join(f"optout{i}@example.com,Person {i}\n" for i in range(3000))
        + "optout1@example.com,again\nnot-an-email,bad\n"
    )
    page.get_by_label("File", exact=True).set_input_files(str(good))
    page.get_by_label("Column").fill("email")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-bar")).to_have_js_property("value", 100)
    expect(page.locator("#import-bar")).to_have_js_property("value", 100)
    result = page.get_by_role("status").filter(has_text="Imported into dnc-email")
    expect(result.locator('[data-count="added"]')).to_have_text("3000")
    expect(result.locator('[data-count="duplicates"]')).to_have_text("1")
    expect(result.locator('[data-count="rejected"]')).to_have_text("1")
    expect(page.locator("#list-dnc-email td.num")).to_have_text("3,000")
    shot(page, artifacts, "admin-suppression")
    page.set_viewport_size({"width": 375, "height": 800})
    shot(page, artifacts, "admin-suppression-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    nav.get_by_role("link", name="Users").click()
    page.get_by_label("Email", exact=True).fill("sam@example.com")
    page.get_by_label("Role", exact=True).select_option("operator")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_role("heading", name="Invitation link for sam@example.com")).to_be_visible()
    link = page.get_by_role("textbox", name="Link").input_value()
    assert link.startswith(f"{server.url}/console/invite/")
    expect(page.get_by_role("row", name="sam@example.com")).to_contain_text("invited")
    shot(page, artifacts, "admin-users")

    nav.get_by_role("link", name="Keys").click()
    expect(page.get_by_role("heading", name="Keys and tokens")).to_be_visible()
    revoke = page.get_by_role("button", name="Revoke key").first
    label = revoke.get_attribute("aria-label")
    assert label is not None and label.endswith(" of web")
    revoke.click()
    expect(page.get_by_role("status")).to_contain_text("of source web is revoked")
    key_id = label.split()[2]
    expect(page.get_by_role("row").filter(has_text=key_id)).to_contain_text("revoked")
    shot(page, artifacts, "admin-keys")

    nav.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="SMTP in force")).to_be_visible()
    shot(page, artifacts, "admin-settings")
