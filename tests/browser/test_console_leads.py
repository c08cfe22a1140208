"""The lead pages in a real browser: log in, import a small CSV with one bad row and watch its progress,
download the rejects file, find the imported lead by its phone written another way and open its history
(then the erasure's confirm dialog, cancelled). A screenshot of each page."""

from __future__ import annotations

import csv
import io
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

PASSWORD = "browser leads password"
ROWS = (
    "first_name,last_name,email,phone,zip,state\n"
    "Ana,Lopez,ana@example.com,(512) 789-1111,78704,TX\n"
    "Bad,Row,bad@example.com,12,78704,TX\n"
)


@pytest.fixture
def console(sqlite_url: str) -> Iterator[ServerThread]:
    prepare(sqlite_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    db = Database(sqlite_url)
    fast = Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    Accounts(SqlStorage(db), fast).create_user("ada@example.com", Role.ADMIN, password=PASSWORD, actor="test")
    with ServerThread(sqlite_url, workers=0) as server:
        yield server
    db.dispose()


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def test_import_a_csv_download_its_rejects_then_find_the_lead_by_phone(
    console: ServerThread, page: Any, artifacts: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{console.url}/console/leads/import")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Import leads from a CSV file")).to_be_visible()

    page.get_by_label("Source").select_option("web")
    page.get_by_label("Entity").select_option("solar")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "leads.csv", "mimeType": "text/csv", "buffer": ROWS.encode()}]
    )
    shot(page, artifacts, "leads-import")
    page.get_by_role("button", name="Import").click()
    state = page.locator("#import-state")
    expect(state).to_have_text(re.compile(r"^done: 2 rows, 1 accepted, 1 rejected"))
    expect(page.locator("#upload-bar")).to_have_attribute("value", "100")
    expect(page.locator("#import-bar")).to_have_attribute("value", "100")
    shot(page, artifacts, "leads-import-done")

    with page.expect_download() as caught:
        page.get_by_role("link", name="Download the rejects file").click()
    saved = tmp_path / "rejects.csv"
    caught.value.save_as(saved)
    rejects = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert [(r["row"], r["first_name"]) for r in rejects] == [("3", "Bad")]
    assert rejects[0]["errors"].startswith("phone:")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Leads").click()
    page.get_by_label(re.compile("Lead id, email or phone")).fill("+1 512-789-1111")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="1 lead found by phone")).to_be_visible()
    shot(page, artifacts, "leads-search")

    page.locator("table.leads-table a").first.click()
    expect(page.get_by_role("heading", name=re.compile(r"^Lead lead_"))).to_be_visible()
    expect(page.get_by_role("cell", name="+15127891111", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Distributions")).to_be_visible()
    shot(page, artifacts, "leads-history")

    page.get_by_role("link", name="Erase personal data…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label(re.compile("Reason"))).to_be_focused()
    shot(page, artifacts, "leads-erase-dialog")
    dialog.get_by_role("link", name="Cancel").click()
    expect(dialog).to_be_hidden()

    page.set_viewport_size({"width": 375, "height": 800})  # a phone: nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, artifacts, "leads-history-phone")
