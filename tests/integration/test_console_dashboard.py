"""The console's dashboard page over a real server (SQLite): the figures of a seeded day
(``tests/dashboard_seed.py``, the page's clock fixed at its ``NOW``) in the page and in the fragment the
page refreshes itself with, the window selector's bad values named next to their field (422), a portal's
welcome for a partner, and a 403 page for the fragment to a partner."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from argon2 import PasswordHasher
from lxml import html

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Role
from leadrelay.entrypoints.web import dashboard as page
from leadrelay.services.users import Accounts
from tests import dashboard_seed as seeded
from tests.support import ServerThread

PASSWORD = "dashboard page password"


def log_in(http: httpx.Client, email: str) -> None:
    login = http.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token is not None
    data = {"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    assert http.post("/console/login", data=data).status_code == 303


@pytest.fixture
def server(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerThread]:
    db = Database(sqlite_url)
    try:
        seeded.seed(SqlStorage(db))
        accounts = Accounts(SqlStorage(db), Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024)))
        accounts.create_user("viewer@example.com", Role.VIEWER, password=PASSWORD, actor="test")
        accounts.create_user(
            "buyer@example.com", Role.PARTNER, password=PASSWORD, actor="test", tenant="sunco"
        )
    finally:
        db.dispose()
    monkeypatch.setattr(page, "clock", lambda: seeded.NOW)
    with ServerThread(sqlite_url, workers=0) as s:
        yield s


def cells(doc: html.HtmlElement, table: str) -> dict[str, list[str]]:
    """A table's rows by their header cell: the other cells' text."""
    return {
        row.xpath("string(th)").strip(): [td.text_content().strip() for td in row.xpath("td")]
        for row in doc.xpath(f'//table[@id="{table}"]/tbody/tr[th]')
    }


def test_the_dashboard_shows_the_seeded_day(server: ServerThread) -> None:
    with server.client() as http:
        log_in(http, "viewer@example.com")
        answer = http.get("/console")
        assert answer.status_code == 200, answer.text
        doc = html.fromstring(answer.text)
        assert doc.xpath('string(//nav//a[@aria-current="page"])') == "Dashboard"
        assert doc.xpath('//script[@src="/console/static/dashboard.js"]')
        assert doc.xpath('string(//dd[@id="total-received"])') == "6"  # the test lead left out
        assert doc.xpath('string(//dd[@id="total-accepted"])') == "3"
        assert doc.xpath('string(//dd[@id="total-sold"])') == "2"
        assert doc.xpath('string(//dd[@id="total-revenue"])') == "30.00 USD"
        partners = cells(doc, "partners")
        assert partners == {
            "brightpath": ["1", "0", "0.0 %", "0.00 USD", "1", "625 ms", "738 ms"],
            "sunco": ["2", "2", "100.0 %", "30.00 USD", "2", "100 ms", "190 ms"],
            "voltedge": ["1", "0", "0.0 %", "0.00 USD", "1", "25 ms", "48 ms"],
        }
        for name, figures in seeded.SOURCES.items():
            row = cells(doc, "sources")[name]
            assert row[:3] == [str(figures["received"]), str(figures["accepted"]), str(figures["sold"])]
            assert row[3] == f"{figures['revenue']} USD"
        # the charts: leads per hour (14:00 and 15:00 UTC), sales per partner, cap usage with pacing
        leads = doc.xpath('//svg[@id="leads-per-hour"]')[0]
        stacks = {g.get("data-label") for g in leads.xpath('.//g[@class="stack"]')}
        assert {"14:00: 3", "15:00: 3"} <= stacks
        assert "sunco: 2" in doc.xpath('//svg[@id="sales-per-partner"]//g[@class="row"]/@data-label')
        caps = doc.xpath('//svg[@id="cap-usage"]//g[@class="row"]/@data-label')
        assert caps == ["brightpath · day: 7/100", "sunco · day: 3/10"]
        assert doc.xpath('//svg[@id="cap-usage"]//line[@class="pacing-marker"]/@data-value') == ["26"]
        queue = [dd.text_content().strip() for dd in doc.xpath('//dl[@id="queue"]/dd')]
        assert queue[:4] == ["1", "1", "1", "0"] and queue[4].startswith("1 min 30 s")
        assert cells(doc, "breakers")["brightpath"][:1] == ["open"]
        alerts = [li.text_content() for li in doc.xpath('//ul[@id="alerts"]/li')]
        assert len(alerts) == 2 and "resolved" in alerts[0] and "brightpath <timeouts>" in alerts[0]

        # another zone and window, and the fragment the page refreshes itself with
        ny = http.get("/console", params={"hours": "2", "zone": "America/New_York"})
        labels = html.fromstring(ny.text).xpath('//svg[@id="leads-per-hour"]//g[@class="stack"]/@data-label')
        assert labels == ["09:00: 3", "10:00: 3"]
        board_src = html.fromstring(ny.text).xpath('//div[@id="dash-board"]/@data-src')
        assert board_src == ["/console/dashboard/board?hours=2&zone=America/New_York"]
        fragment = http.get(board_src[0])
        assert fragment.status_code == 200 and "<html" not in fragment.text
        assert html.fromstring(fragment.text).xpath('string(//dd[@id="total-received"])') == "6"


def test_bad_window_values_are_named_next_to_their_field(server: ServerThread) -> None:
    with server.client() as http:
        log_in(http, "viewer@example.com")
        bad = http.get("/console", params={"hours": "9999", "zone": "Mars/Olympus"})
        assert bad.status_code == 422
        doc = html.fromstring(bad.text)
        assert "from 1 to 168" in doc.xpath('string(//*[@id="dash-hours-error"])')
        assert "not a known time zone" in doc.xpath('string(//*[@id="dash-zone-error"])')
        assert doc.xpath('//input[@id="dash-zone"]/@aria-describedby') == ["dash-zone-error"]
        assert not doc.xpath('//div[@id="dash-board"]')
        assert http.get("/console/dashboard/board", params={"hours": "x"}).status_code == 422


def test_a_partner_gets_its_portal_welcome_and_not_the_board(server: ServerThread) -> None:
    with server.client() as http:
        log_in(http, "buyer@example.com")
        home = http.get("/console")
        assert home.status_code == 200 and "Your portal" in home.text
        assert 'id="dash-board"' not in home.text
        refused = http.get("/console/dashboard/board")
        assert refused.status_code == 403 and "Not for your role" in refused.text
        http.cookies.clear()
        assert http.get("/console").status_code == 303  # no session: the login
