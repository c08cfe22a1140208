"""The portals in a real browser: a partner logs in, sees the lead it bought, files a return and downloads
its invoice's PDF; a source logs in and opens its posting specification. A screenshot of each portal page
(and of the specification at a phone's width)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_console_portals import Portal, issue, portal
from tests.integration.test_returns import sell
from tests.integration.test_route_access import PASSWORD

__all__ = ["portal"]  # the fixture: a server, a buyer, partners' and sources' users

pytestmark = pytest.mark.sqlite_only


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"portal-{name}.png"), full_page=True)


def log_in(page: Any, url: str, email: str) -> None:
    page.goto(f"{url}/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_a_partner_returns_its_lead_and_downloads_its_invoice_a_source_reads_its_spec(
    portal: Portal, page: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    server, http = portal
    sold = sell(http)
    invoice_id = issue(http, "partner", "sunco", "America/Los_Angeles")

    log_in(page, server.url, "sunco@example.com")
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Leads").click()
    expect(page.get_by_role("heading", name="Your leads")).to_be_visible()
    shot(page, artifacts, "partner-leads")
    page.get_by_role("link", name=sold["lead_id"]).click()
    expect(page.get_by_role("heading", name=f"Lead {sold['lead_id']}")).to_be_visible()
    expect(page.locator("pre.body")).to_contain_text('"last_name": "Lovelace"')  # as delivered
    shot(page, artifacts, "partner-lead")

    page.get_by_role("button", name="File the return").click()  # no reason yet: refused next to it
    expect(page.locator("#reason-error")).to_have_text("choose a reason")
    page.get_by_label("Reason").select_option("duplicate")
    page.get_by_label("Note").fill("the same person as last week")
    page.get_by_role("button", name="File the return").click()
    expect(page.get_by_role("heading", name="Your returns")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("filed")
    expect(page.get_by_role("cell", name="duplicate")).to_be_visible()
    shot(page, artifacts, "partner-returns")

    nav.get_by_role("link", name="Invoices").click()
    shot(page, artifacts, "partner-invoices")
    with page.expect_download() as got:
        page.get_by_role("link", name="PDF").click()
    download = got.value
    assert download.suggested_filename.endswith(".pdf")
    assert Path(download.path()).read_bytes().startswith(b"%PDF")
    assert invoice_id

    nav.get_by_role("link", name="Availability").click()
    page.get_by_label("Off: skip me").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="You are off")).to_be_visible()
    shot(page, artifacts, "partner-availability")
    nav.get_by_role("link", name="Postbacks").click()
    expect(page.get_by_role("heading", name="Postback instructions")).to_be_visible()
    shot(page, artifacts, "partner-postbacks")
    page.get_by_role("button", name="Log out").click()

    log_in(page, server.url, "web@example.com")
    nav.get_by_role("link", name="Submissions").click()
    expect(page.get_by_role("link", name=sold["lead_id"])).to_be_visible()
    shot(page, artifacts, "source-submissions")
    nav.get_by_role("link", name="Payouts").click()
    shot(page, artifacts, "source-payouts")
    nav.get_by_role("link", name="API keys").click()
    shot(page, artifacts, "source-keys")
    nav.get_by_role("link", name="Posting specification").click()
    expect(page.get_by_role("heading", name="Entity solar")).to_be_visible()
    table = page.get_by_role("table", name="Fields of solar")
    for field in ("first_name", "last_name", "email", "phone", "zip", "state", "monthly_bill"):
        expect(table.get_by_role("cell", name=field, exact=True).first).to_be_visible()
    expect(page.locator("pre.curl")).to_contain_text("Authorization: Bearer YOUR_API_KEY")
    shot(page, artifacts, "source-spec")
    page.set_viewport_size({"width": 375, "height": 800})
    shot(page, artifacts, "source-spec-phone")
