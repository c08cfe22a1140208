"""The console's simulator page over a real server (SQLite): a pasted lead matched by the configuration's
rule, then by a draft's; a stored lead by its id; a bad draft's problems listed with their configuration
paths next to the draft; bad input named next to its field (422); a post without the session's token
(403); a backtest of a draft; a partner refused (403 page). Nothing is stored by any of it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import yaml
from argon2 import PasswordHasher
from lxml import html

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Role
from leadrelay.services.ports import Tx
from leadrelay.services.users import Accounts
from tests.documents import alias_bomb
from tests.fakes import lead_row
from tests.support import ServerThread, base_config, lead, prepare

PASSWORD = "simulator page password"


def draft(rule: str = "pacific", partners: tuple[str, ...] = ("voltedge", "sunco")) -> str:
    return yaml.safe_dump(
        {
            "profiles": {
                "solar-main": {
                    "entity": "solar",
                    "rules": [
                        {
                            "name": rule,
                            "when": {"field": "state", "op": "in", "value": ["CA"]},
                            "send_to": {"partners": list(partners), "strategy": "priority"},
                        }
                    ],
                    "default": {"partners": ["brightpath"], "strategy": "priority"},
                }
            }
        }
    )


@pytest.fixture
def server(sqlite_url: str) -> Iterator[ServerThread]:
    prepare(sqlite_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    db = Database(sqlite_url)
    try:
        accounts = Accounts(SqlStorage(db), Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024)))
        accounts.create_user("viewer@example.com", Role.VIEWER, password=PASSWORD, actor="test")
        accounts.create_user("admin@example.com", Role.ADMIN, password=PASSWORD, actor="test")
        accounts.create_user(
            "buyer@example.com", Role.PARTNER, password=PASSWORD, actor="test", tenant="sunco"
        )

        def stored(tx: Tx) -> None:
            tx.leads.insert_leads([lead_row("lead_stored", now=datetime.now(UTC))])

        SqlStorage(db).transaction(stored)
    finally:
        db.dispose()
    with ServerThread(sqlite_url, workers=0) as s:
        yield s


def log_in(http: httpx.Client, email: str) -> str:
    """Log in; the session's CSRF token."""
    login = http.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token is not None
    data = {"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    assert http.post("/console/login", data=data).status_code == 303
    page = http.get("/console/simulator")
    assert page.status_code == 200
    secret = html.fromstring(page.text).xpath('//meta[@name="csrf-token"]/@content')
    return str(secret[0])


def simulate(http: httpx.Client, csrf: str, **fields: Any) -> tuple[int, html.HtmlElement]:
    answer = http.post("/console/simulator", data={"csrf_token": csrf, **fields})
    return answer.status_code, html.fromstring(answer.text)


def rules(doc: html.HtmlElement) -> list[str]:
    return [dd.text_content().strip() for dd in doc.xpath('//dd[@class="sim-rule"]')]


def verdicts(doc: html.HtmlElement) -> dict[str, str]:
    return {
        tr.get("data-partner"): tr.xpath('string(td[@class="verdict"])')
        for tr in doc.xpath('//table[@class="sim-partners"]/tbody/tr')
    }


def test_a_draft_changes_the_matched_rule_and_nothing_is_delivered(server: ServerThread) -> None:
    pasted = {"entity": "solar", "source": "web", "lead": json.dumps(lead())}  # a CA lead
    with server.client() as http:
        csrf = log_in(http, "admin@example.com")
        status, doc = simulate(http, csrf, **pasted)
        assert status == 200
        assert doc.xpath('string(//*[@id="sim-config"])') == "in force"
        assert rules(doc) == ["west-coast"]
        assert doc.xpath('string(//dd[@class="sim-order"])') == "sunco, brightpath"
        assert verdicts(doc)["voltedge"] == "not in the rule"
        assert "Nothing was delivered" in doc.text_content()

        status, doc = simulate(http, csrf, **pasted, draft=draft())
        assert status == 200
        assert doc.xpath('string(//*[@id="sim-config"])') == "draft"
        assert rules(doc) == ["pacific"]
        assert doc.xpath('string(//dd[@class="sim-order"])') == "voltedge, sunco"
        assert verdicts(doc)["brightpath"] == "not in the rule"
        # the form keeps what was pasted
        assert doc.xpath('string(//textarea[@id="sim-draft"])') == draft()

        linked = html.fromstring(http.get("/console/simulator", params={"lead_id": "lead_stored"}).text)
        assert linked.xpath('//input[@id="sim-lead-id"]/@value') == ["lead_stored"]  # a link from the log
        status, doc = simulate(http, csrf, lead_id="lead_stored")  # no state: the default
        assert status == 200 and rules(doc) == ["default"]

        back = http.post(
            "/console/simulator/backtest",
            data={"csrf_token": csrf, "draft": draft(), "since": "1d", "limit": "50"},
        )
        assert back.status_code == 200, back.text
        sides = html.fromstring(back.text).xpath('//table[@id="back-sides"]/tbody/tr/@data-side')
        assert sides == ["actual", "draft", "difference"]
    deliveries = Database(server.settings.database_url)
    try:
        count = deliveries.read(lambda c: c.exec_driver_sql("select count(*) from deliveries").scalar())
    finally:
        deliveries.dispose()
    assert count == 0


def test_bad_drafts_and_bad_input_are_shown_next_to_their_field(server: ServerThread) -> None:
    with server.client() as http:
        csrf = log_in(http, "admin@example.com")
        broken = yaml.safe_load(draft())
        broken["profiles"]["solar-main"]["rules"][0]["send_to"]["strategy"] = "lottery"
        status, doc = simulate(http, csrf, lead_id="lead_stored", draft=yaml.safe_dump(broken))
        assert status == 422
        problems = doc.xpath('//div[@id="sim-draft-error"]//li/text()')
        assert any(p.startswith("profiles.solar-main.rules[0].send_to") for p in problems), problems
        assert doc.xpath('//textarea[@id="sim-draft"]/@aria-describedby') == ["sim-draft-error"]

        status, doc = simulate(http, csrf, lead_id="lead_stored", draft="profiles: [1")
        assert status == 422 and "invalid YAML" in doc.xpath('string(//div[@id="sim-draft-error"])')
        status, doc = simulate(http, csrf, lead_id="lead_stored", draft=alias_bomb())  # billion laughs
        assert status == 422
        assert "expands to more than" in doc.xpath('string(//div[@id="sim-draft-error"])')

        status, doc = simulate(http, csrf, lead_id="lead_nope")
        assert status == 422 and "lead_nope" in doc.xpath('string(//div[@id="sim-lead-id-error"])')
        status, doc = simulate(http, csrf, lead_id="bad id!")
        assert status == 422 and doc.xpath('//div[@id="sim-lead-id-error"]')

        status, doc = simulate(http, csrf, entity="solar", source="web", lead="{not json")
        assert status == 422 and "not JSON" in doc.xpath('string(//div[@id="sim-lead-error"])')
        status, doc = simulate(http, csrf, entity="solar", source="web", lead=json.dumps(lead(phone="12")))
        assert status == 422 and "phone:" in doc.xpath('string(//div[@id="sim-lead-error"])')
        status, doc = simulate(http, csrf, lead=json.dumps(lead()))
        assert status == 422
        assert doc.xpath('//div[@id="sim-entity-error"]') and doc.xpath('//div[@id="sim-source-error"]')
        status, doc = simulate(http, csrf, entity="boats", source="web", lead=json.dumps(lead()))
        assert status == 422 and "boats" in doc.xpath('string(//div[@id="sim-entity-error"])')

        back = http.post(
            "/console/simulator/backtest",
            data={"csrf_token": csrf, "draft": "", "since": "soon", "limit": "0"},
        )
        assert back.status_code == 422
        doc = html.fromstring(back.text)
        for field in ("draft", "since", "limit"):
            assert doc.xpath(f'//div[@id="back-{field}-error"]'), field

        forged = http.post("/console/simulator", data={"csrf_token": "forged", "lead_id": "lead_stored"})
        assert forged.status_code == 403 and "The form expired" in forged.text
        assert http.post("/console/simulator", data={"lead_id": "lead_stored"}).status_code == 403


def test_a_viewer_simulates_under_the_configuration_in_force_but_may_not_post_a_draft(
    server: ServerThread,
) -> None:
    """A draft's rule conditions over a stored lead would tell a viewer its sealed values (an oracle): a
    draft and the backtest need the configure permission."""
    with server.client() as http:
        csrf = log_in(http, "viewer@example.com")
        page = html.fromstring(http.get("/console/simulator").text)
        assert page.xpath('//input[@id="sim-lead-id"]')
        assert not page.xpath('//textarea[@name="draft"]')  # neither the draft nor the backtest's form
        assert not page.xpath('//form[@action="/console/simulator/backtest"]')
        status, doc = simulate(http, csrf, lead_id="lead_stored")
        assert status == 200 and rules(doc) == ["default"]
        status, doc = simulate(http, csrf, lead_id="lead_stored", draft=draft())
        assert status == 403 and "configure" in doc.text_content()
        back = http.post(
            "/console/simulator/backtest",
            data={"csrf_token": csrf, "draft": draft(), "since": "1d", "limit": "50"},
        )
        assert back.status_code == 403


def test_a_partner_may_not_use_the_simulator(server: ServerThread) -> None:
    with server.client() as http:
        login = http.get("/console/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert token is not None
        data = {"email": "buyer@example.com", "password": PASSWORD, "csrf_token": token.group(1)}
        assert http.post("/console/login", data=data).status_code == 303
        page = http.get("/console/simulator")
        assert page.status_code == 403 and "Not for your role" in page.text
        assert http.post("/console/simulator", data={"lead_id": "lead_stored"}).status_code == 403
